"""Namespace sets of every kind, processes inside them, and `nsprov verify`, on lab hosts.

Each seed playbook is built, then checked from outside with nsenter, /proc and stat over plain
ssh; the verifier must pass on a correct set and fail on a deliberately broken one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab
PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
PIN = "/run/nsprov/ns"


def run(*args: str, check: bool = False):
    proc = nsprov(*args, "--json", check=False)
    events = json_events(proc.stdout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, events


def recap(events: list) -> dict:
    return events[-1]["hosts"]


def inode(lab, host: str, path: str) -> str:
    return lab.ssh(host, "stat", "-L", "-c", "%i", path).stdout.strip()


@pytest.fixture
def playbook(lab3, tmp_path):
    """Copy a seed playbook under a fresh owner name, limited to lab2; destroyed afterwards."""
    made = []

    def copy(name: str) -> str:
        dst = tmp_path / name
        shutil.copy(PLAYBOOKS / name, dst)
        made.append(str(dst))
        return str(dst)
    yield copy
    for book in made:
        nsprov("destroy", "-i", str(lab3.inventory), book, "--limit", "lab2", check=False)


def independent_check(lab, kind: str) -> None:
    """What each seed demo shows, observed with plain tools on the host."""
    if kind == "uts":
        assert lab.ssh("lab2", "nsenter", f"--uts={PIN}/uts-demo/uts", "hostname").stdout.strip() == "bird"
        assert lab.ssh("lab2", "hostname").stdout.strip() == "lab2"
    elif kind == "ipc":
        assert inode(lab, "lab2", f"{PIN}/ipc-demo/ipc") != inode(lab, "lab2", "/proc/1/ns/ipc")
        key = lab.ssh("lab2", "sh", "-c", "ipcmk -Q | awk '{print $4}'").stdout.strip()
        try:
            assert key in lab.ssh("lab2", "ipcs", "-q").stdout
            assert key not in lab.ssh("lab2", "nsenter", f"--ipc={PIN}/ipc-demo/ipc", "ipcs", "-q").stdout
        finally:
            lab.ssh("lab2", "ipcrm", "-q", key, check=False)
    elif kind == "pid":
        inside = lab.ssh("lab2", "nsenter", f"--pid={PIN}/pid-demo/pid", f"--mount={PIN}/pid-demo/mnt",
                         "ps", "-eo", "pid=,args=").stdout
        rows = [line.split(None, 1) for line in inside.strip().splitlines()]
        assert rows[0][0] == "1" and any("sleep infinity" in r[1] for r in rows)
        host_sleepers = lab.ssh("lab2", "pgrep", "-fx", "sleep infinity").stdout.split()
        inside_sleeper = next(r[0] for r in rows if "sleep infinity" in r[1])
        assert host_sleepers and inside_sleeper not in host_sleepers   # another PID on the host
    elif kind == "mount":
        inside = lab.ssh("lab2", "nsenter", f"--mount={PIN}/mnt-demo/mnt", "findmnt", "-n", "-o", "FSTYPE",
                         "/mnt").stdout.strip()
        assert inside == "tmpfs"
        assert lab.ssh("lab2", "findmnt", "-n", "/mnt", check=False).returncode == 1
    elif kind == "user":
        uid = lab.ssh("lab2", "nsenter", f"--user={PIN}/user-demo/user", "id", "-u").stdout.strip()
        assert uid == "0"
        lab.ssh("lab2", "sh", "-c", "rm -rf /tmp/userdemo && mkdir -m 777 /tmp/userdemo")
        lab.ssh("lab2", "nsenter", f"--user={PIN}/user-demo/user", "touch", "/tmp/userdemo/f")
        assert lab.ssh("lab2", "stat", "-c", "%u", "/tmp/userdemo/f").stdout.strip() == "100000"
        lab.ssh("lab2", "rm", "-rf", "/tmp/userdemo")


SEEDS = {"uts": "uts-demo", "ipc": "ipc-demo", "pid": "pid-demo", "mount": "mnt-demo", "user": "user-demo"}


@pytest.mark.parametrize("kind", SEEDS)
def test_each_seed_playbook_builds_verifies_and_is_idempotent(lab3, playbook, kind):
    book = playbook(f"{kind}.yml")
    name = SEEDS[kind]
    # check mode first: nothing is made
    proc, events = run("run", "-i", str(lab3.inventory), book, "--limit", "lab2", "--check", check=True)
    assert recap(events)["lab2"]["changed"] >= 1
    assert lab3.ssh("lab2", "test", "-e", f"{PIN}/{name}", check=False).returncode == 1
    proc, events = run("run", "-i", str(lab3.inventory), book, "--limit", "lab2", check=True)
    assert recap(events)["lab2"]["changed"] >= 1 and recap(events)["lab2"]["failed"] == 0
    independent_check(lab3, kind)
    pins = lab3.ssh("lab2", "sh", "-c", f"stat -L -c '%n %i' {PIN}/{name}/*").stdout
    proc, events = run("run", "-i", str(lab3.inventory), book, "--limit", "lab2", check=True)
    assert recap(events)["lab2"]["changed"] == 0
    assert lab3.ssh("lab2", "sh", "-c", f"stat -L -c '%n %i' {PIN}/{name}/*").stdout == pins
    proc, events = run("verify", "-i", str(lab3.inventory), book, "--limit", "lab2", check=True)
    checks = [e for e in events if e["event"] == "check"]
    assert checks and all(c["passed"] for c in checks)
    # destroy: pins, init and any process gone
    run("destroy", "-i", str(lab3.inventory), book, "--limit", "lab2", check=True)
    assert lab3.ssh("lab2", "test", "-e", f"{PIN}/{name}", check=False).returncode == 1
    assert lab3.ssh("lab2", "pgrep", "-fx", "sleep infinity", check=False).returncode == 1


def test_isolation_box_with_all_six_kinds(lab3, playbook, tmp_path):
    book = playbook("isolation.yml")
    proc, events = run("run", "-i", str(lab3.inventory), book, "--limit", "lab2", check=True)
    assert recap(events)["lab2"] == {"ok": 4, "changed": 3, "failed": 0, "skipped": 0, "unreachable": False}
    for kind in ("uts", "ipc", "pid", "mnt", "user", "net"):
        assert inode(lab3, "lab2", f"{PIN}/box1/{kind}") != inode(lab3, "lab2", f"/proc/1/ns/{kind}")
    assert "box1" in lab3.ssh("lab2", "ip", "netns", "list").stdout
    # the web server inside answers on the box's address, from the host
    lab3.ssh("lab2", "python3", "-c", "import urllib.request; urllib.request.urlopen('http://10.3.0.2:8000/', "
                                      "timeout=5).read()")
    proc, events = run("verify", "-i", str(lab3.inventory), book, "--limit", "lab2", check=True)
    checks = [e for e in events if e["event"] == "check"]
    assert len(checks) >= 20 and all(c["passed"] for c in checks)
    names = {c["check"] for c in checks}
    assert {"uts: hostname inside", "ipc: queue made inside invisible on the host",
            "pid: the set's init is PID 1 inside", "mnt: a mount made inside is absent on the host",
            "user: a file made inside belongs to the mapped uid", "net: none of the host's interfaces inside",
            "reach", "no_reach"} <= names
    # nsprov exec streams output and hands back the exit status
    proc = nsprov("exec", "-i", str(lab3.inventory), "lab2", "box1", "--", "sh", "-c",
                  "hostname; id -u; echo oops >&2; exit 7", check=False)
    assert proc.returncode == 7
    assert proc.stdout.split() == ["box1", "0"] and "oops" in proc.stderr
    # the pytest plugin: testinfra checks inside the box, through the same inventory
    test_file = tmp_path / "test_box.py"
    test_file.write_text(textwrap.dedent("""\
        def test_box(nsprov_ns_host):
            box = nsprov_ns_host("lab2", "box1")
            assert box.check_output("hostname") == "box1"
            assert box.socket("tcp://10.3.0.2:8000").is_listening
            assert box.interface("eth0").addresses[0] == "10.3.0.2"

        def test_host(nsprov_host):
            assert nsprov_host.file("/run/nsprov/ns/box1/uts").exists
            assert nsprov_host.check_output("hostname") == "lab2"

        def test_that_must_fail(nsprov_ns_host):
            assert nsprov_ns_host("lab2", "box1").check_output("hostname") == "lab2"
        """))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file),
                           "--nsprov-inventory", str(lab3.inventory), "--nsprov-limit", "lab2"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert "1 failed, 2 passed" in proc.stdout, proc.stdout
    assert "test_that_must_fail" in proc.stdout


def test_verify_fails_when_isolation_is_broken(lab3, tmp_path):
    """A set that shares the host's uts, ipc, pid and mount namespaces must fail every such check."""
    book = tmp_path / "broken.yml"
    book.write_text(textwrap.dedent("""\
        - hosts: lab2
          tasks:
            - namespace: {name: shared, kinds: [net]}
            - verify:
                hostname: [{namespace: shared, equals: shared-box}]
                ipc_isolated: [shared]
                pid1: [shared]
                mount_isolated: [shared]
        """))
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(book))
        assert proc.returncode == 1
        task = next(e for e in events if e["event"] == "task" and e["module"] == "verify")
        assert task["status"] == "failed"
        failed = {c["check"] for c in task["checks"] if not c["passed"]}
        assert {"uts: hostname inside", "ipc: host's message queue invisible inside",
                "ipc: queue made inside invisible on the host", "pid: the set's init is PID 1 inside",
                "mnt: a mount made inside is absent on the host"} <= failed
        # the build itself stays: a failed check reports, it does not roll back
        assert "shared" in lab3.ssh("lab2", "ip", "netns", "list").stdout
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


