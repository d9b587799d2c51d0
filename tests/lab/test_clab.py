"""containerlab topology files on real lab hosts, checked with `ip -j`, `ip netns exec` and real
packets, never by asking nsprov:
- a topology file, as containerlab users write it, on one host: the nodes are network namespaces
  named as containerlab names its containers, the bridge node a bridge, links veths with the
  addresses declared; exec lines run in their node in order (a failing one is reported and the
  next still runs), cmd is a process; packets cross the chain through the middle node; a re-run
  changes nothing; `verify` pings between nodes that share a subnet; destroy leaves nothing;
- the same format across two hosts: a link between nodes placed on different hosts is a VXLAN
  pair over the lab switch, and the nodes reach each other.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import host_entry, json_events, nsprov, write_inventory

pytestmark = pytest.mark.lab
CHAIN = Path(__file__).parents[1] / "data" / "topologies" / "chain.clab.yml"


def sh(lab, host: str, command: str, check: bool = True):
    return lab.ssh(host, "sh", "-c", command, check=check)


def run(lab, command: str, path, *extra, check=True):
    proc = nsprov(command, "-i", str(lab.inventory), str(path), *extra, "--json", check=check)
    return proc, json_events(proc.stdout)


def netns(lab, host: str) -> set:
    return {x["name"] for x in json.loads(sh(lab, host, "ip -j netns list").stdout or "[]")}


def test_a_containerlab_topology_on_one_host(lab3, tmp_path):
    path = tmp_path / "chain.clab.yml"
    shutil.copy(CHAIN, path)
    try:
        proc, events = run(lab3, "run", path, "--limit", "lab1")
        assert {"clab-chain-a", "clab-chain-b", "clab-chain-c"} <= netns(lab3, "lab1")
        assert netns(lab3, "lab2") & {"clab-chain-a"} == set()
        addrs = json.loads(sh(lab3, "lab1", "ip -n clab-chain-a -j addr show eth1").stdout)[0]
        assert addrs["mtu"] == 9500 and [a["local"] for a in addrs["addr_info"] if a["family"] == "inet"] == ["10.70.1.1"]
        ports = json.loads(sh(lab3, "lab1", "ip -j link show master br-chain").stdout)
        assert [p["ifname"] for p in ports] == ["c-port"]
        # exec lines: c's `false` failed, was reported, and the line after it ran
        failed = [e for e in events if e["event"] == "task" and e["module"] == "exec" and "exit status" in
                  (e.get("reason") or "")]
        assert len(failed) == 1 and "clab-chain-c" in json.dumps(failed[0])
        # a's route (an exec line) and b's forwarding (another) carry a packet across b
        sh(lab3, "lab1", "ip netns exec clab-chain-a ping -c1 -W2 10.70.2.2")
        assert "sleep 3607" in sh(lab3, "lab1", "ip netns pids clab-chain-b | xargs -r ps -o args= -p").stdout
        proc, events = run(lab3, "run", path, "--limit", "lab1")
        assert sum(e["status"] == "changed" for e in events if e["event"] == "task") == 0
        # drift: in sync, its exec lines (which report no change when they run) included
        drift = nsprov("drift", "-i", str(lab3.inventory), str(path), "--limit", "lab1", check=False)
        assert drift.returncode == 0, drift.stdout[-2000:]
        sh(lab3, "lab1", "ip -n clab-chain-a link set eth1 mtu 1400")                # the control: a real drift
        drift = nsprov("drift", "-i", str(lab3.inventory), str(path), "--limit", "lab1", check=False)
        assert drift.returncode == 1 and "mtu 1400" in drift.stdout, drift.stdout[-2000:]
        run(lab3, "run", path, "--limit", "lab1")
        # labs --nodes lists the nodes as containerlab inspect does, from the kernel
        listed = nsprov("labs", "-i", str(lab3.inventory), "--limit", "lab1", "--nodes", "--json")
        nodes = {n["name"]: n for e in json_events(listed.stdout) if e["event"] == "labs"
                 for n in e["labs"]["chain"]["nodes"]}
        assert sorted(nodes) == ["clab-chain-a", "clab-chain-b", "clab-chain-c"]
        assert {"name": "eth1", "addresses": ["10.70.1.1/24"]} in nodes["clab-chain-a"]["interfaces"]
        assert "clab-chain-b" in nsprov("labs", "-i", str(lab3.inventory), "--limit", "lab1", "--nodes").stdout
        proc, events = run(lab3, "verify", path, "--limit", "lab1")
        checks = [c for e in events if e["event"] == "task" for c in e.get("checks", [])] or [
            e for e in events if e["event"] == "check"]
        assert len(checks) >= 4 and all(c["passed"] for c in checks)
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), "--limit", "lab1", check=False)
    assert not {n for n in netns(lab3, "lab1") if n.startswith("clab-chain")}
    assert sh(lab3, "lab1", "ip link show br-chain", check=False).returncode != 0


ACROSS = """\
name: across
topology:
  nodes:
    x: {kind: linux, labels: {nsprov.host: lab1}}
    y: {kind: linux}
  links:
    - type: veth
      endpoints: [{node: x, interface: eth1}, {node: y, interface: eth1}]
      vars: {ipv4: [10.71.0.1/24, 10.71.0.2/24]}
