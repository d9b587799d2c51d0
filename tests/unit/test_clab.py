"""containerlab topology files compiled into plays (nsprov/controller/clab*.py): naming as
containerlab names, inheritance, placement, links to veth/macvlan/vxlan tasks, VXLAN pairs across
hosts, and every task a topology compiles to validates as a playbook task would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nsprov.controller import clab
from nsprov.controller.clab_links import dangling, mgmt_bridge, short_name, vni
from nsprov.model.kinds import validate_params

DATA = Path(__file__).parents[1] / "data" / "topologies"
UNDERLAYS = {"h1": "10.0.0.1", "h2": "10.0.0.2"}


def compile_text(tmp_path, text: str, hosts=("h1",), place=(), pingall=False, name="t.clab.yml"):
    path = tmp_path / name
    path.write_text(text)
    return clab.load_topology(str(path), list(hosts), {"place": place}, pingall=pingall, underlays=UNDERLAYS)


def tasks_of(book, host=None) -> list:
    return [(t.module, t.params) for p in book.plays for t in p.tasks if host in (None, t.host)]


def test_environment_variables_expand_as_containerlab_expands_them():
    env = {"SET": "x", "EMPTY": ""}
    assert clab.expand_env("${SET} ${UNSET} ${UNSET:=d} ${EMPTY:=d} ${EMPTY-d} ${UNSET:-e}", env) == "x  d d  e"


@pytest.mark.parametrize("prefix,name", [(None, "clab-lab-n1"), ("", "n1"), ("__lab-name", "lab-n1"),
                                         ("p", "p-lab-n1")])
def test_node_namespaces_are_named_as_containerlab_names_its_containers(prefix, name):
    assert clab.container_name("lab", prefix, "n1") == name


def test_a_node_inherits_from_group_then_kind_then_defaults_and_merges_mappings():
    got = clab.inherit({"env": {"A": "node"}, "cmd": "n"}, {"env": {"B": "group"}, "image": "g"},
                       {"image": "k", "exec": ["k"]}, {"env": {"A": "d", "C": "d"}, "image": "d"})
    assert got == {"env": {"A": "node", "B": "group", "C": "d"}, "cmd": "n", "image": "g", "exec": ["k"]}


def test_the_chain_topology_compiles_to_plays_whose_tasks_all_validate(tmp_path):
    book, problems, warnings = clab.load_topology(str(DATA / "chain.clab.yml"), ["h1"], {}, pingall=True,
                                                  underlays=UNDERLAYS)
    assert problems == []
    assert book.lab == "chain" and [p.hosts for p in book.plays] == ["h1", "h1", "h1"]
    assert not any("image" in w for w in warnings)        # alpine is the host's tools: nothing to warn of
    for module, params in tasks_of(book):
        assert validate_params(module, params)[1] == [], (module, params)
    made = tasks_of(book)
    assert ("netns", {"name": "clab-chain-a"}) in made and ("bridge", {"name": "br-chain"}) in made
    assert ("veth", {"name": "eth1", "netns": "clab-chain-a", "peer": "eth1", "peer_netns": "clab-chain-b",
                     "mtu": 9500, "addresses": ["10.70.1.1/24"], "peer_addresses": ["10.70.1.2/24"]}) in made
    assert ("veth", {"name": "eth2", "netns": "clab-chain-c", "peer": "c-port", "peer_netns": "", "mtu": 9500,
                     "peer_bridge": "br-chain"}) in made
    execs = [p for m, p in made if m == "exec"]
    assert [e["command"] for e in execs if e["netns"] == "clab-chain-c"] == [
        ["ip", "route", "add", "10.70.1.0/24", "via", "10.70.2.1"], ["false"], ["ip", "link", "set", "lo", "up"]]
    assert all(e["failed_when"] is False and e["env"] == {"LAB": "chain"} for e in execs)
    assert ("process", {"name": "clab-chain-b", "netns": "clab-chain-b", "command": ["sleep", "3607"],
                        "env": {"LAB": "chain"}}) in made
    pings = [r for m, p in made if m == "verify" for r in p["reach"]]
    assert {"from": "clab-chain-a", "to": "10.70.1.2"} in pings and {"from": "clab-chain-b", "to": "10.70.2.2"} in pings


TWO = """\
name: two
topology:
  nodes:
    x: {kind: linux, labels: {nsprov.host: h1}}
    y: {kind: linux}
  links:
    - endpoints: ["x:eth1", "y:eth1"]