def test_verify_catches_a_namespace_swapped_for_the_hosts(lab3, playbook):
    book = playbook("uts.yml")
    run("run", "-i", str(lab3.inventory), book, "--limit", "lab2", check=True)
    # someone replaces the set's UTS namespace with the host's own
    lab3.ssh("lab2", "mount", "--bind", "/proc/1/ns/uts", f"{PIN}/uts-demo/uts")
    try:
        proc, events = run("verify", "-i", str(lab3.inventory), book, "--limit", "lab2")
        assert proc.returncode == 1
        failed = {c["check"] for c in events if c["event"] == "check" and not c["passed"]}
        assert {"uts namespace", "uts: hostname inside"} <= failed
    finally:
        lab3.ssh("lab2", "umount", f"{PIN}/uts-demo/uts", check=False)


def test_a_dead_process_is_restarted_on_rerun(lab3, playbook):
    book = playbook("pid.yml")
    run("run", "-i", str(lab3.inventory), book, "--limit", "lab2", check=True)
    first = lab3.ssh("lab2", "pgrep", "-fx", "sleep infinity").stdout.split()
    assert len(first) == 1
    lab3.ssh("lab2", "kill", "-9", first[0])
    proc, events = run("run", "-i", str(lab3.inventory), book, "--limit", "lab2", check=True)
    task = next(e for e in events if e["event"] == "task" and e["module"] == "process")
    assert task["status"] == "changed" and "restarted" in task["reason"]
    second = lab3.ssh("lab2", "pgrep", "-fx", "sleep infinity").stdout.split()
    assert len(second) == 1 and second != first


