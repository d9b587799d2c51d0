"""Bad input gets a clear error before anything changes, and messages and checks tell the truth.

Every bad input below ends in exit 2 with `file:line: field: message`, and the lab host is
byte-for-byte as it was (its links, namespaces and nsprov's state directory, listed with plain
ssh before and after; its sshd saw no connection from nsprov). The interface-name cases are
generated from the module table: every parameter of every kind that names an interface.
Read-only commands write nothing on a host nsprov never touched; verify is right whatever a
namespace set mounts; a ping check waits for a neighbour; an unreachable host is said as what
happened and when; check mode of plays and of a playbook's copy says what a real run would do.
"""

from __future__ import annotations

import json
import socket
import subprocess
import textwrap
import threading
import time

import pytest
import yaml

from tests.conftest import json_events, lab_down, lab_up, nsprov, sh, sshd_counts, write_inventory
from nsprov.model.kinds import KINDS
from nsprov.model import types

pytestmark = pytest.mark.lab

# what the kinds' examples refer to, declared first
PREAMBLE = [{"netns": {"name": "red"}}, {"netns": {"name": "netns1"}}, {"bridge": {"name": "br0"}},
            {"namespace": {"name": "box1", "kinds": ["uts", "net"]}}]


def _ifname_cases() -> list:
    """(id, playbook text, the field the error must name): every interface-name parameter of
    every kind, set to a name the kernel would number itself."""
    out = []
    for kind in KINDS:
        base = yaml.safe_load(kind.example)[kind.name]
        for name, param in kind.params.items():
            if param.type is not types.IFNAME:
                continue
            task = {kind.name: {**base, name: "ifx%d"}}
            tasks = [t for t in PREAMBLE if kind.name not in t] + [task]
            out.append((f"{kind.name}.{name}=ifx%d", yaml.safe_dump([{"hosts": "lab1", "tasks": tasks}]),
                        f"{kind.name}.{name}", "holds '%'"))
    return out


def _deep(depth: int) -> str:
    return "- hosts: lab1\n  vars:\n    v: " + "[" * depth + "]" * depth + "\n  tasks: []\n"


OTHER_CASES = [
    ("nesting 600 deep", _deep(600), "", "nested more than 100 levels deep"),
    ("a loop over range(10**8)", "- hosts: lab1\n  tasks:\n    - netns: {name: 'n{{ item }}'}\n"
                                 "      loop: '{{ range(100000000) | list }}'\n", "loop", "Range too big"),
    ("a loop of 100000 items", "- hosts: lab1\n  tasks:\n    - netns: {name: 'n{{ item }}'}\n"
                               "      loop: '{{ range(100000) | list }}'\n", "loop", "at most 10000 in one loop"),
    ("a template that never ends", "- hosts: lab1\n  vars: {x: '{{ range(100000) | list }}'}\n  tasks:\n"
                                   "    - netns: {name: 'n{% for a in x %}{% for b in x %}{% endfor %}{% endfor %}'}\n",
     "netns", "took over 2 s"),
    ("a template making 10 MB", "- hosts: lab1\n  tasks:\n    - netns: {name: \"{{ 'a' * 10000000 }}\"}\n",
     "netns", "the limit is 1000000"),
    ("a template reaching Python's insides", "- hosts: lab1\n  tasks:\n"
                                             "    - netns: {name: \"{{ ''.__class__.__mro__ }}\"}\n", "netns", "unsafe"),
]
CASES = _ifname_cases() + OTHER_CASES


def host_listing(lab, host: str) -> str:
    """What a run could change on HOST, listed with plain ssh: links (with their ifindex),
    named namespaces, nsprov's state directory and the host's private /var and /etc layers."""
    return lab.ssh(host, "sh", "-c", "ip -j link; ip netns list; ls -laR /var/lib/nsprov 2>&1; "
                                     "find /run/nsprov-lab/var.upper /run/nsprov-lab/etc.upper | sort").stdout


