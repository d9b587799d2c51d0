"""What a user reads when the input is wrong: near misses named ("did you mean"), an indentation
slip called one, hosts missing from hostvars said plainly, and task indexes that count the
tasks as written. Each message is checked against the loader and resolver themselves."""

from __future__ import annotations

import pytest

from nsprov.controller.inventory_files import load_inventory
from nsprov.controller.playbook import load_playbook_lenient
from nsprov.controller.resolve import resolve
from nsprov.controller.yamlsrc import InputError
from nsprov.model.errors import did_you_mean


@pytest.fixture
def inv(tmp_path):
    path = tmp_path / "inv.ini"
    path.write_text("[lab]\nlab1 ansible_host=127.0.0.1\nlab2 ansible_host=127.0.0.2\n")
    return load_inventory([str(path)])


def problems_of(tmp_path, inv, text: str) -> list:
    """Every problem the loader and the resolver find, as `LINE FIELD: MESSAGE` strings."""
    path = tmp_path / "book.yml"
    path.write_text(text)
    found: list = []
    try:
        book, found = load_playbook_lenient(str(path))
        resolve(book, inv)
    except InputError as exc:
        found = found + exc.problems
    return [f"{p.line} {p.field}: {p.message}" for p in found]


def one(problems: list, needle: str) -> str:
    hits = [p for p in problems if needle in p]
    assert len(hits) == 1, (needle, problems)
    return hits[0]


@pytest.mark.parametrize("word,options,expected", [
    ("netnss", ["netns", "veth", "bridge"], "netns"),
    ("brige", ["netns", "veth", "bridge"], "bridge"),
    ("peer_ns", ["peer", "peer_netns", "netns"], "peer_netns"),
    ("inventroy_hostname", ["inventory_hostname", "groups"], "inventory_hostname"),
])
def test_near_misses_find_their_word(word, options, expected):
    assert did_you_mean(word, options) == f" (did you mean {expected}?)"


@pytest.mark.parametrize("word", ["ip", "bogus", "", None, 3])
def test_what_is_no_near_miss_gets_no_guess(word):
    assert did_you_mean(word, ["netns", "veth", "bridge", "namespace"]) == ""


def test_a_misspelt_module_is_named_with_its_likely_meaning(tmp_path, inv):
    found = problems_of(tmp_path, inv, "- hosts: lab\n  tasks:\n    - netnss: {name: a}\n")
    assert "did you mean netns?" in one(found, "tasks[0].netnss: unknown module")


def test_a_misspelt_parameter_is_named_with_its_likely_meaning(tmp_path, inv):
    found = problems_of(tmp_path, inv, "- hosts: lab\n  tasks:\n    - veth: {name: a, peer: b, peer_ns: red}\n")
    assert "did you mean peer_netns?" in one(found, "tasks[0].veth.peer_ns: unknown parameter for veth")


def test_a_misspelt_play_keyword_is_named_with_its_likely_meaning(tmp_path, inv):
    found = problems_of(tmp_path, inv, "- hosts: lab\n  taks: []\n")
    assert "did you mean tasks?" in one(found, "play[0].taks: unknown play keyword")


def test_a_misspelt_variable_is_named_with_its_likely_meaning(tmp_path, inv):
    found = problems_of(tmp_path, inv, "- hosts: lab\n  vars: {uplink: u0}\n  tasks:\n"
                                       "    - netns: {name: '{{ uplnk }}'}\n")
    assert "did you mean uplink?" in one(found, "'uplnk' is undefined")


def test_a_parameter_at_task_level_after_a_name_is_an_indentation_slip(tmp_path, inv):
    """`name: x` / `netns:` / `name: red` is a duplicate key to YAML; the user meant `name: red`
    under `netns:`."""
    found = problems_of(tmp_path, inv, "- hosts: lab\n  tasks:\n    - name: make red\n      netns:\n"
                                       "      name: red\n")
    msg = one(found, "duplicate key 'name'")
    assert msg.startswith("5 ") and "indent it under `netns:`" in msg


def test_a_lone_parameter_at_task_level_is_an_indentation_slip(tmp_path, inv):
    found = problems_of(tmp_path, inv, "- hosts: lab\n  tasks:\n    - netns:\n      name: red\n")
    assert found == ["3 play[0].tasks[0].netns: has no parameters; name is a parameter of netns, at task level "
                     "here: indent it under `netns:`"]


def test_an_unknown_key_that_is_the_module_parameter_is_an_indentation_slip(tmp_path, inv):
    found = problems_of(tmp_path, inv, "- hosts: lab\n  tasks:\n    - bridge:\n      stp: true\n")
    assert len(found) == 1 and "stp is a parameter of bridge, at task level here: indent it under `bridge:`" in found[0]


def test_a_duplicate_key_that_is_no_slip_gets_no_hint(tmp_path, inv):
    found = problems_of(tmp_path, inv, "- hosts: lab\n  tasks:\n    - netns: {name: a}\n      tags: x\n      tags: y\n")
    assert found == ["5 : invalid YAML: duplicate key 'tags'"]


def test_a_host_missing_from_hostvars_is_said_plainly(tmp_path, inv):
    found = problems_of(tmp_path, inv, "- hosts: lab1\n  tasks:\n"
                                       "    - netns: {name: \"{{ hostvars['lab3'].inventory_hostname }}\"}\n")
    msg = one(found, "hostvars")
    assert "host 'lab3' is not in the inventory" in msg and "LazyHostvars" not in msg and "object" not in msg


def test_hostvars_of_a_near_miss_names_the_host_meant(tmp_path, inv):
    found = problems_of(tmp_path, inv, "- hosts: lab1\n  tasks:\n"
                                       "    - netns: {name: \"{{ hostvars['lab_1'].inventory_hostname }}\"}\n")
    assert "did you mean lab1?" in one(found, "not in the inventory")


def test_task_indexes_count_the_tasks_as_written_after_an_unknown_module(tmp_path, inv):
    """The task after a dropped one is still tasks[2], not tasks[1]."""
    found = problems_of(tmp_path, inv, "- hosts: lab\n  tasks:\n    - netns: {name: a}\n    - bogus: {}\n"
                                       "    - netns: {name: b, colour: red}\n")
    assert one(found, "colour").startswith("5 play[0].tasks[2].netns.colour:")
    assert one(found, "bogus").startswith("4 play[0].tasks[1].bogus:")
