"""IPv6 everywhere, on a real lab host, checked with `ip -j`, `nft -j`, /proc and real packets,
never by asking nsprov: a router netns with forwarding (declared on the netns), default routes
(`to: default` with an IPv6 gateway is ::/0), a masquerade and a port forward in the lab's ip6
table, and reach/no_reach over IPv6 by ping and TCP. The upstream is another lab namespace with
no route back to the clients, so only the masquerade and the forward can answer; the control is
the same lab without them, where the same probes get no answer.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab
HOST = "lab3"


def sh(lab, command: str, check: bool = True):
    return lab.ssh(HOST, "sh", "-c", command, check=check)


NET = """\
- hosts: lab3
  lab: v6
  tasks:
    - netns: {name: r6, forwarding: true}
    - netns: {name: c6a}
    - netns: {name: c6b}
    - netns: {name: u6}
    - veth: {name: eth0, netns: c6a, peer: a, peer_netns: r6, addresses: ["fd00:a::2/64"], peer_addresses: ["fd00:a::1/64"]}
    - veth: {name: eth0, netns: c6b, peer: b, peer_netns: r6, addresses: ["fd00:b::2/64"], peer_addresses: ["fd00:b::1/64"]}
    - veth: {name: up, netns: r6, peer: eth0, peer_netns: u6, addresses: ["fd00:f::1/64"], peer_addresses: ["fd00:f::2/64"]}
    - route: {netns: c6a, to: default, via: "fd00:a::1"}
    - route: {netns: c6b, to: "::/0", via: "fd00:b::1"}
    - process: {name: web6, netns: c6b, command: [python3, -m, http.server, -b, "fd00:b::2", "80"]}
"""
NAT = """\
    - nat: {netns: r6, source: "fd00:a::/64", out_interface: up}
    - port_forward: {netns: r6, port: 8080, to: "[fd00:b::2]:80", in_interface: up}
"""
INSIDE = ['{from: c6a, to: "fd00:b::2"}', '{from: c6a, to: "fd00:b::2", port: 80}']
UPSTREAM = ['{from: c6a, to: "fd00:f::2"}', '{from: u6, to: "fd00:f::1", port: 8080}']


def probes(**checks) -> str:
    return "    - verify:\n" + "".join(f"        {k}:\n" + "".join(f"          - {x}\n" for x in v)
                                     for k, v in checks.items())


def run(lab, path, check=True):
    proc = nsprov("run", "-i", str(lab.inventory), str(path), "--json", check=check)
    return proc, json_events(proc.stdout)


def checks(events) -> dict:
    found = [c for e in events if e["event"] == "task" for c in e.get("checks", [])] or [
        e for e in events if e["event"] == "check"]
    return {f"{c['check']} {c['subject']}": c["passed"] for c in found}


def test_ipv6_routes_forwarding_masquerade_and_a_port_forward(lab3, tmp_path):
    path = tmp_path / "v6.yml"
    try:
        # the control: no masquerade, no forward: the upstream cannot answer the clients
        path.write_text(NET + probes(reach=INSIDE, no_reach=UPSTREAM))
        proc, events = run(lab3, path)
        assert checks(events) and all(checks(events).values()), checks(events)
        path.write_text(NET + NAT + probes(reach=INSIDE + UPSTREAM))
        proc, events = run(lab3, path)
        assert checks(events) and all(checks(events).values()), checks(events)
        routes = json.loads(sh(lab3, "ip -6 -n c6a -j route show default").stdout)
        assert [(r["dst"], r["gateway"]) for r in routes] == [("default", "fd00:a::1")]
        assert sh(lab3, "ip netns exec r6 cat /proc/sys/net/ipv6/conf/all/forwarding "
                        "/proc/sys/net/ipv4/ip_forward").stdout.split() == ["1", "1"]
        assert sh(lab3, "ip netns exec c6a cat /proc/sys/net/ipv6/conf/all/forwarding").stdout.strip() == "0"
        table = json.loads(sh(lab3, "ip netns exec r6 nft -j list table ip6 nsprov_v6").stdout)["nftables"]
        comments = sorted(x["rule"]["comment"] for x in table if "rule" in x)
        assert comments[0].startswith("dnat") and any(c.startswith("masquerade fd00:a::/64") for c in comments)
        proc, events = run(lab3, path)
        assert sum(e["status"] == "changed" for e in events if e["event"] == "task") == 0
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)
    assert not {"r6", "c6a", "c6b", "u6"} & set(sh(lab3, "ip netns list").stdout.split())