"""


def test_a_topology_across_two_hosts_links_them_by_vxlan(lab3, tmp_path):
    path = tmp_path / "across.clab.yml"
    path.write_text(ACROSS)
    try:
        run(lab3, "run", path, "--limit", "lab1,lab2", "--place", "y=lab2")
        one = json.loads(sh(lab3, "lab1", "ip -n clab-across-x -d -j link show eth1").stdout)[0]
        two = json.loads(sh(lab3, "lab2", "ip -n clab-across-y -d -j link show eth1").stdout)[0]
        assert one["linkinfo"]["info_kind"] == two["linkinfo"]["info_kind"] == "vxlan"
        assert one["linkinfo"]["info_data"]["id"] == two["linkinfo"]["info_data"]["id"]
        sh(lab3, "lab1", "ip netns exec clab-across-x ping -c1 -W2 10.71.0.2")
        proc, events = run(lab3, "run", path, "--limit", "lab1,lab2", "--place", "y=lab2")
        assert sum(e["status"] == "changed" for e in events if e["event"] == "task") == 0
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), "--limit", "lab1,lab2", "--place", "y=lab2",
               check=False)
    assert "clab-across-x" not in netns(lab3, "lab1") and "clab-across-y" not in netns(lab3, "lab2")


CLAB = Path(__file__).parents[1] / "data" / "topologies" / "containerlab"


def test_containerlabs_own_smoke_files_deploy_unmodified(lab3, tmp_path):
    """Two files of containerlab's smoke tests, byte for byte: linux nodes with veth, host and
    mgmt-net links, env reaching cmd; linux nodes on a bridge and a host link."""
    one, three = tmp_path / "01.clab.yml", tmp_path / "03.clab.yml"
    shutil.copy(CLAB / "01-linux-nodes.clab.yml", one)
    shutil.copy(CLAB / "03-linux-nodes-to-bridge-and-host.clab.yml", three)
    # its binds' host files, as containerlab's own smoke test has them
    shutil.copy(CLAB / "01-test.json", tmp_path / "01-test.json")
    (tmp_path / "clab-01-test.txt").write_text("bound\n")
    try:
        proc, events = run(lab3, "run", one, "--limit", "lab3")
        assert "ignores (they are Docker's): " in proc.stderr and "healthcheck (l1)" in proc.stderr
        # l1 has its own mount namespace; its binds' node paths are an image's, not the host's: said, left out
        l1 = next(e for e in events if e["event"] == "task" and e["module"] == "namespace")
        assert "not mounted: no /01-test.txt, /test.json on this host" in l1["reason"]
        assert sh(lab3, "lab3", "ls /01-test.txt /test.json", check=False).returncode != 0
        eth1 = json.loads(sh(lab3, "lab3", "ip -n clab-2-linux-nodes-l1 -j link show eth1").stdout)[0]
        assert eth1["mtu"] == 2000 and eth1["link_netnsid"] is not None
        assert json.loads(sh(lab3, "lab3", "ip -j link show l2eth4").stdout)[0]["ifname"] == "l2eth4"
        mgmt = json.loads(sh(lab3, "lab3", "ip -j link show l2eth5mgmt").stdout)[0]["master"]
        assert mgmt.startswith("mgmt-")
        # l1's cmd (ash -c "echo $MYVAR > /tmp/var && sleep 9999") got the node's env, in its own /tmp
        inside = "nsenter --mount=/run/nsprov/ns/clab-2-linux-nodes-l1/mnt --"
        assert sh(lab3, "lab3", f"for i in 1 2 3 4 5 6 7 8 9 10; do {inside} test -s /tmp/var && break; sleep 0.2; "
                                f"done; {inside} cat /tmp/var").stdout.strip() == "MYVAR is SET"
        assert sh(lab3, "lab3", "test -e /tmp/var", check=False).returncode != 0        # not the host's /tmp
        proc, events = run(lab3, "run", one, "--limit", "lab3")
        assert sum(e["status"] == "changed" for e in events if e["event"] == "task") == 0
        run(lab3, "run", three, "--limit", "lab3")
        ports = json.loads(sh(lab3, "lab3", "ip -j link show master br-01-03-clab").stdout)
        assert sorted(p["ifname"] for p in ports) == ["l1-eth1", "l1-eth2"]
        assert json.loads(sh(lab3, "lab3", "ip -j link show l1-01-03-eth3").stdout)[0]["ifname"] == "l1-01-03-eth3"
    finally:
        for path in (one, three):
            nsprov("destroy", "-i", str(lab3.inventory), str(path), "--limit", "lab3", check=False)
        sh(lab3, "lab3", "rm -f /tmp/var", check=False)
    assert not {n for n in netns(lab3, "lab3") if n.startswith(("clab-2-linux", "clab-03-"))}
    assert sh(lab3, "lab3", "ip link show l2eth4", check=False).returncode != 0


SPREAD = """\
name: spread8
topology:
  defaults:
    kind: linux
  nodes:
    r1: {labels: {nsprov.host: lab1}}
    h1: {labels: {nsprov.host: lab1}}
    h2: {labels: {nsprov.host: lab1}}
    sw1: {kind: bridge, labels: {nsprov.host: lab1}}
    r2: {labels: {nsprov.host: lab2}}
    h3: {labels: {nsprov.host: lab2}}
    r3: {labels: {nsprov.host: lab3}}
    h4: {labels: {nsprov.host: lab3}}
    h5: {labels: {nsprov.host: lab3}}
    h7: {labels: {nsprov.host: lab2}}