"""


def test_a_link_across_hosts_is_a_vxlan_pair_with_one_vni_towards_each_other(tmp_path):
    book, problems, _ = compile_text(tmp_path, TWO, hosts=("h1", "h2"), place=("y=h2",))
    assert problems == []
    one = [p for m, p in tasks_of(book, "h1") if m == "vxlan"]
    two = [p for m, p in tasks_of(book, "h2") if m == "vxlan"]
    assert one[0]["remote"] == "10.0.0.2" and two[0]["remote"] == "10.0.0.1"
    assert one[0]["id"] == two[0]["id"] == vni("two", ["x:eth1", "y:eth1"])
    assert one[0]["netns"] == "clab-two-x" and two[0]["netns"] == "clab-two-y"


BRIDGED = """\
name: br
topology:
  nodes:
    sw: {kind: bridge}
    a: {kind: linux}
    b: {kind: linux}
  links:
    - endpoints: ["a:eth1", "sw:sw-a"]
    - endpoints: ["b:eth1", "sw:sw-b"]
"""


def test_a_bridge_node_takes_ports_from_other_hosts_as_vxlans_on_the_bridge(tmp_path):
    book, problems, _ = compile_text(tmp_path, BRIDGED, hosts=("h1", "h2"), place=("sw=h1", "a=h1", "b=h2"))
    assert problems == []
    local = [p for m, p in tasks_of(book, "h1") if m == "veth"]
    assert [(p["name"], p["peer"], p.get("peer_bridge")) for p in local] == [("eth1", "sw-a", "sw")]
    port = [p for m, p in tasks_of(book, "h1") if m == "vxlan"]
    far = [p for m, p in tasks_of(book, "h2") if m == "vxlan"]
    assert [(p["name"], p["netns"], p.get("bridge"), p["remote"]) for p in port] == [("sw-b", "", "sw", "10.0.0.2")]
    assert [(p["name"], p["netns"], p.get("bridge"), p["remote"]) for p in far] == [
        ("eth1", "clab-br-b", None, "10.0.0.1")]
    assert port[0]["id"] == far[0]["id"]
    for module, params in tasks_of(book):
        assert validate_params(module, params)[1] == [], (module, params)


def test_links_of_a_lab_whose_ids_would_clash_take_the_next_free_one(tmp_path, monkeypatch):
    from nsprov.controller import clab_links
    monkeypatch.setattr(clab_links, "vni", lambda lab, ends: 5000)      # every link hashes alike
    text = TWO.replace('    - endpoints: ["x:eth1", "y:eth1"]', '    - endpoints: ["x:eth1", "y:eth1"]\n'
                                                                  '    - endpoints: ["x:eth2", "y:eth2"]')
    book, problems, _ = compile_text(tmp_path, text, hosts=("h1", "h2"), place=("y=h2",))
    assert problems == []
    for host in ("h1", "h2"):
        assert sorted(p["id"] for m, p in tasks_of(book, host) if m == "vxlan") == [5000, 5001]


def test_an_unplaced_node_among_several_hosts_is_an_error_naming_it_and_its_line(tmp_path):
    book, problems, _ = compile_text(tmp_path, TWO, hosts=("h1", "h2"))
    assert [(p.line, p.field) for p in problems] == [(5, "topology.nodes.y")]
    assert "--place 'y=HOST'" in problems[0].message


def test_a_kind_nsprov_does_not_run_is_refused_by_name(tmp_path):
    text = "name: k\ntopology:\n  nodes:\n    r1: {kind: nokia_srlinux}\n"
    _, problems, _ = compile_text(tmp_path, text)
    assert len(problems) == 1 and "kind 'nokia_srlinux'" in problems[0].message and problems[0].line == 4


def test_long_interface_names_are_shortened_the_same_way_every_time():
    long = "ethernet-1-long-name"
    assert len(short_name(long).encode()) == 15 and short_name(long) == short_name(long)
    assert short_name(long) != short_name(long + "2") and short_name("eth1") == "eth1"


LONG = """\
name: long
topology:
  nodes:
    a: {kind: linux}
    b: {kind: linux}
  links:
    - endpoints: ["a:ethernet-1-to-spine", "b:eth1"]
    - {type: veth, endpoints: [{node: a, interface: eth2}, {node: b, interface: ethernet-2-to-leaf}]}
