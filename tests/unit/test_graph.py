"""`nsprov graph`: the topology a playbook declares, drawn before anything is deployed. Checked
through the real CLI (no host is contacted: the inventory's hosts do not exist) and by parsing
what it writes: SVG as XML, DOT and Mermaid by their structure."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from nsprov.controller.topology import host_topology
from tests.conftest import nsprov

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
SVG = "{http://www.w3.org/2000/svg}"


def _inventory(tmp_path: Path) -> Path:
    # graph connects to nothing; were it to try, loopback's closed port 9 would refuse it
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  children:\n    lab:\n      hosts:\n"
                   "        lab1: {ansible_host: 127.0.0.1, ansible_port: 9}\n"
                   "        lab2: {ansible_host: 127.0.0.1, ansible_port: 9}\n")
    return inv


def test_bridge_nat_topology_holds_what_run_would_build():
    tasks = [
        {"module": "bridge", "params": {"name": "br0", "netns": "", "addresses": ["10.2.0.1/24"], "state": "present"}},
        {"module": "netns", "params": {"name": "red", "state": "present"}},
        {"module": "veth", "params": {"name": "br0-red", "netns": "", "peer": "eth0", "peer_netns": "red",
                                      "bridge": "br0", "peer_bridge": None, "addresses": [],
                                      "peer_addresses": ["10.2.0.2/24"], "state": "present"}},
        {"module": "route", "params": {"to": "default", "netns": "red", "via": "10.2.0.1", "dev": None,
                                       "state": "present"}},
        {"module": "nat", "params": {"source": "10.2.0.0/24", "out_interface": "eth0", "netns": "",
                                     "state": "present"}},
        {"module": "netns", "params": {"name": "gone", "state": "absent"}},
        {"module": "netns", "skip": "when: false is false"},
    ]
    t = host_topology("lab1", tasks)
    assert list(t.nodes) == ["host", "br::br0", "ns:red"]
    assert t.nodes["br::br0"].lines == ["10.2.0.1/24"]
    assert t.nodes["ns:red"].lines == ["eth0 10.2.0.2/24", "route default via 10.2.0.1"]
    assert t.nodes["host"].lines == ["masquerade 10.2.0.0/24 out eth0"]
    assert [(e.a, e.b, e.label) for e in t.edges] == [("br::br0", "ns:red", "br0-red - eth0")]


def test_graph_writes_svg_with_every_namespace_bridge_and_link(tmp_path):
    out = tmp_path / "lab.svg"
    proc = nsprov("graph", "-i", str(_inventory(tmp_path)), str(PLAYBOOKS / "bridge-nat.yml"), "-o", str(out))
    assert "1 host" in proc.stderr
    root = ET.parse(out).getroot()
    assert root.tag == f"{SVG}svg"
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    for expected in ("lab1", "bridge br0", "netns red", "netns green", "netns blue", "eth0 10.2.0.2/24",
                     "br0-red - eth0", "br0-blue - eth0", "masquerade 10.2.0.0/24 out eth0", "tcp :8080 -> 10.2.0.2:80"):
        assert expected in texts, expected
    assert len(root.findall(f"{SVG}line")) + len(root.findall(f"{SVG}path")) == 3   # three veth pairs


def test_graph_writes_dot_and_mermaid_by_extension(tmp_path):
    inv = str(_inventory(tmp_path))
    nsprov("graph", "-i", inv, str(PLAYBOOKS / "net.yml"), "-o", str(tmp_path / "net.dot"))
    dot = (tmp_path / "net.dot").read_text()
    assert dot.startswith("graph nsprov {") and dot.rstrip().endswith("}")
    assert dot.count("subgraph cluster_") == 2   # lab1 and lab2 (net.yml targets all)
    assert len(re.findall(r'"lab1/host" -- "lab1/ns:netns1" \[label="veth0 - veth1"\]', dot)) == 1
    nsprov("graph", "-i", inv, str(PLAYBOOKS / "net.yml"), "-o", str(tmp_path / "net.mmd"), "--limit", "lab2")
    mmd = (tmp_path / "net.mmd").read_text()
    assert "flowchart TB" in mmd and 'subgraph h0["lab2"]' in mmd and "lab1" not in mmd
    assert re.search(r'n\d+ ---\|"veth0 - veth1"\| n\d+', mmd)


def test_graph_prints_a_tree_without_output_file(tmp_path):
    proc = nsprov("graph", "-i", str(_inventory(tmp_path)), str(PLAYBOOKS / "isolation.yml"), "--limit", "lab1")
    for expected in ("namespace set box1", "kinds: uts ipc pid mnt user net", "hostname: box1",
                     "uid map: 0->100000 (65536)", "box1-host - eth0"):
        assert expected in proc.stdout, expected


def test_graph_reports_bad_input_like_run_does(tmp_path):
    book = tmp_path / "bad.yml"
    book.write_text("- hosts: lab1\n  tasks:\n    - bridge: {name: abcdefghijklmnop}\n")
    proc = nsprov("graph", "-i", str(_inventory(tmp_path)), str(book), "-o", str(tmp_path / "x.svg"), check=False)
    assert proc.returncode == 2
    assert f"{book}:3:" in proc.stderr and "is 16 bytes" in proc.stderr
    assert not (tmp_path / "x.svg").exists()
    proc = nsprov("graph", "-i", str(_inventory(tmp_path)), str(PLAYBOOKS / "net.yml"), "-o",
                  str(tmp_path / "x.png"), check=False)
    assert proc.returncode == 2 and ".svg" in proc.stderr


def test_every_link_kind_on_a_lower_link_is_drawn_as_an_edge_naming_it():
    """Generated from the module table: each kind whose link is made on a lower link (its
    example names `link` or `dev`) draws an edge from the lower link's namespace to its own,
    labelled with its kind and name, and its addresses in its namespace."""
    import yaml
    from nsprov.model.kinds import KINDS
    stacked = [k for k in KINDS if ("link" in k.params or "dev" in k.params) and "addresses" in k.params]
    assert {"macvlan", "ipvlan", "vlan", "vxlan"} <= {k.name for k in stacked}
    for kind in stacked:
        params, problems = kind.validate(yaml.safe_load(kind.example)[kind.name])
        assert problems == []
        t = host_topology("lab1", [{"module": kind.name, "params": params}])
        edges = [(e.a, e.b, e.label) for e in t.edges]
        assert len(edges) == 1 and edges[0][1] == f"ns:{params['netns']}", (kind.name, edges)
        assert edges[0][2].startswith(f"{kind.name} {params['name']}"), edges
        assert f"{params['name']} {' '.join(params['addresses'])}" in t.nodes[f"ns:{params['netns']}"].lines


ACROSS = """\
name: across
topology:
  nodes:
    x: {kind: linux, labels: {nsprov.host: lab1}}
    y: {kind: linux, labels: {nsprov.host: lab2}}
    z: {kind: linux, labels: {nsprov.host: lab2}}
  links:
    - endpoints: ["x:eth1", "y:eth1"]
    - endpoints: ["y:eth2", "z:eth1"]
