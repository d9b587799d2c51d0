"""containerlab's frr01 lab example (three FRR routers, three PCs), copied from containerlab's
repository, on real lab hosts with Debian's FRR: both of its revisions at once, the one whose
routers bind-mount `daemons` and `frr.conf` (kind linux, FRR images) across three lab hosts, and
today's `kind: frr` one across two others. Everything is checked from outside nsprov: vtysh and
`ip` through nsenter over plain ssh, pings between the PCs, the hosts' process tables, mounts
and files.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import json_events, lab_down, lab_up, nsprov

pytestmark = pytest.mark.lab
FRR01 = Path(__file__).parents[1] / "data" / "topologies" / "containerlab" / "frr01"
PCS = {"PC1": "192.168.11.2", "PC2": "192.168.12.2", "PC3": "192.168.13.2"}
NEIGHBOURS = {"router1": 2, "router2": 2, "router3": 2}     # frr01's triangle: each router has two
OSPF_WITHIN = 60     # OSPF waits its dead interval (40 s) before electing a DR on a broadcast link


def sh(lab, host: str, command: str, check: bool = True):
    return lab.ssh(host, "sh", "-c", command, check=check)


def inside(node: str, command: str) -> str:
    """COMMAND in the node's own mount and network namespaces, entered by nsenter on the host."""
    pins = f"/run/nsprov/ns/clab-frr01-{node}"
    return f"nsenter --net={pins}/net --mount={pins}/mnt -- {command}"


def run(lab, path, place: dict, *extra, command: str = "run", check: bool = True):
    args = [a for node, host in place.items() for a in ("--place", f"{node}={host}")]
    proc = nsprov(command, "-i", str(lab.inventory), str(path), *args, *extra, "--json", check=check)
    return proc, json_events(proc.stdout)


def changed(events) -> list:
    return [e["name"] for e in events if e["event"] == "task" and e["status"] == "changed"]


def full_neighbours(lab, host: str, router: str) -> int:
    out = sh(lab, host, inside(router, "vtysh -c 'show ip ospf neighbor json'"), check=False).stdout
    try:
        found = json.loads(out or "{}").get("neighbors", {})
    except ValueError:
        return 0
    return sum(n["state"].startswith("Full") for entries in found.values() for n in entries)


def wait_full(labs: list, started: float) -> dict:
    """{(host, router): seconds from the run's start until every adjacency of it was Full}."""
    left = {(lab, host, r): n for lab, place in labs for r, n in NEIGHBOURS.items() for host in [place[r]]}
    took = {}
    while left and time.monotonic() - started < OSPF_WITHIN + 10:
        for key in list(left):
            lab, host, router = key
            if full_neighbours(lab, host, router) == left[key]:
                took[(host, router)] = time.monotonic() - started
                del left[key]
        time.sleep(0.5)
    assert not left, f"OSPF not Full within {OSPF_WITHIN + 10} s: {[(h, r) for _, h, r in left]}"
    return took


def frr_processes(lab, host: str) -> list:
    return [line for line in sh(lab, host, "ps -eo pid,args").stdout.splitlines() if "/usr/lib/frr/" in line
            and "supervise" not in line]


def pid_of(lab, host: str, router: str, daemon: str) -> int:
    """The daemon's PID: the one in the router's network namespace (each router has one of each)."""
    want = sh(lab, host, f"stat -L -c %i /run/nsprov/ns/clab-frr01-{router}/net").stdout.strip()
    for line in frr_processes(lab, host):
        pid, args = line.split(None, 1)
        if args.startswith(f"/usr/lib/frr/{daemon} ") and sh(lab, host, f"stat -L -c %i /proc/{pid}/ns/net",
                                                           check=False).stdout.strip() == want:
            return int(pid)
    raise AssertionError(f"no {daemon} in {router} on {host}")


def pc_interfaces(lab, place: dict, script: Path) -> None:
    """containerlab's PC-interfaces.sh, each `sudo docker exec -d NODE CMD...` run as `nsprov exec`."""
    for line in script.read_text().splitlines():
        words = shlex.split(line)
        if words[:4] == ["sudo", "docker", "exec", "-d"]:
            node = words[4]
            nsprov("exec", "-i", str(lab.inventory), place[node.rsplit("-", 1)[1]], node, "--", *words[5:])