"""


def test_a_shortened_interface_name_keeps_its_full_name_as_an_altname(tmp_path):
    book, problems, _ = compile_text(tmp_path, LONG)
    assert problems == []
    veths = [p for m, p in tasks_of(book) if m == "veth"]
    assert [(v["name"], v.get("altname"), v["peer"], v.get("peer_altname")) for v in veths] == [
        (short_name("ethernet-1-to-spine"), "ethernet-1-to-spine", "eth1", None),
        ("eth2", None, short_name("ethernet-2-to-leaf"), "ethernet-2-to-leaf")]
    for module, params in tasks_of(book):
        assert validate_params(module, params)[1] == [], (module, params)


def test_a_node_sharing_another_nodes_network_runs_its_commands_there(tmp_path):
    text = ("name: s\ntopology:\n  nodes:\n    a: {kind: linux}\n    b:\n      kind: linux\n"
            "      network-mode: container:a\n      exec: [ip addr]\n")
    book, problems, _ = compile_text(tmp_path, text)
    assert problems == []
    assert [p["netns"] for m, p in tasks_of(book) if m == "exec"] == ["clab-s-a"]
    assert [m for m, p in tasks_of(book)].count("netns") == 1


def test_a_node_with_nsprov_namespaces_is_a_namespace_set_named_as_its_container(tmp_path):
    text = "name: n\ntopology:\n  nodes:\n    a:\n      kind: linux\n      labels: {nsprov.namespaces: [uts, pid, mnt]}\n"
    book, problems, _ = compile_text(tmp_path, text)
    assert tasks_of(book) == [("namespace", {"name": "clab-n-a", "kinds": ["mnt", "net", "pid", "uts"],
                                             "hostname": "a", "mounts": [{"type": "tmpfs", "target": "/tmp",
                                                                          "options": "mode=1777"}]})]


WAITS = """\
name: w
topology:
  nodes:
    a: {kind: linux, exec: [ip link], labels: {nsprov.host: h1}}
    b:
      kind: linux
      exec: [ip addr]
      startup-delay: 2
      stages:
        create:
          wait-for:
            - {node: a, stage: healthy}
      labels: {nsprov.host: h2}
    c: {kind: linux, wait-for: [b], cmd: sleep 60, labels: {nsprov.host: h1}}
