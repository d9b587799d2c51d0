"""Input that used to get through: values validation truncated or let pass, YAML bombs and huge
files, and Python's own warnings. Each is refused on the controller, before any host, as
`file:line: field: message` (checked here on the resolver; the lab tests check no host is touched)."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import pytest

from nsprov.controller.inventory_files import load_inventory
from nsprov.controller.playbook import load_playbook_lenient
from nsprov.controller.resolve import resolve
from nsprov.controller.yamlsrc import MAX_INPUT_BYTES, InputError


@pytest.fixture()
def inv(tmp_path):
    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n")
    return load_inventory([str(tmp_path / "inv.yml")])


def problems_of(tmp_path, inv, tasks: str) -> list:
    path = tmp_path / "book.yml"
    path.write_text("- hosts: all\n  tasks:\n" + tasks)
    try:
        book, problems = load_playbook_lenient(str(path))
        resolve(book, inv, extra_vars={})
    except InputError as exc:
        problems = problems + exc.problems
    return [str(p).replace(str(path), "book.yml") for p in problems]


REFUSED = {
    "a port with a fraction": ("    - port_forward: {port: 80.9, to: '10.0.0.2:80'}\n",
                               "book.yml:3: play[0].tasks[0].port_forward.port: port must be a whole number, not 80.9"),
    "a padded port": ("    - port_forward: {port: '  80 ', to: '10.0.0.2:80'}\n",
                      "port_forward.port: port must be a whole number, not '  80 '"),
    "a padded port in ADDRESS:PORT": ("    - port_forward: {port: 80, to: '10.0.0.2: 80'}\n",
                                      "port_forward.to: port must be a whole number, not ' 80'"),
    "an mtu with a fraction": ("    - bridge: {name: b0, mtu: 1500.5}\n", "bridge.mtu: mtu must be a whole number"),
    "a uid with a fraction": ("    - namespace: {name: u, kinds: [user], uid_map: [{inside: 0, outside: 100000.7, "
                              "count: 1}], gid_map: [{inside: 0, outside: 100000, count: 1}]}\n",
                              "namespace.uid_map: map entry"),
    "a negative metric": ("    - route: {to: 10.9.0.0/24, dev: lo, metric: -5}\n",
                          "route.metric: metric -5 is outside 0-4294967295"),
    "a metric over 32 bits": (f"    - route: {{to: 10.9.0.0/24, dev: lo, metric: {2 ** 40}}}\n",
                              f"route.metric: metric {2 ** 40} is outside 0-4294967295"),
    "an empty program": ("    - exec: {command: ['']}\n", "exec.command: the command's first argument (the program) is empty"),
    "0.0.0.0/0 as an address": ("    - bridge: {name: b0, addresses: [0.0.0.0/0]}\n",
                                "bridge.addresses: 0.0.0.0/0 is not an interface address"),
    "::/0 as an address": ("    - bridge: {name: b0, addresses: ['::/0']}\n",
                           "bridge.addresses: ::/0 is not an interface address"),
    "a /0 prefix": ("    - address: {interface: lo, address: 10.1.2.3/0}\n", "is not an interface address"),
    "the same address on both ends of a veth": (
        "    - netns: {name: n1}\n    - veth: {name: a0, peer: a1, peer_netns: n1, addresses: [10.4.0.1/24], "
        "peer_addresses: [10.4.0.1/24]}\n",
        "veth.peer_addresses: 10.4.0.1/24 is also on the other end (a0)"),
    "the same address twice on one link": ("    - bridge: {name: b0, addresses: [10.5.0.1/24, 10.5.0.1/24]}\n",
                                           "bridge.addresses: address 10.5.0.1 is listed twice"),
    "the same address declared twice in one namespace": (
        "    - bridge: {name: b0, addresses: [10.6.0.1/24]}\n    - address: {interface: b0, address: 10.6.0.1/24}\n",
        "book.yml:4: play[0].tasks[1].address: address 10.6.0.1/24 is declared twice"),
    "root inside mapped to root outside": (
        "    - namespace: {name: u, kinds: [user], uid_map: [{inside: 0, outside: 0, count: 1}], "
        "gid_map: [{inside: 0, outside: 100000, count: 1}]}\n",
        "namespace.uid_map: maps uid 0 inside to uid 0 on the host"),
    "a uid range covering the host's root": (
        "    - namespace: {name: u, kinds: [user], uid_map: [{inside: 1000, outside: 0, count: 2000}], "
        "gid_map: [{inside: 0, outside: 0, count: 1}]}\n",
        "namespace.gid_map: maps gid 0 inside to gid 0 on the host"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_values_that_used_to_get_through_are_refused_with_file_line_and_field(tmp_path, inv, case):
    tasks, expected = REFUSED[case]
    problems = problems_of(tmp_path, inv, tasks)
    assert any(expected in p and p.startswith("book.yml:") for p in problems), problems


def test_the_same_values_written_right_are_accepted(tmp_path, inv):
    """The control: each refusal above is of the value, not of the module."""
    assert problems_of(tmp_path, inv, (
        "    - netns: {name: n1}\n"
        "    - port_forward: {port: '80', to: '10.0.0.2:80'}\n"
        "    - bridge: {name: b0, mtu: 1500, addresses: [10.5.0.1/24, 10.5.0.2/24]}\n"
        "    - route: {to: 10.9.0.0/24, dev: b0, metric: 4294967295}\n"
        "    - exec: {command: [echo, '']}\n"
        "    - veth: {name: a0, peer: a1, peer_netns: n1, addresses: [10.4.0.1/24], peer_addresses: [10.4.0.2/24]}\n"
        "    - namespace: {name: u, kinds: [user], uid_map: [{inside: 0, outside: 100000, count: '65536'}], "
        "gid_map: [{inside: 0, outside: 100000, count: 65536}]}\n"
        "    - namespace: {name: r, kinds: [user], allow_host_root: true, uid_map: [{inside: 0, outside: 0, "
        "count: 1}], gid_map: [{inside: 0, outside: 0, count: 1}]}\n")) == []


BOMB = """\
- hosts: all
  vars:
    a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
  tasks: [{netns: {name: "{{ i | length }}"}}]