def pings(lab, place: dict) -> dict:
    """Whether each PC's ping reaches each other PC (OSPF installs its routes a few seconds after
    Full: up to 15 tries, a second apart)."""
    return {(src, dst): sh(lab, place[src], f"for i in $(seq 15); do ip netns exec clab-frr01-{src} ping -c1 -W1 "
                                            f"{address} >/dev/null && exit 0; sleep 1; done; exit 1",
                           check=False).returncode == 0
            for src in PCS for dst, address in PCS.items() if dst != src}


def host_state(lab, host: str) -> dict:
    """What the lab's FRR nodes leave on a host: netns, sets, FRR processes, kept files, mounts."""
    return {"netns": sh(lab, host, "ip netns list").stdout.count("clab-frr01"),
            "sets": sh(lab, host, "ls /run/nsprov/ns", check=False).stdout.count("clab-frr01"),
            "frr": frr_processes(lab, host),
            "files": sh(lab, host, "ls /var/lib/nsprov/files 2>/dev/null | grep -c frr01 || true").stdout.strip(),
            "mounts": sh(lab, host, "grep -c -e ' /etc/frr' -e ' /run/frr' /proc/self/mountinfo || true").stdout.strip(),
            "etc_frr": sh(lab, host, "sha256sum /etc/frr/frr.conf /etc/frr/daemons").stdout}


def test_frr01_as_containerlab_has_it_routes_across_three_and_two_lab_hosts(lab3, tmp_path):
    binds, today = tmp_path / "binds", tmp_path / "today"
    shutil.copytree(FRR01, binds)
    shutil.copytree(FRR01, today)
    two = lab_up(tmp_path / "two", 2)
    three_place = {**{f"router{i}": f"lab{i}" for i in (1, 2, 3)}, **{f"PC{i}": f"lab{i}" for i in (1, 2, 3)}}
    two_place = {"router1": "lab1", "router2": "lab1", "PC1": "lab1", "PC2": "lab1", "router3": "lab2",
                 "PC3": "lab2"}
    labs = [(lab3, three_place), (two, two_place)]
    files = {(lab, h): host_state(lab, h) for lab, place in labs for h in sorted(set(place.values()))}
    book = {id(lab3): binds / "frr01-linux-binds.clab.yml", id(two): today / "frr01.clab.yml"}
    try:
        started = time.monotonic()
        for lab, place in labs:
            proc, events = run(lab, book[id(lab)], place)
            assert "no role for image" not in proc.stderr      # FRR's and network-multitool's images are known
        ran_in = time.monotonic() - started
        pc_interfaces(lab3, three_place, binds / "PC-interfaces.sh")   # the binds revision's PCs, as it did them
        # a re-run changes nothing and restarts no daemon (while OSPF's 40 s wait timer runs)
        zebra = pid_of(lab3, "lab2", "router2", "zebra")
        for lab, place in labs:
            assert changed(run(lab, book[id(lab)], place)[1]) == []
        assert pid_of(lab3, "lab2", "router2", "zebra") == zebra
        took = wait_full(labs, started)
        print(f"runs took {ran_in:.1f} s; OSPF Full after " + ", ".join(f"{r}@{h} {s:.0f} s"
                                                                         for (h, r), s in sorted(took.items())))
        # every PC pings every other PC, in both labs
        for lab, place in labs:
            reached = pings(lab, place)
            assert all(reached.values()), reached
        # vtysh answers in each router through nsprov exec, with the router's own configuration
        for lab, place in labs:
            for i in (1, 2, 3):
                out = nsprov("exec", "-i", str(lab.inventory), place[f"router{i}"], f"clab-frr01-router{i}", "--",
                             "vtysh", "-c", "show running-config").stdout
                assert f"hostname router{i}" in out and " network 192.168." in out
        # the host's own FRR files were never changed, and the nodes' mounts stay in the nodes
        for (lab, host), before in files.items():
            now = host_state(lab, host)
            assert now["etc_frr"] == before["etc_frr"] and now["mounts"] == before["mounts"] == "0"
        # verify: the routes OSPF learned (and the PCs' pings) pass
        proc, _ = run(lab3, book[id(lab3)], three_place, command="verify")
        assert proc.returncode == 0
        # the binds revision's PCs were given their addresses by hand (nsprov exec, as docker exec did):
        # drift says so; today's revision declares them in exec lines, and its lab is in sync
        drift = nsprov("drift", "-i", str(lab3.inventory), str(book[id(lab3)]),
                       *[a for n, h in three_place.items() for a in ("--place", f"{n}={h}")], check=False)
        assert drift.returncode == 1 and "192.168.11.2/24 on eth1 in netns clab-frr01-PC1" in drift.stdout
        assert "router" not in drift.stdout                  # what the routers' daemons add is theirs
        _config_changes_are_reloaded(lab3, binds, three_place, book[id(lab3)], zebra)
        _a_dead_daemon(two, two_place, book[id(two)])
    finally:
        for lab, place in labs:
            run(lab, book[id(lab)], place, command="destroy", check=False)
        lab_down(two.dir)
    for (lab, host), before in files.items():
        if lab is lab3:
            assert host_state(lab, host) == {**before, "frr": []}, host