"""


def test_nodes_start_after_what_they_wait_for_across_hosts(tmp_path):
    book, problems, _ = compile_text(tmp_path, WAITS, hosts=("h1", "h2"))
    assert problems == []
    starts = [(p.hosts, [t.module for t in p.tasks]) for p in book.plays if "exec and cmd" in p.name]
    assert starts == [("h1", ["exec"]), ("h2", ["exec", "exec"]), ("h1", ["process"])]
    delay = next(p for p in book.plays if p.hosts == "h2" and "exec and cmd" in p.name).tasks[0].params
    assert delay["command"] == ["sleep", "2"]


def test_nodes_waiting_in_a_circle_or_for_no_node_are_errors(tmp_path):
    text = WAITS.replace("wait-for: [b]", "wait-for: [b, ghost]").replace("{node: a, stage: healthy}",
                                                                          "{node: c, stage: healthy}")
    _, problems, _ = compile_text(tmp_path, text, hosts=("h1", "h2"))
    messages = " / ".join(p.message for p in problems)
    assert "waits for 'ghost'" in messages and "in a circle: b, c" in messages


CLAB = DATA / "containerlab"


def test_containerlab_smoke_files_compile_unmodified_with_what_is_ignored_said_once(tmp_path):
    path = tmp_path / "01-linux-nodes.clab.yml"
    shutil.copy(CLAB / "01-linux-nodes.clab.yml", path)
    # its binds' host files are missing: each an error naming the node, the field and the path
    _, problems, _ = clab.load_topology(str(path), ["h1"])
    assert sorted((p.line, p.field, p.message) for p in problems) == [
        (14, "topology.nodes.l1.binds[0]", f"node l1: {tmp_path}/clab-01-test.txt does not exist"),
        (15, "topology.nodes.l1.binds[1]", f"node l1: {tmp_path}/01-test.json does not exist")]
    # as containerlab's own smoke test has them: its 01-test.json, and a clab-01-test.txt it writes
    shutil.copy(CLAB / "01-test.json", tmp_path / "01-test.json")
    (tmp_path / "clab-01-test.txt").write_text("written by the test\n")
    book, problems, warnings = clab.load_topology(str(path), ["h1"])
    assert problems == []
    l1 = next(p for m, p in tasks_of(book) if m == "namespace")
    assert l1["name"] == "clab-2-linux-nodes-l1" and l1["kinds"] == ["mnt", "net"]
    assert l1["mounts"] == [{"type": "tmpfs", "target": "/tmp", "options": "mode=1777"},
                            {"type": "file", "target": "/01-test.txt", "content": "written by the test\n",
                             "options": "optional"},
                            {"type": "file", "target": "/test.json", "content": '{\n    "containerlab": "is cool"\n}',
                             "options": "optional"}]
    for module, params in tasks_of(book):
        assert validate_params(module, params)[1] == [], (module, params)
    made = tasks_of(book)
    assert ("veth", {"name": "eth1", "netns": "clab-2-linux-nodes-l1", "peer": "some1",
                     "peer_netns": "clab-2-linux-nodes-l2", "mtu": 2000}) in made
    assert ("veth", {"name": "eth4", "netns": "clab-2-linux-nodes-l2", "peer": "l2eth4", "peer_netns": "",
                     "mtu": 9500, "mac": "02:00:00:00:00:04"}) in made
    assert ("veth", {"name": "eth3", "netns": "clab-2-linux-nodes-l1", "peer": "eth3",
                     "peer_netns": "clab-2-linux-nodes-l2", "mtu": 9500, "mac": "02:00:00:00:00:00",
                     "peer_mac": "02:00:00:00:00:01"}) in made                    # mac per end
    mgmt = mgmt_bridge("2-linux-nodes")
    assert ("bridge", {"name": mgmt}) in made and len(mgmt) == 15
    assert ("veth", {"name": "eth5", "netns": "clab-2-linux-nodes-l2", "peer": "l2eth5mgmt", "peer_netns": "",
                     "mtu": 9500, "peer_bridge": mgmt, "mac": "02:00:00:00:00:05"}) in made
    assert [p["name"] for m, p in made if m == "netns"] == ["clab-2-linux-nodes-l2"]
    ignored = next(w for w in warnings if "ignores" in w)
    for key in ("healthcheck (l1)", "ports (l2)", "dns (l2)", "mgmt_ipv4 (l1)"):
        assert key in ignored
    # alpine is the host's tools; nginx has no role: said once, naming its nodes
    assert [w.split(": ", 1)[1] for w in warnings if "no role" in w] == [
        "no role for image nginx:stable-alpine (l2, l3): the nodes run the host's software and nothing is started "
        "for the image (--image-as PATTERN=frr|tools says what it is)"]
    assert not any("binds" in w for w in warnings)
    assert any("mgmt-net" in w for w in warnings)


def test_a_bridge_and_host_link_file_compiles_unmodified(tmp_path):
    book, problems, _ = clab.load_topology(str(CLAB / "03-linux-nodes-to-bridge-and-host.clab.yml"), ["h1"])
    assert problems == []
    veths = [p for m, p in tasks_of(book) if m == "veth"]
    assert {(v["name"], v["peer"], v.get("peer_bridge"), v.get("bridge")) for v in veths} == {
        ("eth1", "l1-eth1", "br-01-03-clab", None), ("l1-eth2", "eth2", None, "br-01-03-clab"),
        ("eth3", "l1-01-03-eth3", None, None)}


def test_a_vendor_kind_runs_as_linux_when_mapped_with_its_addresses_from_link_vars(tmp_path):
    path = str(CLAB / "25-link-vars-ip.clab.yml")
    assert "nokia_srlinux" in clab.load_topology(path, ["h1"])[1][0].message
    book, problems, _ = clab.load_topology(path, ["h1"], {"kind_as": {"nokia_srlinux": "linux"}})
    assert problems == []
    veths = {p["name"]: p for m, p in tasks_of(book) if m == "veth"}
    assert veths["e1-1"]["addresses"] == ["192.168.0.1/24", "2001:db8:abc1::1/64"]
    assert veths["e1-3"]["peer_addresses"] == ["192.168.3.2/24", "2001:db8:abc3::2/64"]
    assert "addresses" not in veths["e1-2"]


def _torus(n: int) -> str:
    nodes = "".join(f"    n{r}{c}: {{kind: linux}}\n" for r in range(n) for c in range(n))
    links = "".join(f'    - endpoints: ["n{r}{c}:e{d}", "n{(r + dr) % n}{(c + dc) % n}:w{d}"]\n'
                    for r in range(n) for c in range(n) for d, (dr, dc) in enumerate(((0, 1), (1, 0))))
    return f"name: torus\ntopology:\n  nodes:\n{nodes}  links:\n{links}"


def test_spread_balances_the_hosts_and_cuts_few_links(tmp_path):
    """A 6x6 torus over 3 hosts: 12 nodes each, and no more links crossing than cutting it in
    three bands of two rows does (3 boundaries, the torus wraps, x 6 columns = 18); each crossing
    link is a VXLAN pair."""
    book, problems, _ = compile_text(tmp_path, _torus(6), hosts=("h1", "h2", "h3"), place=())
    assert problems and "--spread" in problems[0].message          # without it: refused, naming nodes
    path = tmp_path / "t.clab.yml"
    book, problems, _ = clab.load_topology(str(path), ["h1", "h2", "h3"], {"spread": True}, underlays={
        "h1": "10.0.0.1", "h2": "10.0.0.2", "h3": "10.0.0.3"})
    assert problems == []
    per_host = {h: sum(1 for m, p in tasks_of(book, h) if m == "netns") for h in ("h1", "h2", "h3")}
    assert sorted(per_host.values()) == [12, 12, 12]
    vxlans = sum(1 for m, p in tasks_of(book) if m == "vxlan")
    assert vxlans % 2 == 0 and vxlans // 2 <= 18


def test_hosts_change_together_each_with_only_its_own_part(tmp_path):
    """One play per phase over every host that has work in it (one request each, the hosts in
    parallel), and each host resolves only the tasks of its own nodes and link ends."""
    from nsprov.controller.inventory_files import load_inventory
    from nsprov.controller.resolve import resolve
    inventory = tmp_path / "inv.yml"
    inventory.write_text("all:\n  hosts:\n    h1: {ansible_host: 10.0.0.1}\n    h2: {ansible_host: 10.0.0.2}\n")
    book, problems, _ = compile_text(tmp_path, TWO, hosts=("h1", "h2"), place=("y=h2",))
    assert [p.hosts for p in book.plays] == ["h1:h2"]
    plans = resolve(book, load_inventory([str(inventory)]))
    mine = {h: [(t["module"], t["params"].get("name"), t["params"].get("netns")) for t in plan.tasks]
            for h, plan in plans.items()}
    assert mine == {"h1": [("netns", "clab-two-x", None), ("vxlan", "eth1", "clab-two-x")],
                    "h2": [("netns", "clab-two-y", None), ("vxlan", "eth1", "clab-two-y")]}


def test_a_link_across_hosts_made_on_one_side_only_is_reported_dangling(tmp_path):
    book, problems, _ = compile_text(tmp_path, TWO, hosts=("h1", "h2"), place=("y=h2",))
    assert book.crossings == (("x:eth1 <-> y:eth1", "h1", "h2"),)
    assert dangling(book.crossings, {"h1": "ok", "h2": "ok"}) == []
    assert dangling(book.crossings, {"h1": "failed", "h2": "unreachable"}) == []     # neither end was made
    lines = dangling(book.crossings, {"h1": "ok", "h2": "unreachable"})
    assert len(lines) == 1 and "x:eth1 <-> y:eth1 dangles" in lines[0] and "h2 unreachable" in lines[0]


def test_a_node_on_a_host_the_run_leaves_out_is_skipped_and_one_on_no_known_host_is_an_error(tmp_path):
    text = TWO.replace("    y: {kind: linux}", "    y: {kind: linux, labels: {nsprov.host: HOST}}")
    assert "HOST" in text
    book, problems, _ = compile_text(tmp_path, text.replace("HOST", "h2"), hosts=("h1",))   # --limit h1
    assert problems == [] and {t.host for p in book.plays for t in p.tasks} == {"h1"}
    assert [p["remote"] for m, p in tasks_of(book, "h1") if m == "vxlan"] == ["10.0.0.2"]    # towards h2
    book, problems, _ = compile_text(tmp_path, text.replace("HOST", "h9"), hosts=("h1",))
    assert problems[0].field == "topology.nodes.y" and "h9" in problems[0].message


STAGED = """\
name: staged
topology:
  nodes:
    a:
      kind: linux
      exec: ["ip link set eth1 up"]
      stages:
        configure:
          exec:
            - {command: "touch /tmp/after", phase: on-exit}
            - {command: "echo configuring"}
        create-links:
          exec:
            - {command: "ip link show", target: host}