EXTRA_NODES
  links:
    - {endpoints: ["h1:eth1", "sw1:p1"], vars: {ipv4: [10.80.1.11/24]}}
    - {endpoints: ["h2:eth1", "sw1:p2"], vars: {ipv4: [10.80.1.12/24]}}
    - {endpoints: ["r1:eth1", "sw1:p3"], vars: {ipv4: [10.80.1.1/24]}}
    - {endpoints: ["r1:eth2", "r2:eth1"], vars: {ipv4: [10.80.12.1/24, 10.80.12.2/24]}}
    - {endpoints: ["r2:eth2", "r3:eth1"], vars: {ipv4: [10.80.23.2/24, 10.80.23.3/24]}}
    - {endpoints: ["r1:eth3", "r3:eth3"], vars: {ipv4: [10.80.13.1/24, 10.80.13.3/24]}}
    - {endpoints: ["r2:eth3", "h3:eth1"], vars: {ipv4: [10.80.2.1/24, 10.80.2.13/24]}}
    - {endpoints: ["r3:eth2", "h4:eth1"], vars: {ipv4: [10.80.3.1/24, 10.80.3.14/24]}}
    - {endpoints: ["h5:eth1", "r3:eth4"], vars: {ipv4: [10.80.5.15/24, 10.80.5.1/24]}}
    - {endpoints: ["h7:eth1", "sw1:p4"], vars: {ipv4: [10.80.1.17/24]}}
EXTRA_LINKS"""
H6 = ("    h6: {labels: {nsprov.host: lab2}}", '    - {endpoints: ["r2:eth4", "h6:eth1"], vars: {ipv4: [10.80.6.1/24, 10.80.6.16/24]}}\n')
HOSTS = ("lab1", "lab2", "lab3")


def _interfaces(lab) -> dict:
    """{(host, netns, name): (kind, ifindex, vxlan id, remote)} of every node's interfaces."""
    out = {}
    for host in HOSTS:
        for ns in sorted(n for n in netns(lab, host) if n.startswith("clab-spread8-")):
            for x in json.loads(sh(lab, host, f"ip -n {ns} -d -j link show").stdout):
                if x["ifname"] != "lo":
                    info = x.get("linkinfo", {})
                    data = info.get("info_data", {})
                    out[(host, ns, x["ifname"])] = (info.get("info_kind"), x["ifindex"], data.get("id"),
                                                    data.get("remote"))
    return out