def test_exec_runs_once_with_creates_and_reports_changed(lab3, tmp_path):
    book = tmp_path / "exec.yml"
    book.write_text(textwrap.dedent("""\
        - hosts: lab2
          tasks:
            - netns: {name: ex1}
            - exec:
                netns: ex1
                command: [sh, -c, "ip -o link show > /tmp/ex1-links"]
                creates: /tmp/ex1-links
            - exec: {command: ["true"], changed_when: false}
        """))
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(book), check=True)
        tasks = [e for e in events if e["event"] == "task"]
        assert [t["status"] for t in tasks] == ["changed", "changed", "ok"]
        links = lab3.ssh("lab2", "cat", "/tmp/ex1-links").stdout
        assert "lo" in links and "eth0" not in links      # it ran inside ex1
        proc, events = run("run", "-i", str(lab3.inventory), str(book), check=True)
        tasks = [e for e in events if e["event"] == "task"]
        assert [t["status"] for t in tasks] == ["ok", "ok", "ok"]
        assert "exists: not run" in tasks[1]["reason"]
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
        lab3.ssh("lab2", "rm", "-f", "/tmp/ex1-links", check=False)


def test_namespace_bad_input(lab3, tmp_path):
    book = tmp_path / "bad.yml"
    book.write_text("- hosts: lab2\n  tasks:\n    - namespace: {name: b, kinds: [uts, bogus]}\n"
                    "    - namespace: {name: c, kinds: [net], hostname: c}\n"
                    "    - process: {name: p, namespace: ghost, command: [sleep, '1']}\n"
                    "    - process: {name: q, command: 'sleep 1; rm -rf /'}\n")
    proc = nsprov("run", "-i", str(lab3.inventory), str(book), check=False)
    assert proc.returncode == 2
    err = proc.stderr
    assert f"{book}:3:" in err and "unknown namespace kind 'bogus'" in err
    assert f"{book}:4:" in err and "hostname: needs kind uts" in err
    assert f"{book}:5:" in err and "namespace set 'ghost' is not declared" in err
    assert f"{book}:6:" in err and "never a shell string" in err