"""


def test_stage_exec_hooks_run_around_the_nodes_exec_lines_in_stage_order_on_the_host_when_asked(tmp_path):
    book, problems, warnings = compile_text(tmp_path, STAGED)
    assert problems == [] and not any("stages" in w for w in warnings)
    execs = [p for m, p in tasks_of(book) if m == "exec"]
    assert [(p["command"], p.get("netns")) for p in execs] == [
        (["ip", "link", "show"], None),                              # create-links, target: host
        (["ip", "link", "set", "eth1", "up"], "clab-staged-a"),      # the node's exec lines
        (["echo", "configuring"], "clab-staged-a"),                  # configure, on-enter
        (["touch", "/tmp/after"], "clab-staged-a")]                  # configure, on-exit
    for module, params in tasks_of(book):
        assert validate_params(module, params)[1] == [], (module, params)


TUNNELS = """\
name: tun
topology:
  nodes:
    a: {kind: linux}
  links:
    - type: vxlan
      endpoint: {node: a, interface: eth1}
      remote: 192.0.2.7
      vni: 100
      udp-port: 4790
    - type: vxlan-stitch
      endpoint: {node: a, interface: eth2}
      remote: 192.0.2.8
      vni: 101
    - type: dummy
      endpoint: {node: a, interface: dummy-loopback-one, vars: {ipv4: 192.0.2.1/32}}
      mtu: 1400