def test_eight_nodes_over_three_hosts_with_a_bridge_and_links_across(lab3, tmp_path):
    """Each end checked on its host with ip -d -j link; every link pinged from both ends (verify's
    matrix); re-runs keep every ifindex; a node and a link added and removed exactly; destroy
    leaves nothing on any host."""
    path = tmp_path / "spread8.clab.yml"
    path.write_text(SPREAD.replace("EXTRA_NODES\n", "").replace("EXTRA_LINKS", ""))
    limit = ("--limit", ",".join(HOSTS))
    try:
        run(lab3, "run", path, *limit)
        seen = _interfaces(lab3)
        assert len({k[1] for k in seen}) == 9
        crossing = {k: v for k, v in seen.items() if v[0] == "vxlan"}
        assert len(crossing) == 7                    # three links across hosts, two ends each; h7's to sw1
        ports = {p["ifname"]: p for p in json.loads(sh(lab3, "lab1", "ip -d -j link show master sw1").stdout)}
        assert sorted(ports) == ["p1", "p2", "p3", "p4"]
        p4 = ports["p4"]["linkinfo"]["info_data"]    # the bridge's port from lab2: a vxlan on lab1's bridge
        by_id: dict = {p4["id"]: [("lab1", p4["remote"])]}
        for (host, ns, name), (_, _, vni, remote) in crossing.items():
            by_id.setdefault(vni, []).append((host, remote))
        addresses = {h: lab3.address(h) for h in HOSTS}
        assert len(by_id) == 4
        for pair in by_id.values():                  # one VNI per link, each end towards the other host
            assert len(pair) == 2 and pair[0][0] != pair[1][0]
            assert pair[0][1] == addresses[pair[1][0]] and pair[1][1] == addresses[pair[0][0]]
        proc, events = run(lab3, "verify", path, *limit)
        checks = [c for e in events if e["event"] == "task" for c in e.get("checks", [])] or [
            e for e in events if e["event"] == "check"]
        assert len(checks) >= 16 and all(c["passed"] for c in checks), [c for c in checks if not c["passed"]]
        matrix = next(e["from"] for e in events if e["event"] == "matrix")      # node by node, in --json
        assert len(matrix) == 9 and all(all(row.values()) for row in matrix.values())
        assert matrix["clab-spread8-h7"] == {"clab-spread8-h1": True, "clab-spread8-h2": True, "clab-spread8-r1": True}
        proc, events = run(lab3, "run", path, *limit)
        assert sum(e["status"] == "changed" for e in events if e["event"] == "task") == 0
        assert _interfaces(lab3) == seen
        again = json.loads(sh(lab3, "lab1", "ip -j link show p4").stdout)[0]
        assert again["ifindex"] == ports["p4"]["ifindex"] and again["master"] == "sw1"
        path.write_text(SPREAD.replace("EXTRA_NODES", H6[0]).replace("EXTRA_LINKS", H6[1]))
        proc, events = run(lab3, "run", path, *limit)
        assert sorted(e["name"] for e in events if e["event"] == "task" and e["status"] == "changed") == [
            "netns clab-spread8-h6", "veth clab-spread8-r2/eth4<->clab-spread8-h6/eth1"]
        grown = _interfaces(lab3)
        assert {k: v for k, v in grown.items() if k in seen} == seen and len(grown) == len(seen) + 2
        path.write_text(SPREAD.replace("EXTRA_NODES\n", "").replace("EXTRA_LINKS", ""))
        run(lab3, "run", path, *limit)
        assert _interfaces(lab3) == seen
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), *limit, check=False)
    for host in HOSTS:
        assert not {n for n in netns(lab3, host) if n.startswith("clab-spread8-")}
    assert sh(lab3, "lab1", "ip link show sw1", check=False).returncode != 0
    assert sh(lab3, "lab1", "ip link show p4", check=False).returncode != 0


