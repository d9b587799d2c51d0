"""`register`: a task's result is named in --json output; a later template or `when` that reads
it is refused before any host is touched (nsprov settles both before the run, on the controller)."""

from __future__ import annotations

import io
import json

import pytest

from nsprov.controller.inventory_files import load_inventory
from nsprov.controller.playbook import load_playbook_lenient
from nsprov.controller.resolve import resolve
from nsprov.controller.yamlsrc import InputError
from nsprov.reporting.jsonl import JsonLines


@pytest.fixture()
def inv(tmp_path):
    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n    h2:\n")
    return load_inventory([str(tmp_path / "inv.yml")])


def _resolve(tmp_path, inv, text: str):
    path = tmp_path / "book.yml"
    path.write_text(text)
    book, problems = load_playbook_lenient(str(path))
    try:
        return problems, resolve(book, inv, extra_vars={})
    except InputError as exc:
        return problems + exc.problems, None


BOOK = """\
- hosts: all
  tasks:
    - netns: {name: a}
    - exec: {command: [ip, link], netns: a}
      register: links
    - exec: {command: [echo, hi], netns: a}
"""


def test_registered_tasks_are_recorded_by_index(tmp_path, inv):
    problems, plans = _resolve(tmp_path, inv, BOOK)
    assert not problems
    assert plans["h1"].registers == {1: "links"} and plans["h2"].registers == {1: "links"}


@pytest.mark.parametrize("task,line,field", [
    ("    - sysctl: {name: net.ipv4.ip_forward, value: 1}\n      when: links.changed\n", 8, "tasks[3].when"),
    ("    - exec: {command: [echo, '{{ links.stdout }}'], netns: a}\n", 7, "tasks[3].exec"),
    ("    - netns: {name: 'b{{ item }}'}\n      loop: '{{ links.stdout_lines }}'\n", 8, "tasks[3].loop"),
    ("- hosts: h1\n  tasks:\n    - sysctl: {name: net.ipv4.ip_forward, value: 1}\n      when: links is changed\n",
     10, "play[1].tasks[0].when"),
])
def test_reading_a_registered_result_is_an_error_naming_both_tasks(tmp_path, inv, task, line, field):
    problems, plans = _resolve(tmp_path, inv, BOOK + task)
    assert plans is None
    texts = [str(p) for p in problems]
    assert len(texts) == 1, texts
    assert texts[0].startswith(f"{tmp_path / 'book.yml'}:{line}: ") and field in texts[0]
    assert "'links' is the result registered at line 4" in texts[0]


def test_reading_it_before_it_is_registered_is_an_undefined_variable(tmp_path, inv):
    problems, _ = _resolve(tmp_path, inv, BOOK.replace("    - netns: {name: a}\n",
                                                      "    - netns: {name: a}\n      when: links.changed\n"))
    first = min(problems, key=lambda p: p.line)   # (netns a is then missing for the tasks after it)
    assert first.line == 4 and "undefined variable: 'links'" in first.message
    assert not any("registered" in p.message for p in problems)


def test_a_register_name_must_be_a_variable_name(tmp_path, inv):
    problems, _ = _resolve(tmp_path, inv, BOOK.replace("register: links", "register: 'my links'"))
    assert [(p.line, p.field) for p in problems] == [(5, "play[0].tasks[1].register")]


def test_json_output_names_the_registered_task():
    out = io.StringIO()
    sink = JsonLines(out, registers={"h1": {1: "links"}})
    sink("h1", {"event": "task", "index": 0, "name": "netns a"})
    sink("h1", {"event": "task", "index": 1, "name": "exec ip link in a"})
    sink("h2", {"event": "task", "index": 1, "name": "exec ip link in a"})
    events = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [e.get("register") for e in events] == [None, "links", None]