def test_the_generated_cases_cover_every_interface_name_parameter():
    ifname_params = {f"{k.name}.{n}" for k in KINDS for n, p in k.params.items() if p.type is types.IFNAME}
    assert ifname_params and {c[2] for c in _ifname_cases()} == ifname_params
    assert {"veth.name", "veth.peer", "bridge.name", "address.interface"} <= ifname_params


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_file_and_line_before_any_host_is_touched(lab3, tmp_path, case):
    _, text, field, words = case
    book = tmp_path / "book.yml"
    book.write_text(text)
    before, seen = host_listing(lab3, "lab1"), sshd_counts(lab3, "lab1")["connections"]
    began = time.monotonic()
    for command in ("run", "graph"):
        proc = nsprov(command, "-i", str(lab3.inventory), str(book), check=False)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        out = proc.stdout + proc.stderr
        assert words in out and f"{book.name}:" in out and "Traceback" not in out, out
        line = next(x for x in out.splitlines() if words in x)
        assert line.strip().startswith(f"{book}:") and line.split(":")[1].isdigit(), line
        if field:
            assert f".{field}" in line or f"{field}:" in line, line
    assert time.monotonic() - began < 15
    assert sshd_counts(lab3, "lab1")["connections"] == seen        # nsprov never connected
    assert host_listing(lab3, "lab1") == before


def test_a_name_with_percent_is_really_renamed_by_the_kernel(lab3):
    """The control: the kernel does number such a name (the link made is not the one asked for)."""
    out = lab3.ssh("lab1", "sh", "-c", "ip link add 'ctl%d' type bridge && ip -j link show type bridge && "
                                       "ip link del ctl0").stdout
    assert any(x["ifname"] == "ctl0" for x in json.loads(out)) and "ctl%d" not in out


def test_a_lab_flag_that_contradicts_the_plays_lab_is_refused(lab3, tmp_path):
    book = tmp_path / "named.yml"
    book.write_text("- hosts: lab1\n  lab: named\n  tasks:\n    - netns: {name: lf1}\n")
    before = host_listing(lab3, "lab1")
    proc = nsprov("run", "-i", str(lab3.inventory), str(book), "--lab", "other", check=False)
    assert proc.returncode == 2 and "--lab other contradicts the plays' own `lab: named`" in proc.stderr
    assert host_listing(lab3, "lab1") == before
    assert "a play's own `lab:` that differs is refused" in " ".join(nsprov("run", "--help").stdout.split())
    # the same --lab as the plays', or none, is fine (the plays' lab is the lab)
    proc = nsprov("run", "-i", str(lab3.inventory), str(book), "--lab", "named", "--check", "--json")
    assert json_events(proc.stdout)[-1]["event"] == "recap"


# ------------------------------------------------------------------ read-only stays read-only
@pytest.fixture
def fresh_host(tmp_path):
    directory = tmp_path / "fresh"
    try:
        yield lab_up(directory, 1)
    finally:
        lab_down(directory)


def test_drift_facts_and_labs_write_nothing_on_a_host_nsprov_never_touched(fresh_host, tmp_path):
    book = tmp_path / "ro.yml"
    book.write_text("- hosts: lab1\n  tasks:\n    - netns: {name: ro1}\n")
    inv = str(fresh_host.inventory)
    before = host_listing(fresh_host, "lab1")
    assert "No such file" in before and "/var.upper/lib" not in before
    assert nsprov("drift", "-i", inv, str(book), check=False).returncode == 1      # drift: ro1 is missing
    nsprov("facts", "-i", inv)
    nsprov("labs", "-i", inv)
    assert host_listing(fresh_host, "lab1") == before
    # the control: a run does write there (the agent's cache and the ledger)
    nsprov("run", "-i", inv, str(book))
    after = host_listing(fresh_host, "lab1")
    assert "/run/nsprov-lab/var.upper/lib/nsprov/agent" in after and "ledger" in after


