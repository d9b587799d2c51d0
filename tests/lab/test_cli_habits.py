"""Ansible's command-line habits, from the user's side: --list-hosts/--list-tasks/--list-tags
contact no host (the hosts' own sshd logs say so), a --tags that matches nothing is an error
naming the tags there are, -T is the connection timeout, and under --json everything is an
event: input problems, unreachable hosts, and one recap shape for run, facts and verify."""

from __future__ import annotations

import socket
import textwrap
import threading

import pytest

from tests.conftest import host_entry, json_events, nsprov, sshd_counts, write_inventory

pytestmark = pytest.mark.lab

BOOK = textwrap.dedent("""\
    - name: base
      hosts: lab
      lab: habits
      tags: [base]
      tasks:
        - netns: {name: hb-red}
          tags: [net]
        - netns: {name: "hb-n{{ item }}"}
          loop: "{{ range(4) | list }}"
        - namespace: {name: hb-box, kinds: [uts], hostname: hbox}
          when: inventory_hostname == 'lab1'
          tags: uts
    - name: second
      hosts: lab2
      lab: habits
      tasks:
        - bridge: {name: hb-br0}
          tags: [bridge]
""")
RECAP_KEYS = {"ok", "changed", "failed", "skipped", "unreachable"}


@pytest.fixture
def book(tmp_path):
    path = tmp_path / "habits.yml"
    path.write_text(BOOK)
    return path


def connections(lab) -> dict:
    return {h: sshd_counts(lab, h)["connections"] for h in ("lab1", "lab2", "lab3")}


def test_listing_contacts_no_host_and_shows_hosts_tasks_and_tags(lab3, book):
    before = connections(lab3)
    for command in ("run", "verify", "destroy"):
        out = nsprov(command, "-i", str(lab3.inventory), str(book), "--list-hosts", "--list-tasks",
                     "--list-tags").stdout
        if command == "verify":   # what verify proves: the namespace set, on lab1 only
            assert "namespace hb-box" in out and "netns hb-red" not in out, out
            continue
        assert "play #1 (lab): base" in out and "hosts (3):" in out and "play #2 (lab2): second" in out, out
        assert "netns hb-red\tTAGS: [base,net]" in out
        assert "netns hb-n0 ... netns hb-n3 (loop: 4 items)" in out
        assert "(when is false on lab2, lab3)" in out
        assert "TASK TAGS: [base, net, uts]" in out and "TASK TAGS: [bridge]" in out
        if command == "destroy":   # destroy runs the plays in reverse
            assert out.index("play #2") < out.index("play #1")
        else:
            assert out.index("play #1") < out.index("play #2")
    assert connections(lab3) == before, "a listing connected to a host"
    nsprov("facts", "-i", str(lab3.inventory), "--limit", "lab1")   # control: the count does move
    assert connections(lab3)["lab1"] == before["lab1"] + 1


def test_listing_follows_limit_and_tags(lab3, book):
    out = nsprov("run", "-i", str(lab3.inventory), str(book), "--limit", "lab2", "--tags", "net",
                 "--list-hosts", "--list-tasks").stdout
    assert "hosts (1):\n      lab2" in out and "netns hb-red" in out
    assert "hb-n0" not in out and "hb-box" not in out and "hb-br0" not in out   # the bridge has no tag net
    assert "play #2 (lab2): second" in out       # its play still selects lab2, as Ansible lists it


def test_listing_as_json_is_one_object(lab3, book):
    proc = nsprov("run", "-i", str(lab3.inventory), str(book), "--list-tasks", "--json")
    [listing] = json_events(proc.stdout)
    assert listing["event"] == "listing" and listing["lab"] == "habits"
    assert [p["hosts"] for p in listing["plays"]] == [["lab1", "lab2", "lab3"], ["lab2"]]
    box = next(t for t in listing["plays"][0]["tasks"] if t["module"] == "namespace")
    assert box["skipped_on"] == ["lab2", "lab3"]


@pytest.mark.parametrize("option", ["--tags", "--skip-tags"])
def test_a_tag_that_matches_nothing_is_an_error_naming_the_tags(lab3, book, option):
    before = connections(lab3)
    proc = nsprov("run", "-i", str(lab3.inventory), str(book), option, "nte", check=False)
    assert proc.returncode == 2
    assert "nte (did you mean net?)" in proc.stderr and "base, bridge, net, uts" in proc.stderr, proc.stderr
    assert connections(lab3) == before
    # control: a tag that exists runs
    ok = nsprov("run", "-i", str(lab3.inventory), str(book), option, "bridge", "--check", check=False)
    assert ok.returncode == 0, ok.stderr