"""


def test_a_topology_across_hosts_is_drawn_as_clusters_joined_by_its_tunnels(tmp_path):
    """Each host a cluster; the link whose ends are on two hosts joins the clusters (DOT,
    Mermaid, SVG, the terminal tree), and the link on one host stays inside its cluster."""
    inventory = tmp_path / "inv.yml"
    inventory.write_text("all:\n  hosts:\n    lab1: {ansible_host: 10.0.0.1}\n    lab2: {ansible_host: 10.0.0.2}\n")
    (tmp_path / "t.clab.yml").write_text(ACROSS)
    for out in ("g.dot", "g.mmd", "g.svg"):
        nsprov("graph", "-i", str(inventory), str(tmp_path / "t.clab.yml"), "-o", str(tmp_path / out))
    dot = (tmp_path / "g.dot").read_text()
    cross = [line for line in dot.splitlines() if '"lab1/' in line and '"lab2/' in line]
    assert len(cross) == 1 and "ns:clab-across-x" in cross[0] and "ns:clab-across-y" in cross[0]
    assert dot.count("subgraph cluster_") == 2
    assert sum("===" in line for line in (tmp_path / "g.mmd").read_text().splitlines()) == 1
    svg = ET.parse(tmp_path / "g.svg").getroot()
    assert sum(1 for e in svg.iter() if e.tag.endswith("path") and e.get("stroke") == "#b45309") == 1
    tree = nsprov("graph", "-i", str(inventory), str(tmp_path / "t.clab.yml")).stdout
    assert "links between hosts" in tree and "lab1: netns clab-across-x == lab2: netns clab-across-y" in tree


def test_a_bridge_node_with_a_port_on_another_host_is_joined_to_it_across_the_clusters(tmp_path):
    inventory = tmp_path / "inv.yml"
    inventory.write_text("all:\n  hosts:\n    lab1: {ansible_host: 10.0.0.1}\n    lab2: {ansible_host: 10.0.0.2}\n")
    (tmp_path / "b.clab.yml").write_text(ACROSS.replace("name: across", "name: br").replace(
        "    z: {kind: linux, labels: {nsprov.host: lab2}}", "    z: {kind: bridge, labels: {nsprov.host: lab1}}"))
    tree = nsprov("graph", "-i", str(inventory), str(tmp_path / "b.clab.yml")).stdout
    assert "lab1: bridge z == lab2: netns clab-br-y" in tree, tree
    assert "lab1 (host namespaces) -- bridge z: vxlan" in tree and "port of z" in tree
