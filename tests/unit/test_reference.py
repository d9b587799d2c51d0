"""`nsprov doc` and `nsprov schema` say what the loader holds to: every playbook in the
repository is valid under the schema, every module's and parameter's example passes both the
schema and the loader, and a set of bad playbooks the loader refuses the schema refuses too.
The committed schema (schema/playbook.json) is what `nsprov schema` writes today."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from nsprov.cli import cli
from nsprov.controller.playbook import PLAY_KEYWORDS, TASK_KEYWORDS, load_playbook
from nsprov.controller.reference import playbook_schema
from nsprov.controller.yamlsrc import InputError
from nsprov.model.kinds import KINDS, MODULES

REPO = Path(__file__).parents[2]


def playbooks_in_repo() -> list:
    """Every tracked YAML file that is a list of plays (inventories and vars files are mappings)."""
    files = subprocess.run(["git", "ls-files", "*.yml", "*.yaml"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    books = [f for f in files if isinstance(yaml.safe_load((REPO / f).read_text()), list)]
    assert len(books) >= 10, books    # playbooks/*.yml, bench/workload.yml, tests/vagrant/two-nodes.yml
    return books


@pytest.fixture(scope="module")
def validator():
    schema = playbook_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(validator, data) -> list:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:120]}" for e in validator.iter_errors(data)]


@pytest.mark.parametrize("path", playbooks_in_repo())
def test_every_playbook_in_the_repository_is_valid_under_the_schema(validator, path):
    load_playbook(str(REPO / path))     # the loader takes it (its shape; resolving needs an inventory)
    assert schema_errors(validator, yaml.safe_load((REPO / path).read_text())) == []


def test_the_committed_schema_is_what_nsprov_schema_writes():
    committed = json.loads((REPO / "schema" / "playbook.json").read_text())
    assert committed == playbook_schema(), "run: nsprov schema -o schema/playbook.json"


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_each_example_passes_the_schema_and_the_loader(validator, kind):
    task = yaml.safe_load(kind.example)
    assert schema_errors(validator, [{"hosts": "all", "tasks": [task]}]) == []
    for name, param in kind.params.items():
        assert param.example is not None, f"{kind.name}.{name} has no example"
        param.type.check(param.example)       # raises when the example is wrong
        one = {**task[kind.name], name: param.example}
        assert schema_errors(validator, [{"hosts": "all", "tasks": [{kind.name: one}]}]) == [], name


BAD = {   # what is wrong -> playbook; the loader refuses each, and so must the schema (at PATHS[case])
    "not a list": "hosts: all\n",
    "play without hosts": "- tasks: [{netns: {name: a}}]\n",
    "unknown play keyword": "- hosts: all\n  taks: []\n",
    "unknown module": "- hosts: all\n  tasks: [{netnss: {name: a}}]\n",
    "two modules": "- hosts: all\n  tasks: [{netns: {name: a}, bridge: {name: b}}]\n",
    "no module": "- hosts: all\n  tasks: [{name: nothing}]\n",
    "unknown parameter": "- hosts: all\n  tasks: [{netns: {name: a, colour: red}}]\n",
    "required parameter missing": "- hosts: all\n  tasks: [{veth: {name: a}}]\n",
    "interface name too long": "- hosts: all\n  tasks: [{bridge: {name: abcdefghijklmnop}}]\n",
    "state misspelt": "- hosts: all\n  tasks: [{netns: {name: a, state: gone}}]\n",
    "shell string command": "- hosts: all\n  tasks: [{exec: {command: 'ip link'}}]\n",
    "port out of range": "- hosts: all\n  tasks: [{port_forward: {port: 70000, to: '10.0.0.2:80'}}]\n",
    "port a fraction": "- hosts: all\n  tasks: [{port_forward: {port: 80.5, to: '10.0.0.2:80'}}]\n",
    "mtu a word": "- hosts: all\n  tasks: [{bridge: {name: br0, mtu: big}}]\n",
    "address without prefix": "- hosts: all\n  tasks: [{address: {interface: eth0, address: 10.0.0.1}}]\n",
    "namespace kind unknown": "- hosts: all\n  tasks: [{namespace: {name: a, kinds: [net, bogus]}}]\n",
    "uid map entry incomplete": "- hosts: all\n  tasks: [{namespace: {name: a, kinds: [user], "
                                "uid_map: [{inside: 0, outside: 1000}]}}]\n",
    "mount of an unknown type": "- hosts: all\n  tasks: [{namespace: {name: a, kinds: [mnt], "
                                "mounts: [{type: nfs, target: /x}]}}]\n",
    "register not a name": "- hosts: all\n  tasks: [{netns: {name: a}, register: 'my result'}]\n",
    "lab name with a space": "- hosts: all\n  lab: my lab\n  tasks: []\n",
    "boolean a word": "- hosts: all\n  tasks: [{bridge: {name: br0, stp: maybe}}]\n",
    "parameters not a mapping": "- hosts: all\n  tasks: [{netns: [a]}]\n",
}
PATHS = {'not a list': '',
         'play without hosts': '0',
         'unknown play keyword': '0',
         'unknown module': '0/tasks/0',
         'two modules': '0/tasks/0',
         'no module': '0/tasks/0',
         'unknown parameter': '0/tasks/0/netns',
         'required parameter missing': '0/tasks/0/veth',
         'interface name too long': '0/tasks/0/bridge/name',
         'state misspelt': '0/tasks/0/netns/state',
         'shell string command': '0/tasks/0/exec/command',
         'port out of range': '0/tasks/0/port_forward/port',
         'port a fraction': '0/tasks/0/port_forward/port',
         'mtu a word': '0/tasks/0/bridge/mtu',
         'address without prefix': '0/tasks/0/address/address',
         'namespace kind unknown': '0/tasks/0/namespace/kinds/1',
         'uid map entry incomplete': '0/tasks/0/namespace/uid_map/0',
         'mount of an unknown type': '0/tasks/0/namespace/mounts/0/type',
         'register not a name': '0/tasks/0',
         'lab name with a space': '0/lab',
         'boolean a word': '0/tasks/0/bridge/stp',
         'parameters not a mapping': '0/tasks/0/netns'}


def loader_refuses(tmp_path, text: str) -> bool:
    from nsprov.controller.inventory_files import load_inventory
    from nsprov.controller.resolve import resolve
    (tmp_path / "inv.ini").write_text("h1 ansible_host=127.0.0.1\n")
    path = tmp_path / "book.yml"
    path.write_text(text)
    try:
        resolve(load_playbook(str(path)), load_inventory([str(tmp_path / "inv.ini")]))
    except InputError:
        return True
    return False


@pytest.mark.parametrize("case", BAD)
def test_what_the_loader_refuses_the_schema_refuses(validator, tmp_path, case):
    text = BAD[case]
    assert loader_refuses(tmp_path, text), case
    best = jsonschema.exceptions.best_match(validator.iter_errors(yaml.safe_load(text)))
    assert best is not None, case
    assert "/".join(map(str, best.absolute_path)) == PATHS[case], best.message


def test_templates_digit_strings_and_yes_no_pass_as_the_loader_takes_them(validator, tmp_path):
    text = ("- hosts: all\n  become: 'no'\n  vars: {p: 8080}\n  tasks:\n"
            "    - bridge: {name: '{{ inventory_hostname[:3] }}br', mtu: '1400', stp: 'yes'}\n"
            "    - port_forward: {port: '{{ p }}', to: '10.0.0.2:80'}\n"
            "    - netns: {name: 'n{{ item }}'}\n      loop: '{{ range(3) | list }}'\n")
    assert not loader_refuses(tmp_path, text)
    assert schema_errors(validator, yaml.safe_load(text)) == []


# ------------------------------------------------------------------ nsprov doc
def doc(*args) -> tuple:
    result = CliRunner().invoke(cli, ["doc", *args])
    return result.exit_code, result.output


def test_doc_lists_every_module_and_every_keyword():
    code, out = doc()
    assert code == 0
    for kind in KINDS:
        assert f"  {kind.name} " in out and kind.summary.split(",")[0] in out.replace("\n" + " " * 16, " ")
    for word in (*PLAY_KEYWORDS, *TASK_KEYWORDS):
        assert f"\n  {word} " in out, word


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_doc_of_a_module_gives_every_parameter_its_type_default_need_and_example(kind):
    code, out = doc(kind.name)
    assert code == 0
    blocks = {b.split("\n", 1)[0]: b for b in out.split("\n- ")[1:]}
    assert list(blocks) == list(kind.params)
    for name, param in kind.params.items():
        block = blocks[name]
        assert f"type: {param.type.name}" in block
        assert ("required: yes" in block) == param.required
        assert ("default: " in block) == (param.default is not None and not param.required), block
        assert f"example: {name}: " in block
        assert param.doc.split(" ")[0] in block
    assert ("STATE: ABSENT" in out) == ("state" in kind.params)
    assert yaml.safe_load(_pasted_example(out))[0] == yaml.safe_load(kind.example)


def _pasted_example(out: str) -> str:
    """The EXAMPLE block of `nsprov doc MODULE` as a user copies it: every line, as printed."""
    return textwrap.dedent(out.split("\nEXAMPLE\n", 1)[1])


# what the examples refer to, declared first (a veth into netns red needs a netns red)
EXAMPLE_PREAMBLE = [{"netns": {"name": "red"}}, {"netns": {"name": "netns1"}}, {"bridge": {"name": "br0"}},
                    {"namespace": {"name": "box1", "kinds": ["uts", "net"]}}]


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_the_example_of_nsprov_doc_pasted_into_a_playbook_loads_and_resolves(kind, tmp_path):
    code, out = doc(kind.name)
    assert code == 0
    tasks = yaml.safe_load(_pasted_example(out))
    preamble = [t for t in EXAMPLE_PREAMBLE if kind.name not in t]     # the example may declare it itself
    book = tmp_path / "pasted.yml"
    book.write_text(yaml.safe_dump([{"hosts": "h1", "tasks": preamble}]) + "\n" +
                    "- hosts: h1\n  tasks:\n" + textwrap.indent(textwrap.dedent(out.split("\nEXAMPLE\n", 1)[1]),
                                                                 "    "))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all: {hosts: {h1: {ansible_host: 192.0.2.1}}}\n")
    result = CliRunner().invoke(cli, ["graph", "-i", str(inventory), str(book)])
    assert result.exit_code == 0, result.output
    assert len(tasks) == 1 and kind.name in tasks[0]


def test_doc_json_is_the_reference_as_data():
    code, out = doc("veth", "--json")
    ref = json.loads(out)
    assert code == 0 and ref["module"] == "veth"
    assert {p["name"]: p["required"] for p in ref["parameters"]}["peer"] is True
    assert {p["name"]: p["default"] for p in ref["parameters"]}["up"] is True


def test_doc_of_an_unknown_module_is_bad_input_with_a_guess():
    proc = subprocess.run([sys.executable, "-m", "nsprov.cli", "doc", "brige"], capture_output=True, text=True)
    assert proc.returncode == 2 and "did you mean bridge?" in proc.stderr, proc.stderr


def test_schema_command_writes_the_schema(tmp_path):
    result = CliRunner().invoke(cli, ["schema", "-o", str(tmp_path / "s.json")])
    assert result.exit_code == 0
    assert json.loads((tmp_path / "s.json").read_text())["definitions"]["modules"].keys() == MODULES.keys()