# ------------------------------------------------------------------ verify tells the truth
SETS = textwrap.dedent("""\
    - hosts: lab2
      lab: privtmp
      tasks:
        - namespace:
            name: pt-user
            kinds: [uts, ipc, pid, mnt, user, net]
            hostname: ptuser
            uid_map: [{inside: 0, outside: 100000, count: 65536}]
            gid_map: [{inside: 0, outside: 100000, count: 65536}]
            mounts: [{type: tmpfs, target: /tmp}]
        - namespace: {name: pt-root, kinds: [mnt, pid], mounts: [{type: tmpfs, target: /tmp}]}
        - namespace:
            name: pt-ro
            kinds: [pid, mnt, user]
            uid_map: [{inside: 0, outside: 100000, count: 65536}]
            gid_map: [{inside: 0, outside: 100000, count: 65536}]
            mounts: [{type: tmpfs, target: /tmp, options: ro}]
        - verify:
            mount_isolated: [pt-user, pt-root, pt-ro]
            uid_map: [{namespace: pt-user, inside: 0, outside: 100000}, {namespace: pt-ro, inside: 0, outside: 100000}]
""")


def test_verify_is_right_for_namespace_sets_with_a_private_tmp(lab3, tmp_path):
    book = tmp_path / "privtmp.yml"
    book.write_text(SETS)
    try:
        nsprov("run", "-i", str(lab3.inventory), str(book))
        # the control: /tmp inside each set really is its own (a file made in the host's /tmp is not there)
        lab3.ssh("lab2", "touch", "/tmp/host-marker")
        for name in ("pt-user", "pt-root", "pt-ro"):
            pid = json.loads(lab3.ssh("lab2", "cat", f"/run/nsprov/ns/{name}/init.json").stdout)["pid"]
            inside = lab3.ssh("lab2", "ls", f"/proc/{pid}/root/tmp").stdout
            assert "host-marker" not in inside
        proc = nsprov("verify", "-i", str(lab3.inventory), str(book), "--json", check=False)
        checks = [e for e in json_events(proc.stdout) if e["event"] == "check"]
        assert proc.returncode == 0, proc.stdout[-3000:]
        names = {c["check"] for c in checks}
        assert {"mnt: a mount made inside is absent on the host",
                "user: a file made inside belongs to the mapped uid"} <= names, names
        assert "nsprov-verify" not in lab3.ssh("lab2", "ls", "-a", "/tmp").stdout     # nothing left behind
    finally:
        lab3.ssh("lab2", "rm", "-f", "/tmp/host-marker", check=False)
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


PING = textwrap.dedent("""\
    - hosts: lab2
      lab: pingwait
      tasks:
        - netns: {name: pw1}
        - veth: {name: pwv0, peer: eth0, peer_netns: pw1, peer_addresses: [10.77.9.2/24]}
        - verify:
            reach: [{from: pw1, to: 10.77.9.1}]
          tags: [proof]
""")


def test_a_ping_check_keeps_asking_for_a_bounded_time(lab3, tmp_path):
    """The address answers only 2 s after verify starts (as a neighbour entry still stale right
    after a change would): one echo says 'no answer', the check waits and passes."""
    book = tmp_path / "pingwait.yml"
    book.write_text(PING)
    try:
        nsprov("run", "-i", str(lab3.inventory), str(book), "--skip-tags", "proof")
        # the control: right now the address does not answer
        assert lab3.ssh("lab2", "ip", "netns", "exec", "pw1", "ping", "-c1", "-W1", "10.77.9.1",
                        check=False).returncode != 0
        later = subprocess.Popen(["ssh", "-F", str(lab3.ssh_config), "lab2", "--",
                                  "sleep 2; ip addr add 10.77.9.1/24 dev pwv0"])
        try:
            began = time.monotonic()
            proc = nsprov("verify", "-i", str(lab3.inventory), str(book), "--json", check=False)
            took = time.monotonic() - began
        finally:
            later.wait(timeout=30)
        assert proc.returncode == 0, proc.stdout[-2000:]
        assert 2 <= took < 15
        # a no_reach still takes one probe: with the address gone, it answers at once
        lab3.ssh("lab2", "ip", "addr", "del", "10.77.9.1/24", "dev", "pwv0")
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


