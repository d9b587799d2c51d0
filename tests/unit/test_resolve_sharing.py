"""Resolving a play for many hosts shares a task's outcome between hosts whose variables (the
ones its templates name) are equal. Sharing must never change what a host gets: every host's
plan is compared with the plan resolved for that host alone (one host shares nothing)."""

from __future__ import annotations

import pytest

from nsprov.controller import outcomes as pb
from nsprov.controller.inventory_files import load_inventory
from nsprov.controller.playbook import load_playbook_lenient
from nsprov.controller.resolve import resolve
from nsprov.controller.yamlsrc import InputError

INVENTORY = """\
all:
  vars: {subnet: 10.1, count: 2, flag: true, joiner: shared}
  hosts:
    h1: {ansible_host: 127.0.0.1}
    h2: {ansible_host: 127.0.0.2}
    h3: {ansible_host: 127.0.0.3, subnet: 10.2, count: 3, flag: 1, joiner: own}
    h4: {ansible_host: 127.0.0.4, flag: 1.0, weird: "{{ inventory_hostname }}"}
    h5: {ansible_host: 127.0.0.5, weird: "{{ inventory_hostname }}"}
"""

# every kind of thing a task's outcome can depend on, differing between some hosts
PLAYBOOK = """\
- hosts: all
  vars: {prefix: n}
  tasks:
    - netns: {name: "{{ prefix }}{{ item }}"}
      loop: "{{ range(count | int) | list }}"
    - netns: {name: "{{ inventory_hostname }}x"}
    - netns: {name: "f{{ flag }}"}
    - netns: {name: "j{{ joiner }}"}
    - bridge: {name: br0, addresses: ["{{ subnet }}.0.1/24"]}
    - address: {netns: "{{ prefix }}0", interface: lo, address: "{{ hostvars['h3'].subnet }}.9.{{ count }}/32"}
    - name: "route {{ item }}"
      route: {netns: "{{ prefix }}{{ item }}", to: default, via: "{{ subnet }}.0.1"}
      loop: "{{ range(count | int) | list }}"
    - sysctl: {name: net.ipv4.ip_forward, value: 1}
      when: count | int > 2
    - exec: {command: ["echo", "{{ weird | default('plain') }}"], netns: n0}
"""


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "inv.yml").write_text(INVENTORY)
    (tmp_path / "book.yml").write_text(PLAYBOOK)
    return load_inventory([str(tmp_path / "inv.yml")]), load_playbook_lenient(str(tmp_path / "book.yml"))[0]


def _plan(p) -> tuple:
    return p.tasks, p.labels, p.sets, p.assertions, p.become


def test_every_host_gets_the_plan_it_gets_alone(files):
    inv, book = files
    together = resolve(book, inv, extra_vars={})
    assert sorted(together) == ["h1", "h2", "h3", "h4", "h5"]
    for host in together:
        alone = resolve(book, inv, limit=host, extra_vars={})
        assert _plan(together[host]) == _plan(alone[host]), host
    # and the hosts really differ where their variables do (the comparison above has teeth)
    names = {h: [t["name"] for t in together[h].tasks] for h in together}
    assert "netns n2" in names["h3"] and "netns n2" not in names["h1"]
    assert "netns fTrue" in names["h1"] and "netns f1" in names["h3"] and "netns f1.0" in names["h4"]
    assert "netns jshared" in names["h2"] and "netns jown" in names["h3"]
    # a name made from parameters is rendered again ({{ inventory_hostname }} came from a value)
    assert "exec echo h4 in n0" in names["h4"] and "exec echo h5 in n0" in names["h5"]
    assert "exec echo plain in n0" in names["h1"]
    addr = {h: next(t for t in together[h].tasks if t["module"] == "address")["params"]["address"] for h in together}
    assert addr == {"h1": "10.2.9.2/32", "h2": "10.2.9.2/32", "h3": "10.2.9.3/32", "h4": "10.2.9.2/32",
                    "h5": "10.2.9.2/32"}
    skipped = {h for h in together if any("skip" in t for t in together[h].tasks)}
    assert skipped == {"h1", "h2", "h4", "h5"}


def test_hosts_with_equal_variables_validate_a_task_once(files, monkeypatch):
    inv, book = files
    calls = []
    real = pb.validate_params
    monkeypatch.setattr(pb, "validate_params", lambda module, params: calls.append(module) or real(module, params))
    resolve(book, inv, limit="h1:h2", extra_vars={})
    shared = len(calls)
    calls.clear()
    resolve(book, inv, limit="h1", extra_vars={})
    alone = len(calls)
    # h1 and h2 have equal variables except inventory_hostname, which one task names; the task
    # reading hostvars is never shared: everything else is validated once for both
    assert shared == alone + 2


def test_a_problem_on_some_hosts_names_them_and_its_line(tmp_path):
    (tmp_path / "inv.yml").write_text(INVENTORY)
    (tmp_path / "book.yml").write_text(
        "- hosts: all\n  tasks:\n    - netns: {name: ok}\n"
        "    - bridge: {name: \"{{ 'b' * (count | int * 6) }}\"}\n")
    inv = load_inventory([str(tmp_path / "inv.yml")])
    book = load_playbook_lenient(str(tmp_path / "book.yml"))[0]
    with pytest.raises(InputError) as exc:
        resolve(book, inv, extra_vars={})
    problems = [str(p) for p in exc.value.problems]
    # count 3 gives an 18-byte name on h3 only; count 2 (12 bytes) is fine on the others
    assert len(problems) == 1 and ":4: " in problems[0] and "(host h3)" in problems[0], problems
