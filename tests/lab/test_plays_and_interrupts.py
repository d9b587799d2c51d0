"""Plays run in order across hosts (play 2 starts once play 1 is done everywhere), with still one
connection and one command per host; destroy runs them backwards; and Ctrl-C stops a run at a
safe point: no new host starts, the ledger stays whole, a re-run converges. Checked on the
hosts (ip -j, sshd logs, the ledger file) and by real traffic, never by asking nsprov."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import json_events, nsprov, sshd_counts

pytestmark = pytest.mark.lab

# a TCP server that needs SLOW seconds before it listens, as a slow service does
SERVER = ("import socket, time; time.sleep({slow}); s = socket.socket(); "
          "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', {port})); s.listen(8); "
          "[s.accept()[0].close() for _ in iter(int, 1)]")
CLIENT = "import socket; socket.create_connection(('{ip}', {port}), timeout=2).close()"


def run(*args: str, **kw):
    proc = nsprov(*args, "--json", check=False, **kw)
    return proc, json_events(proc.stdout)


def netns(lab, host: str) -> set:
    return {n["name"] for n in json.loads(lab.ssh(host, "ip", "-j", "netns", "list").stdout or "[]")}


def two_plays(lab, port: int, slow: float, one_play: bool = False) -> str:
    """Play 1: a slow server on lab1, and a check (on lab1) that it listens. Play 2: lab2 and
    lab3 connect to it once, no retry. ONE_PLAY: the same tasks in a single play."""
    server, ip = SERVER.format(slow=slow, port=port), lab.address("lab1")
    client = CLIENT.format(ip=ip, port=port)
    first = textwrap.dedent(f"""\
        - name: the server side
          hosts: lab1
          tasks:
            - process: {{name: slow-server-{port}, command: [python3, -c, "{server}"]}}
            - verify: {{reach: [{{to: {ip}, port: {port}}}]}}
        """)
    second = textwrap.dedent(f"""\
        - name: the clients
          hosts: lab2:lab3
          tasks:
            - exec: {{command: [python3, -c, "{client}"], changed_when: false}}
        """)
    if one_play:   # lab1 serves, lab2 and lab3 connect: side by side, as plays did before
        on_server, on_clients = "      when: inventory_hostname == 'lab1'\n", "      when: inventory_hostname != 'lab1'\n"
        lines = first.replace("hosts: lab1", "hosts: lab1:lab2:lab3").splitlines(keepends=True)
        return ("".join(lines[:4]) + on_server + lines[4] + on_server +
                "    - exec: {command: [python3, -c, \"" + client + "\"], changed_when: false}\n" + on_clients)
    return first + second


def test_play_two_starts_only_once_play_one_is_done_on_every_host(lab3, tmp_path):
    book = tmp_path / "ordered.yml"
    book.write_text(two_plays(lab3, 9301, 1.5))
    try:
        for attempt in range(4):    # not by luck of timing: every time (the control below fails at once)
            proc, events = run("run", "-i", str(lab3.inventory), str(book))
            assert proc.returncode == 0, f"attempt {attempt}: " + proc.stdout[-3000:]
            assert [e["play"] for e in events if e["event"] == "play"] == [0, 1]
            # the clients' tasks came after every one of play 1's
            order = [(e["host"], e["module"]) for e in events if e["event"] == "task"]
            assert order[:2] == [("lab1", "process"), ("lab1", "verify")]
            assert sorted(order[2:]) == [("lab2", "exec"), ("lab3", "exec")]
            nsprov("destroy", "-i", str(lab3.inventory), str(book), "--json")   # the server is slow again
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


def test_control_in_one_play_the_same_clients_run_before_the_server_listens(lab3, tmp_path):
    """Without the barrier the dependency shows: the test above cannot pass by accident."""
    book = tmp_path / "flat.yml"
    book.write_text(two_plays(lab3, 9302, 3.0, one_play=True))
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(book))
        assert proc.returncode == 1
        failed = {e["host"] for e in events if e["event"] == "task" and e["status"] == "failed"}
        assert {"lab2", "lab3"} <= failed
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


FAILING = textwrap.dedent("""\
    - name: one
      hosts: lab1:lab2
      tasks:
        - netns: {name: "p1-{{ inventory_hostname }}"}
        - exec: {command: ["{{ 'false' if inventory_hostname == 'lab2' else 'true' }}"], changed_when: false}
    - name: two
      hosts: lab1:lab2:lab3
      tasks:
        - netns: {name: "p2-{{ inventory_hostname }}"}
    """)


def test_a_host_that_fails_a_play_is_out_of_the_later_ones_and_the_others_go_on(lab3, tmp_path):
    book = tmp_path / "failing.yml"
    book.write_text(FAILING)
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(book))
        assert proc.returncode == 1
        assert "p2-lab1" in netns(lab3, "lab1") and "p2-lab3" in netns(lab3, "lab3")
        assert not {"p1-lab2", "p2-lab2"} & netns(lab3, "lab2")     # play one rolled back there, two never ran
        out = [e for e in events if e["event"] == "host_out"]
        assert [(e["host"], e["name"]) for e in out] == [("lab2", "two")] and "failed" in out[0]["reason"]
        recap = events[-1]["hosts"]
        assert recap["lab2"]["failed"] == 1 and recap["lab1"]["failed"] == 0 and recap["lab3"]["failed"] == 0
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


@pytest.mark.parametrize("how", ["--fail-fast", "any_errors_fatal"])
def test_fail_fast_stops_every_host_at_the_first_failure(lab3, tmp_path, how):
    book = tmp_path / "fatal.yml"
    text = FAILING if how == "--fail-fast" else FAILING.replace("- name: one\n", "- name: one\n  any_errors_fatal: true\n")
    book.write_text(text)
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(book), *([how] if how.startswith("--") else []))
        assert proc.returncode == 1
        assert not any(n.startswith("p2-") for h in ("lab1", "lab2", "lab3") for n in netns(lab3, h))
        assert {e["host"] for e in events if e["event"] == "host_out" and e["name"] == "two"} == {"lab1", "lab2", "lab3"}
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


def test_plays_cost_one_connection_and_one_command_per_host(lab3, tmp_path):
    book = tmp_path / "three-plays.yml"
    book.write_text("".join(f"- name: p{i}\n  hosts: lab2\n  tasks:\n    - netns: {{name: cc{i}}}\n" for i in range(3)))
    before = sshd_counts(lab3, "lab2")
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(book))
        assert proc.returncode == 0, proc.stdout
        after = sshd_counts(lab3, "lab2")
        assert (after["connections"] - before["connections"], after["commands"] - before["commands"]) == (1, 1)
        assert {"cc0", "cc1", "cc2"} <= netns(lab3, "lab2")
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


def test_destroy_runs_the_plays_backwards(lab3, tmp_path):
    book = tmp_path / "backwards.yml"
    book.write_text(textwrap.dedent("""\
        - name: servers
          hosts: lab1
          tasks:
            - netns: {name: srv}
        - name: clients
          hosts: lab2:lab3
          tasks:
            - netns: {name: cli}
        """))
    nsprov("run", "-i", str(lab3.inventory), str(book))
    proc, events = run("destroy", "-i", str(lab3.inventory), str(book))
    assert proc.returncode == 0, proc.stdout
    assert [e["name"] for e in events if e["event"] == "play"] == ["clients", "servers"]
    hosts = [e["host"] for e in events if e["event"] == "task"]
    assert sorted(hosts[:2]) == ["lab2", "lab3"] and hosts[2:] == ["lab1"]
    assert "srv" not in netns(lab3, "lab1") and "cli" not in netns(lab3, "lab2")


# ------------------------------------------------------------------ Ctrl-C
SLOW = textwrap.dedent("""\
    - hosts: lab
      tasks:
        - netns: {name: "int-{{ item }}"}
          loop: [a, b]
        - exec: {command: [sleep, "0.6"], changed_when: false}
        - netns: {name: "int-{{ item }}"}
          loop: [c, d]
        - exec: {command: [sleep, "0.6"], changed_when: false}
        - netns: {name: int-e}
    """)


def _ledger(lab, host: str) -> list:
    out = lab.ssh(host, "cat", "/var/lib/nsprov/ledger.json", check=False).stdout
    return sorted(e["name"] for e in json.loads(out)["objects"]) if out else []


def _interrupt(lab, book, after: float, times: int = 1) -> tuple:
    proc = subprocess.Popen([sys.executable, "-m", "nsprov.cli", "run", "-i", str(lab.inventory), str(book), "--json",
                             "--forks", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(after)
    for _ in range(times):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
    stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, json_events(stdout), stderr


@pytest.mark.parametrize("after", [0.7, 1.5, 2.6])
def test_ctrl_c_stops_at_a_safe_point_and_hosts_not_started_stay_untouched(lab3, tmp_path, after):
    book = tmp_path / f"slow{int(after * 10)}.yml"
    book.write_text(SLOW)
    before = {h: sshd_counts(lab3, h)["commands"] for h in ("lab1", "lab2", "lab3")}
    try:
        code, events, stderr = _interrupt(lab3, book, after)
        assert code == 130, stderr
        assert "interrupted" in stderr
        done = {e["host"]: e for e in events if e["event"] == "host_done"}
        started = [h for h in ("lab1", "lab2", "lab3") if sshd_counts(lab3, h)["commands"] > before[h]]
        assert started and started == ["lab1", "lab2", "lab3"][:len(started)]      # --forks 1: in order
        assert any(done[h]["status"] == "interrupted" for h in done)
        assert events[-1]["event"] == "recap" and any(r.get("interrupted") for r in events[-1]["hosts"].values())
        for h in ("lab1", "lab2", "lab3"):
            made = {n for n in netns(lab3, h) if n.startswith("int-")}
            if h not in started:
                assert made == set() and done[h]["status"] == "interrupted"      # never touched
            # the ledger is whole: every object on the host is recorded, nothing more
            assert made == {n for n in _ledger(lab3, h) if n.startswith("int-")}
        # a re-run converges, and destroy removes all
        proc = nsprov("run", "-i", str(lab3.inventory), str(book), "--json", check=False)
        assert proc.returncode == 0, proc.stdout[-2000:]
        assert all({"int-a", "int-e"} <= netns(lab3, h) for h in ("lab1", "lab2", "lab3"))
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
    assert not any(n.startswith("int-") for h in ("lab1", "lab2", "lab3") for n in netns(lab3, h))
    assert not any(n.startswith("int-") for h in ("lab1", "lab2", "lab3") for n in _ledger(lab3, h))


def test_a_second_ctrl_c_leaves_at_once_naming_the_hosts_still_working(lab3, tmp_path):
    book = tmp_path / "slower.yml"
    book.write_text("- hosts: lab1\n  tasks:\n    - exec: {command: [sleep, '3'], changed_when: false}\n"
                    "    - netns: {name: int-late}\n")
    try:
        began = time.monotonic()
        code, events, stderr = _interrupt(lab3, book, 1.0, times=2)
        assert code == 130 and time.monotonic() - began < 2.5     # it did not wait for the sleep
        assert "interrupted again: leaving now; still working: lab1" in stderr
        time.sleep(3)   # the agent, told to stop, finishes its task and stops before the next
        assert "int-late" not in netns(lab3, "lab1")
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