"""


def test_vxlan_and_vxlan_stitch_links_end_in_their_node_with_their_id_remote_and_port(tmp_path):
    book, problems, _ = compile_text(tmp_path, TUNNELS)
    assert problems == []
    assert [(p["name"], p["netns"], p["id"], p["remote"], p["port"]) for m, p in tasks_of(book) if m == "vxlan"] == [
        ("eth1", "clab-tun-a", 100, "192.0.2.7", 4790), ("eth2", "clab-tun-a", 101, "192.0.2.8", 4789)]
    assert [p for m, p in tasks_of(book) if m == "dummy"] == [
        {"name": short_name("dummy-loopback-one"), "netns": "clab-tun-a", "addresses": ["192.0.2.1/32"], "mtu": 1400,
         "altname": "dummy-loopback-one"}]
    for module, params in tasks_of(book):
        assert validate_params(module, params)[1] == [], (module, params)


def test_verify_draws_a_ping_matrix_node_by_node_from_the_topologys_addresses(tmp_path):
    import io
    from rich.console import Console
    from nsprov.reporting.checks import ping_matrix, render_matrix
    book, problems, _ = clab.load_topology(str(DATA / "chain.clab.yml"), ["h1"], {}, pingall=True,
                                           underlays=UNDERLAYS)
    assert ("10.70.1.2", "clab-chain-b") in book.addresses and ("10.70.2.2", "clab-chain-c") in book.addresses
    def check(src, dst, passed, how="ping"):
        return ("h1", {"check": "reach", "subject": f"{src} -> {dst} ({how})", "passed": passed})
    rows = [check("clab-chain-a", "10.70.1.2", True), check("clab-chain-b", "10.70.1.1", True),
            check("clab-chain-b", "10.70.2.2", False), check("clab-chain-c", "10.70.2.1", True),
            check("clab-chain-a", "10.70.1.2", True, how="tcp/80")]            # not a ping: not in the matrix
    matrix = ping_matrix(rows, book.addresses)
    assert matrix == {"clab-chain-a": {"clab-chain-b": True}, "clab-chain-b": {"clab-chain-a": True,
                      "clab-chain-c": False}, "clab-chain-c": {"clab-chain-b": True}}
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(render_matrix(matrix))
    lines = buf.getvalue().splitlines()
    assert "PING MATRIX" in lines[0] and any("clab-chain-b" in x and "FAIL" in x for x in lines)


BROKEN = """\
name: broken
topology:
  nodse: {}
  nodes:
    a:
      kind: linux
      exec: ip link set lo up
      env: [A=1]
    b: {kind: linux, startup-delay: soon}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
      mtu: big