def _config_changes_are_reloaded(lab, binds: Path, place: dict, book: Path, zebra: int) -> None:
    """router1 announces its loopback too: a run reloads FRR (zebra keeps its PID) and router3
    learns the route by OSPF."""
    conf = binds / "router1" / "frr.conf"
    conf.write_text(conf.read_text().replace(" network 192.168.11.0/24 area 0.0.0.0\n",
                                             " network 192.168.11.0/24 area 0.0.0.0\n"
                                             " network 10.10.10.1/32 area 0.0.0.0\n"))
    before = pid_of(lab, "lab1", "router1", "zebra")
    proc, events = run(lab, book, place)
    reloads = [e for e in events if e["event"] == "task" and e["status"] == "changed"]
    assert [e["module"] for e in reloads] == ["namespace", "process"]          # the file, then the reload
    assert "reloaded: revision" in reloads[1]["reason"]
    assert pid_of(lab, "lab1", "router1", "zebra") == before
    kept = sh(lab, "lab1", "cat /var/lib/nsprov/files/clab-frr01-router1/etc/frr/frr.conf").stdout
    assert hashlib.sha256(kept.encode()).digest() == hashlib.sha256(conf.read_bytes()).digest()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = json.loads(sh(lab, "lab3", "ip -n clab-frr01-router3 -j route show 10.10.10.1").stdout or "[]")
        if found and found[0].get("protocol") == "ospf":
            break
        time.sleep(0.5)
    assert found and found[0]["protocol"] == "ospf", found
    assert changed(run(lab, book, place)[1]) == []


def _a_dead_daemon(lab, place: dict, book: Path) -> None:
    """A killed ospfd comes back under its supervisor; one that stays dead (its supervisor held
    with SIGSTOP) is drift, and a run starts it again."""
    args = [a for n, h in place.items() for a in ("--place", f"{n}={h}")]
    ospfd = pid_of(lab, "lab2", "router3", "ospfd")
    sh(lab, "lab2", f"kill -9 {ospfd}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if pid_of(lab, "lab2", "router3", "ospfd") != ospfd:
                break
        except AssertionError:
            pass
        time.sleep(0.2)
    again = pid_of(lab, "lab2", "router3", "ospfd")
    assert again != ospfd
    drift = nsprov("drift", "-i", str(lab.inventory), str(book), *args, check=False)
    assert drift.returncode == 0, drift.stdout            # the control: supervised back, in sync
    supervisor = int(sh(lab, "lab2", f"ps -o ppid= -p {again}").stdout)
    sh(lab, "lab2", f"kill -STOP {supervisor}; kill -9 {again}")
    drift = nsprov("drift", "-i", str(lab.inventory), str(book), *args, check=False)
    assert drift.returncode == 1 and "clab-frr01-router3-ospfd" in drift.stdout, drift.stdout
    proc, events = run(lab, book, place)
    assert changed(events) == ["process clab-frr01-router3-ospfd in clab-frr01-router3"], changed(events)
    assert pid_of(lab, "lab2", "router3", "ospfd") != again
    assert sh(lab, "lab2", f"kill -0 {supervisor}", check=False).returncode != 0     # the held one is gone
