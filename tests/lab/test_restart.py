"""`restart: always` on a process, on a real lab host, checked with the host's own /proc (ps),
never by asking nsprov:
- the command runs as the child of its supervisor; killed, it is started again at once by the
  same supervisor, and the log says so; `drift` says in sync and a run changes nothing;
- the control: the same command without `restart`, killed, stays dead until a run: drift names
  it and the run restarts it;
- a changed restart policy starts the process again under the new one; destroy leaves no
  process of the lab behind (supervisor and child)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab
HOST = "lab2"


def book(tmp_path, restart: str = "always") -> str:
    path = tmp_path / "restart.yml"
    path.write_text(f"""\
- hosts: {HOST}
  lab: restarts
  tasks:
    - netns: {{name: rsa}}
    - process: {{name: rs-kept, netns: rsa, restart: {restart}, command: [sleep, "1001"]}}
    - process: {{name: rs-plain, netns: rsa, command: [sleep, "1002"]}}
""")
    return str(path)


def processes(lab) -> list:
    """(pid, ppid, args) of every process on the host."""
    out = lab.ssh(HOST, "ps", "-eo", "pid=,ppid=,args=").stdout
    return [(int(p), int(pp), args) for p, pp, args in (line.split(None, 2) for line in out.splitlines())]


def running(lab, what: str) -> list:
    return [(pid, ppid) for pid, ppid, args in processes(lab) if args == what]


def changed(events) -> list:
    return [e["name"] for e in events if e["event"] == "task" and e["status"] == "changed"]


def test_a_process_with_restart_always_is_started_again_when_it_dies_and_without_it_stays_dead(lab3, tmp_path):
    path = book(tmp_path)
    try:
        nsprov("run", "-i", str(lab3.inventory), path)
        [(child, supervisor)] = running(lab3, "sleep 1001")
        assert any(pid == supervisor and "supervise always" in args for pid, _, args in processes(lab3))
        lab3.ssh(HOST, "kill", "-9", str(child))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and [p for p, _ in running(lab3, "sleep 1001") if p != child] == []:
            time.sleep(0.2)
        [(again, parent)] = running(lab3, "sleep 1001")
        assert again != child and parent == supervisor
        log = lab3.ssh(HOST, "cat", "/var/lib/nsprov/log/restarts/rs-kept.log").stdout
        assert "nsprov: sleep exited with status -9; starting it again in 1 s" in log
        drift = nsprov("drift", "-i", str(lab3.inventory), path, "--json", check=False)
        assert drift.returncode == 0, drift.stdout
        # the control: without restart, a killed process stays dead until a run
        [(plain, _)] = running(lab3, "sleep 1002")
        lab3.ssh(HOST, "kill", "-9", str(plain))
        time.sleep(1.5)
        assert running(lab3, "sleep 1002") == []
        drift = nsprov("drift", "-i", str(lab3.inventory), path, "--json", check=False)
        assert drift.returncode == 1 and changed(json_events(drift.stdout)) == ["process rs-plain in rsa"]
        events = json_events(nsprov("run", "-i", str(lab3.inventory), path, "--json").stdout)
        assert changed(events) == ["process rs-plain in rsa"] and len(running(lab3, "sleep 1002")) == 1
        # a new policy starts it again under that one
        events = json_events(nsprov("run", "-i", str(lab3.inventory), book(tmp_path, "on-failure"), "--json").stdout)
        assert changed(events) == ["process rs-kept in rsa"]
        assert any("supervise on-failure" in args for _, _, args in processes(lab3))
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), path, check=False)
    assert [args for _, _, args in processes(lab3) if "sleep 100" in args or "supervise" in args] == []