"""


def _bounded(load) -> tuple:
    """(what LOAD raised, seconds, peak bytes allocated)."""
    tracemalloc.start()
    began = time.monotonic()
    try:
        load()
        raised = None
    except InputError as exc:
        raised = exc
    took = time.monotonic() - began
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return raised, took, peak


@pytest.mark.parametrize("where", ["playbook", "inventory", "group_vars"])
def test_a_billion_laughs_is_refused_at_once_with_its_line(tmp_path, where):
    if where == "playbook":
        path = tmp_path / "book.yml"
        path.write_text(BOMB)
        raised, took, peak = _bounded(lambda: load_playbook_lenient(str(path)))
        line = 9            # g: the first level whose expansion alone passes the limit
    else:
        body = "".join("  " + line + "\n" for line in BOMB.splitlines()[2:11])
        if where == "inventory":
            path = tmp_path / "inv.yml"
            path.write_text("all:\n  hosts: {h1: }\n  vars:\n" + body)
            line = 10
        else:
            (tmp_path / "inv.yml").write_text("all:\n  hosts: {h1: }\n")
            (tmp_path / "group_vars").mkdir()
            path = tmp_path / "group_vars" / "all.yml"
            path.write_text("x:\n" + body)
            line = 8
        raised, took, peak = _bounded(lambda: load_inventory([str(tmp_path / "inv.yml")]))
    assert raised is not None, "the bomb was loaded"
    [problem] = raised.problems
    assert problem.file == str(path) and problem.line == line and "alias bomb" in problem.message
    assert peak < 20_000_000 and took < 5


def test_the_control_the_same_document_does_expand_when_aliases_are_not_bounded(tmp_path):
    """Without the bound, the same text would be expanded by the loader's own data walk: shown
    on a smaller bomb (four levels: 6561 leaves), whose expansion the bound lets through."""
    small = "\n".join(BOMB.splitlines()[:6]) + "\n  tasks: []\n"
    path = tmp_path / "small.yml"
    path.write_text(small)
    book, problems = load_playbook_lenient(str(path))
    assert problems == []
    flat = book.plays[0].vars["d"]
    assert sum(len(b) for c in flat for b in c) * 9 == 9 ** 4   # really expanded: no sharing survives


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yml"
    path.write_text("- hosts: all\n  vars:\n    x: &x [1, *x]\n  tasks: []\n")
    with pytest.raises(InputError, match="recursive anchor"):
        load_playbook_lenient(str(path))


@pytest.mark.parametrize("kind", ["playbook", "yaml inventory", "ini inventory", "host_vars"])
def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, kind):
    big = "# " + "x" * 1000 + "\n"
    filler = big * (MAX_INPUT_BYTES // len(big) + 2)
    if kind == "playbook":
        path = tmp_path / "big.yml"
        path.write_text("- hosts: all\n  tasks: []\n" + filler)
        load = lambda: load_playbook_lenient(str(path))   # noqa: E731
    else:
        path = tmp_path / ("inv.yml" if kind == "yaml inventory" else "hosts")
        if kind == "host_vars":
            (tmp_path / "inv.yml").write_text("all:\n  hosts: {h1: }\n")
            (tmp_path / "host_vars").mkdir()
            path = tmp_path / "host_vars" / "h1.yml"
            path.write_text("a: 1\n" + filler)
        else:
            path.write_text(("all:\n  hosts: {h1: }\n" if kind == "yaml inventory" else "h1\n") + filler)
        source = tmp_path / "inv.yml" if kind != "ini inventory" else path
        load = lambda: load_inventory([str(source)])   # noqa: E731
    raised, took, peak = _bounded(load)
    assert raised is not None
    [problem] = raised.problems
    assert problem.file == str(path) and problem.line == 1
    assert "nsprov reads input files of at most 8 MiB" in problem.message
    assert peak < 1_000_000 and took < 1       # refused from its size, not after reading it


@pytest.mark.parametrize("value", ["1e", "0x", "1if", "1and", "'\\d'"])
def test_odd_inventory_values_print_no_python_warning(tmp_path, value):
    (tmp_path / "hosts").write_text(f"[web]\nh1 x={value}\n")
    proc = subprocess.run([sys.executable, "-W", "default", "-m", "nsprov.cli", "inventory", "list", "-i",
                           str(tmp_path / "hosts")], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    assert '"x":' in proc.stdout


def test_error_text_with_square_brackets_is_printed_verbatim(tmp_path):
    (tmp_path / "hosts").write_text("[usa:children]\nnowhere\n")
    proc = subprocess.run([sys.executable, "-m", "nsprov.cli", "inventory", "list", "-i", str(tmp_path / "hosts")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "[usa:children]" in proc.stderr