def test_input_problems_under_json_are_one_event_on_stdout(lab3, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("- hosts: lab\n  tasks:\n    - netnss: {name: a}\n    - veth: {name: a, mtu: big, peer: b}\n")
    proc = nsprov("run", "-i", str(lab3.inventory), str(bad), "--json", check=False)
    assert proc.returncode == 2 and proc.stderr == ""
    [ev] = json_events(proc.stdout)
    assert ev["event"] == "input_error" and ev["exit"] == 2
    problems = {(p["line"], p["field"]) for p in ev["problems"]}
    assert problems == {(3, "play[0].tasks[0].netnss"), (4, "play[0].tasks[1].veth.mtu")}, ev
    assert all(p["file"] == str(bad) and p["message"] for p in ev["problems"])
    # a bad option is an event too
    proc = nsprov("run", "-i", str(lab3.inventory), str(bad), "--json", "--forks", "0", check=False)
    [ev] = json_events(proc.stdout)
    assert proc.returncode == 2 and ev["event"] == "input_error" and ev["problems"][0]["field"] == "--forks"


def test_unreachable_hosts_are_events_and_every_recap_has_one_shape(lab3, tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))     # a port nobody listens on: bound, never listening
    port = closed.getsockname()[1]
    inv = write_inventory(tmp_path / "inv.yml", {"lab1": host_entry(lab3, "lab1"),
                                                 "ghost": {"ansible_host": "127.0.0.1", "ansible_port": port}})
    book = tmp_path / "uts.yml"
    book.write_text("- hosts: all\n  lab: shape\n  tasks:\n    - namespace: {name: sh-box, kinds: [uts], "
                    "hostname: shbox}\n")
    try:
        recaps = {}
        for command in (["run", str(book)], ["facts"], ["verify", str(book)]):
            proc = nsprov(command[0], "-i", str(inv), *command[1:], "--json", check=False)
            events = json_events(proc.stdout)
            assert proc.returncode == 2, proc.stderr
            [gone] = [e for e in events if e["event"] == "unreachable"]
            assert gone["host"] == "ghost" and "refused" in gone["error"]
            recap = events[-1]
            assert recap["event"] == "recap"
            assert set(recap["hosts"]["lab1"]) == RECAP_KEYS == set(recap["hosts"]["ghost"]), recap
            assert recap["hosts"]["ghost"]["unreachable"] is True and recap["hosts"]["lab1"]["unreachable"] is False
            recaps[command[0]] = recap["hosts"]["lab1"]
        assert recaps["run"]["changed"] == 1
        assert recaps["facts"]["ok"] == 1
        assert recaps["verify"]["ok"] >= 2 and recaps["verify"]["failed"] == 0   # passed checks count as ok
    finally:
        closed.close()
        nsprov("destroy", "-i", str(lab3.inventory), "--lab", "shape", "--limit", "lab1", check=False)


@pytest.fixture
def silent_port():
    """A listener on loopback that accepts and never speaks SSH."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join()
    for c in held:
        c.close()
    srv.close()


@pytest.mark.parametrize("seconds", ["1", "2.5"])
def test_timeout_is_the_connection_timeout(tmp_path, silent_port, seconds):
    inv = write_inventory(tmp_path / "inv.yml", {"mute": {"ansible_host": "127.0.0.1", "ansible_port": silent_port}})
    proc = nsprov("facts", "-i", str(inv), "-T", seconds, check=False)
    assert proc.returncode == 2
    assert f"sent no SSH greeting within {seconds} s (-T/--timeout)" in proc.stdout + proc.stderr, proc.stdout


def host_column(out: str, section: str) -> list:
    """The host names that start the lines of one PLAY section of console output."""
    part = out.split(f"PLAY [{section}]", 1)[1].split("PLAY ", 1)[0]
    return [line.split()[0] for line in part.splitlines()
            if line.split() and line.split()[0].startswith("lab") and " transport {" not in line]


def test_console_lines_come_host_by_host_with_loops_folded(lab3, book):
    try:
        first = nsprov("run", "-i", str(lab3.inventory), str(book)).stdout
        # plain lines off a terminal: no live display, no escape codes
        assert "\x1b[" not in first
        assert host_column(first, "base") == ["lab1"] * 3 + ["lab2"] * 3 + ["lab3"] * 3, first
        folded = [line for line in first.splitlines() if "netns hb-n0 ... netns hb-n3" in line]
        assert len(folded) == 3 and all("4 items: 4 changed" in line for line in folded), first
        again = nsprov("run", "-i", str(lab3.inventory), str(book), "-v").stdout
        assert sum(f"netns hb-n{i}  exists" in again for i in range(4)) == 4      # -v: every item
        assert len([line for line in again.splitlines() if "netns hb-n2" in line]) == 3
        assert host_column(again, "base") == ["lab1"] * 6 + ["lab2"] * 6 + ["lab3"] * 6, again
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


PIPED = textwrap.dedent("""\
    - hosts: lab1
      lab: piped
      tasks:
        - netns: {name: "pp-{{ item }}"}
          loop: "{{ range(30) | list }}"
    """)


@pytest.mark.parametrize("mode", [[], ["--json"]])
def test_a_reader_that_goes_away_does_not_stop_the_run(lab3, tmp_path, mode):
    """`nsprov run ... | head -1`: the pipe closes after the first line while the agent works;
    the run still ends whole on the host, with its exit status and no traceback."""
    import json
    import subprocess
    import sys
    book = tmp_path / "piped.yml"
    book.write_text(PIPED)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "nsprov.cli", "run", "-i", str(lab3.inventory), str(book),
                                 "-v", *mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert proc.stdout.readline()          # the first line, then the reader is gone
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0, err
        assert "Traceback" not in err and "BrokenPipe" not in err
        names = {n["name"] for n in json.loads(lab3.ssh("lab1", "ip", "-j", "netns", "list").stdout or "[]")}
        assert {f"pp-{i}" for i in range(30)} <= names
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