"""


def test_a_topology_is_held_to_containerlabs_schema_structure_with_file_line_and_field(tmp_path):
    from nsprov.controller.yamlsrc import InputError
    with pytest.raises(InputError) as caught:
        compile_text(tmp_path, BROKEN)
    problems = caught.value.problems
    found = {(p.line, p.field) for p in problems}
    assert {(3, "topology.nodse"), (7, "topology.nodes.a.exec"), (8, "topology.nodes.a.env"),
            (9, "topology.nodes.b.startup-delay"), (12, "topology.links[0].mtu")} <= found, problems
    assert all(p.file.endswith("t.clab.yml") for p in problems)
    assert "is a list in containerlab's schema" in next(p.message for p in problems if p.field.endswith(".exec"))


@pytest.mark.parametrize("labels, persists", [
    ("", False),
    ("  defaults: {labels: {nsprov.persist: 'true'}}\n", True),       # every node inherits it
    ("  defaults: {labels: {nsprov.persist: 'false'}}\n", False),
])
def test_the_label_nsprov_persist_keeps_the_topology_across_reboots(tmp_path, labels, persists):
    text = "name: keep\ntopology:\n" + labels + "  nodes:\n    a: {kind: linux}\n    b: {kind: linux}\n" \
           "  links:\n    - endpoints: [a:eth1, b:eth1]\n"
    book = compile_text(tmp_path, text)[0]
    assert book.persist is persists