GHOST = """\
name: ghost
topology:
  nodes:
    x: {kind: linux, labels: {nsprov.host: lab1}}
    y: {kind: linux, labels: {nsprov.host: ghost}}
  links:
    - endpoints: ["x:eth1", "y:eth1"]
"""


def test_a_link_whose_other_host_is_unreachable_is_reported_dangling_and_destroyed_from_its_side(lab3, tmp_path):
    """The reachable side is made and the run says the link dangles; destroy from that side alone
    removes it. The unreachable host is loopback's port 1, where nothing listens."""
    inventory = write_inventory(tmp_path / "inv.yml", {
        "lab1": host_entry(lab3, "lab1"),
        "ghost": host_entry(lab3, "lab1", ansible_host="127.0.0.1", ansible_port=1, nsprov_underlay="127.0.0.1")})
    path = tmp_path / "ghost.clab.yml"
    path.write_text(GHOST)
    try:
        proc = nsprov("run", "-i", str(inventory), str(path), "--json", check=False)
        events = json_events(proc.stdout)
        assert proc.returncode == 2, proc.stdout[-2000:]                     # a host unreachable
        loose = [e["message"] for e in events if e["event"] == "dangling"]
        assert len(loose) == 1 and "x:eth1 <-> y:eth1 dangles" in loose[0] and "ghost unreachable" in loose[0]
        assert events[-1]["event"] == "recap"
        end = json.loads(sh(lab3, "lab1", "ip -n clab-ghost-x -d -j link show eth1").stdout)[0]
        assert end["linkinfo"]["info_kind"] == "vxlan" and end["linkinfo"]["info_data"]["remote"] == "127.0.0.1"
    finally:
        nsprov("destroy", "-i", str(inventory), str(path), "--limit", "lab1", check=False)
    assert "clab-ghost-x" not in netns(lab3, "lab1")


EXTRAS = """\
- hosts: lab1
  lab: extras
  tasks:
    - netns: {name: clab-chain-a, lab: LAB}
    - netns: {name: clab-chain-c, lab: LAB}
    - process: {name: extras-web, netns: clab-chain-c, command: [python3, -m, http.server, "8087", --bind, 10.70.2.2]}
    - verify:
        reach: [{from: clab-chain-a, to: 10.70.2.2, port: 8087}]
        path: [{from: clab-chain-a, to: 10.70.2.2, via: [10.70.1.2]}]
"""


def test_a_playbook_uses_a_topologys_nodes_through_lab_and_leaves_them_as_they_are(lab3, tmp_path):
    """A playbook of another lab names the topology's nodes as its netns (`lab: chain`): its
    process runs in one, its checks go from another, through the middle node; its destroy leaves
    the nodes; the control, naming a lab that did not make them, is refused before any change."""
    book = tmp_path / "extras.yml"
    limit = ("--limit", "lab1")
    try:
        run(lab3, "run", CHAIN, *limit)
        index = json.loads(sh(lab3, "lab1", "ip -n clab-chain-a -j link show eth1").stdout)[0]["ifindex"]
        book.write_text(EXTRAS.replace("LAB", "nochain"))
        proc, events = run(lab3, "run", book, check=False)
        assert proc.returncode == 1 and "is not lab nochain's here: it is lab chain's" in proc.stdout
        assert "extras-web" not in sh(lab3, "lab1", "ps -eo args").stdout
        book.write_text(EXTRAS.replace("LAB", "chain"))
        proc, events = run(lab3, "run", book)
        checks = [c for e in events if e["event"] == "task" for c in e.get("checks", [])]
        assert [(c["check"], c["passed"]) for c in checks] == [("reach", True), ("path", True)], checks
        assert checks[1]["observed"] == "10.70.1.2 10.70.2.2"
        proc, events = run(lab3, "run", book)
        assert sum(e["status"] == "changed" for e in events if e["event"] == "task") == 0
        run(lab3, "destroy", book)
        assert {"clab-chain-a", "clab-chain-c"} <= netns(lab3, "lab1")         # the topology's, untouched
        assert json.loads(sh(lab3, "lab1", "ip -n clab-chain-a -j link show eth1").stdout)[0]["ifindex"] == index
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
        nsprov("destroy", "-i", str(lab3.inventory), str(CHAIN), *limit, check=False)
    assert not {n for n in netns(lab3, "lab1") if n.startswith("clab-chain-")}