# ------------------------------------------------------------------ messages tell what happened
def _listen(kind: str) -> tuple:
    """A loopback listener that closes every connection at once ('closer') or never speaks
    ('silent'); returns (port, stop)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop, held = threading.Event(), []

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            c.close() if kind == "closer" else held.append(c)
        srv.close()
        for c in held:
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1], stop


def test_an_unreachable_host_is_said_as_what_happened_and_when(tmp_path):
    closer, stop1 = _listen("closer")
    silent, stop2 = _listen("silent")
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    refused = free.getsockname()[1]
    free.close()                                      # nothing listens there now
    try:
        inv = write_inventory(tmp_path / "inv.yml", {
            "refused": {"ansible_host": "127.0.0.1", "ansible_port": refused},
            "closer": {"ansible_host": "127.0.0.1", "ansible_port": closer},
            "silent": {"ansible_host": "127.0.0.1", "ansible_port": silent}})
        book = tmp_path / "b.yml"
        book.write_text("- hosts: all\n  tasks:\n    - netns: {name: u1}\n")
        proc = nsprov("run", "-i", str(inv), str(book), "-T", "1.5", "--json", check=False)
        assert proc.returncode == 2
        said = {e["host"]: e["error"] for e in json_events(proc.stdout) if e["event"] == "unreachable"}
        assert f"127.0.0.1:{refused} refused the connection after 0." in said["refused"], said
        assert f"127.0.0.1:{closer} accepted the connection and closed it after 0." in said["closer"], said
        assert "within" not in said["closer"] and "within" not in said["refused"]
        assert f"127.0.0.1:{silent} accepted the connection but sent no SSH greeting within 1.5 s" in said["silent"]
    finally:
        stop1.set()
        stop2.set()


# ------------------------------------------------------------------ check mode says what a run would do
PLAYS = textwrap.dedent("""\
    - hosts: lab3
      lab: checkplays
      tasks:
        - netns: {name: cp1}
        - bridge: {name: cpbr0}
    - hosts: lab3
      lab: checkplays
      tasks:
        - veth: {name: cpv0, peer: eth0, peer_netns: cp1, bridge: cpbr0, peer_addresses: [10.77.8.2/24]}
        - address: {interface: cpbr0, address: 10.77.8.1/24}
""")


def _notes(events: list) -> list:
    return [e for e in events if e["event"] in ("drift", "claimed", "healed", "prune")]


def test_check_of_several_plays_warns_of_nothing_an_earlier_play_would_make(lab3, tmp_path):
    book = tmp_path / "checkplays.yml"
    book.write_text(PLAYS)
    try:
        proc = nsprov("run", "-i", str(lab3.inventory), str(book), "--check", "--json")
        events = json_events(proc.stdout)
        assert _notes(events) == [], _notes(events)
        assert sum(e["status"] == "changed" for e in events if e["event"] == "task") == 4
        assert "cpbr0" not in lab3.ssh("lab3", "ip", "link").stdout            # check changed nothing
        # the control: a link that does carry the lab's mark without a record is reported
        lab3.ssh("lab3", "sh", "-c", "ip link add cpbr9 type bridge && ip link set cpbr9 alias nsprov:checkplays")
        events = json_events(nsprov("run", "-i", str(lab3.inventory), str(book), "--check", "--json").stdout)
        assert [e["name"] for e in _notes(events)] == ["cpbr9"]
    finally:
        lab3.ssh("lab3", "ip", "link", "del", "cpbr9", check=False)


def test_check_of_a_copy_is_not_refused_and_a_real_run_says_the_refusal_once(lab3, tmp_path):
    (tmp_path / "a").mkdir()
    book = tmp_path / "a" / "shared.yml"
    book.write_text("- hosts: lab3\n  lab: sharedlab\n  tasks:\n    - netns: {name: sh1}\n")
    copy = tmp_path / "shared-copy.yml"
    copy.write_text(book.read_text())
    try:
        nsprov("run", "-i", str(lab3.inventory), str(book))
        proc = nsprov("run", "-i", str(lab3.inventory), str(copy), "--check", "--json")
        events = json_events(proc.stdout)
        claimed = [e for e in events if e["event"] == "claimed"]
        assert len(claimed) == 1 and f"made by {book}" in claimed[0]["message"]
        assert [(e["status"], e["name"]) for e in events if e["event"] == "task"] == [("ok", "netns sh1")]
        proc = nsprov("run", "-i", str(lab3.inventory), str(copy), check=False)
        assert proc.returncode == 1 and proc.stdout.count(f"was made by {book}") == 1, proc.stdout
        assert "sh1" in lab3.ssh("lab3", "ip", "netns", "list").stdout        # the lab is untouched
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
