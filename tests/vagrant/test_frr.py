"""containerlab's frr01 lab example (today's revision: `kind: frr`, `startup-config`,
`extras.frr.daemons`) across the two VMs, whose own FRR service runs as Debian starts it: the
routers' daemons run beside it, in their nodes, and never touch it. Checked with testinfra over
the VMs' ssh: vtysh through nsenter, pings between the PCs, the VMs' process tables and files."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import nsprov
from tests.vagrant.test_vagrant import run, vms  # noqa: F401  (vms: the fixture)

pytestmark = pytest.mark.vagrant
FRR01 = Path(__file__).parents[1] / "data" / "topologies" / "containerlab" / "frr01"
PLACE = {"router1": "node1", "router2": "node1", "PC1": "node1", "PC2": "node1", "router3": "node2",
         "PC3": "node2"}
PCS = {"PC1": "192.168.11.2", "PC2": "192.168.12.2", "PC3": "192.168.13.2"}


def _host_frr(vms, name: str) -> dict:
    """The VM's own FRR: its service, the PIDs of its daemons (those in PID 1's network
    namespace), and its configuration files."""
    seen = vms.sh(name, "stat -L -c %i /proc/1/ns/net; for p in $(pgrep -f '^/usr/lib/frr/'); do "
                        "echo $p $(stat -L -c %i /proc/$p/ns/net 2>/dev/null); done").split("\n")  # one look
    own = seen[0].strip()
    pids = sorted(int(line.split()[0]) for line in seen[1:] if line.split()[1:] == [own])
    return {"active": vms[name].run("systemctl is-active frr").stdout.strip(), "pids": pids,
            "files": vms.sh(name, "sha256sum /etc/frr/frr.conf /etc/frr/daemons /etc/frr/vtysh.conf")}


def _full(vms, name: str, router: str) -> int:
    pins = f"/run/nsprov/ns/clab-frr01-{router}"
    out = vms[name].run(f"nsenter --net={pins}/net --mount={pins}/mnt -- vtysh -c 'show ip ospf neighbor json'")
    try:
        found = json.loads(out.stdout or "{}").get("neighbors", {})
    except ValueError:
        return 0
    return sum(n["state"].startswith("Full") for entries in found.values() for n in entries)


def test_frr01_across_the_two_vms_beside_their_own_frr(vms, tmp_path):
    inventory, lab = vms.underlay_inventory(tmp_path / "inventory.yml"), tmp_path / "frr01"
    shutil.copytree(FRR01, lab)
    topo = lab / "frr01.clab.yml"
    place = [a for n, h in PLACE.items() for a in ("--place", f"{n}={h}")]
    before = {n: _host_frr(vms, n) for n in vms.names}
    assert all(b["active"] == "active" and b["pids"] for b in before.values()), before
    try:
        started = time.monotonic()
        run("run", "-i", str(inventory), str(topo), *place)
        # a re-run changes nothing, while OSPF's wait timer runs (RFC 2328: 40 s on broadcast links)
        proc, events, recap = run("run", "-i", str(inventory), str(topo), *place)
        assert recap["node1"]["changed"] == recap["node2"]["changed"] == 0
        left = {"router1": "node1", "router2": "node1", "router3": "node2"}
        while left and time.monotonic() - started < 120:
            left = {r: n for r, n in left.items() if _full(vms, n, r) < 2}
            time.sleep(1)
        assert not left, f"OSPF not Full after 120 s in {left}"
        print(f"OSPF Full on every adjacency {time.monotonic() - started:.0f} s after the run started")
        for src, host in ((p, PLACE[p]) for p in PCS):
            for dst, address in PCS.items():
                if dst != src:
                    assert vms[host].run(f"for i in $(seq 15); do ip netns exec clab-frr01-{src} ping -c1 -W1 "
                                         f"{address} && exit 0; sleep 1; done; exit 1").rc == 0, (src, dst)
        for i, host in ((1, "node1"), (2, "node1"), (3, "node2")):
            out = nsprov("exec", "-i", str(inventory), host, f"clab-frr01-router{i}", "--", "vtysh", "-c",
                         "show ip ospf neighbor").stdout
            assert out.count("Full/") == 2, out
        print(f"pings and vtysh done {time.monotonic() - started:.0f} s after the run started")
        # the VMs' own FRR ran on, untouched, beside the nodes' daemons
        assert {n: _host_frr(vms, n) for n in vms.names} == before
    finally:
        nsprov("destroy", "-i", str(inventory), str(topo), *place, check=False)
    for n in vms.names:
        assert not {x for x in vms.netns(n) if x.startswith("clab-frr01-")}
        assert vms.sh(n, "ls /var/lib/nsprov/files 2>/dev/null | grep -c frr01 || true").strip() == "0"
    assert {n: _host_frr(vms, n) for n in vms.names} == before           # only its own daemons are left
