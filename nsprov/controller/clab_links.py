"""A topology's links as tasks per host (clab.py has the nodes). Brief links (`endpoints:
["a:eth1", "b:eth1"]`, with `host:IF`, `macvlan:PARENT` and bridge ends) and extended ones (`type:
veth | host | mgmt-net | macvlan | dummy | vxlan | vxlan-stitch`) map to veth, macvlan, dummy and
vxlan tasks; `mtu` and `ipv4`/`ipv6` per end go with them. A veth whose ends are on different
hosts becomes a VXLAN pair: each end a vxlan in its node (or a port of its bridge node), towards
the other host's underlay address, with a VNI made from the lab and the link (the same on both
sides, the same on every run)."""

from __future__ import annotations

import ipaddress
import zlib
from typing import Optional

from nsprov.controller.yamlsrc import MarkedDict, Problem

CLAB_MTU = 9500          # containerlab's MTU for the veths it makes
SPECIAL = ("host", "macvlan", "mgmt-net")


def short_name(name: str) -> str:
    """An interface name the kernel takes (15 bytes): a longer one keeps 10 bytes and gains 5 hex
    digits of its checksum, the same on every run."""
    if len(name.encode()) <= 15:
        return name
    return name.encode()[:10].decode(errors="ignore") + f"{zlib.crc32(name.encode()):08x}"[:5]


def mgmt_bridge(lab: str) -> str:
    """The lab's own management bridge, where links to containerlab's mgmt-net end."""
    return short_name(f"mgmt-{lab}")


def vni(lab: str, ends: list) -> int:
    """The link's VXLAN id: from the lab and both ends, in 4096..16777215."""
    return 4096 + zlib.crc32(f"{lab}/{'|'.join(sorted(ends))}".encode()) % (16777216 - 4096)


class End:
    """One end of a link: its node (None for the host's own), interface, host, netns, the bridge
    it joins, and its addresses."""

    def __init__(self, node, iface: str, host: Optional[str], ns: str, bridge: Optional[str], addresses: list):
        self.node, self.iface, self.host, self.ns, self.bridge, self.addresses = (node, short_name(iface), host,
                                                                                 ns, bridge, addresses)
        self.altname = iface if self.iface != iface else None      # the full name, when it is shortened
        self.mac: Optional[str] = None                              # an extended veth end's `mac`


def _addresses(link: dict, i: int, endpoint) -> list:
    """End I's addresses, as containerlab's link vars give them: `vars: {ipv4: [A, B], ipv6: [...]}`
    on the link (one per end), or `vars: {ipv4: A}` on the endpoint."""
    out = []
    link_vars = link.get("vars") if isinstance(link.get("vars"), dict) else {}
    end_vars = endpoint.get("vars") if isinstance(endpoint, dict) and isinstance(endpoint.get("vars"), dict) else {}
    for family in ("ipv4", "ipv6"):
        per_link = link_vars.get(family)
        if isinstance(per_link, list) and i < len(per_link) and per_link[i]:
            out.append(str(per_link[i]))
        if end_vars.get(family):
            value = end_vars[family]
            out += [str(v) for v in (value if isinstance(value, list) else [value])]
    return out


def _end(topo, link: dict, i: int, endpoint, where: str, lines) -> Optional[End]:
    if isinstance(endpoint, str):
        node_name, _, iface = endpoint.partition(":")
    elif isinstance(endpoint, dict):
        node_name, iface = str(endpoint.get("node", "")), str(endpoint.get("interface", ""))
    else:
        node_name = iface = ""
    if not node_name or not iface:
        topo.problems.append(Problem(topo.path, lines, where, f"endpoint {endpoint!r}: expected NODE:INTERFACE"))
        return None
    addresses = _addresses(link, i, endpoint)
    if node_name == "mgmt-net":
        topo.mgmt_used = True
        return End(None, iface, None, "", mgmt_bridge(topo.lab), [])
    if node_name in SPECIAL:
        return End(None, iface, None, "", None, addresses) if node_name == "host" else End(node_name, iface, None, "",
                                                                                          None, addresses)
    node = topo.nodes.get(node_name)
    if node is None:
        topo.problems.append(Problem(topo.path, lines, where, f"endpoint {endpoint!r}: no node {node_name!r}"))
        return None
    bridge = node.name if node.kind == "bridge" else None
    end = End(node, iface, node.host, node.ns, bridge, addresses)
    end.mac = str(endpoint["mac"]) if isinstance(endpoint, dict) and endpoint.get("mac") else None
    return end


def _given(task: dict, **values) -> dict:
    """TASK with those of VALUES that are set (an end's addresses, bridge, altname, mac)."""
    task.update((k, v) for k, v in values.items() if v)
    return task


def _veth(a: End, b: End, mtu) -> dict:
    task = {"name": a.iface, "netns": a.ns, "peer": b.iface, "peer_netns": b.ns, "mtu": mtu or CLAB_MTU}
    return {"veth": _given(task, addresses=a.addresses, peer_addresses=b.addresses, bridge=a.bridge,
                           peer_bridge=b.bridge, altname=a.altname, peer_altname=b.altname, mac=a.mac, peer_mac=b.mac)}


def _vxlan(end: End, vni_: int, remote: str, mtu, port: int = 4789) -> dict:
    # a bridge node's port (bridge): its segment spans the hosts
    return {"vxlan": _given({"name": end.iface, "netns": end.ns, "id": vni_, "remote": remote, "port": port},
                            mtu=mtu, addresses=end.addresses, bridge=end.bridge, altname=end.altname)}


def _brief(topo, link: dict, where: str, line: int, out: dict) -> None:
    raw = link.get("endpoints")
    if not isinstance(raw, list) or len(raw) != 2:
        topo.problems.append(Problem(topo.path, line, where, "a link has two endpoints"))
        return
    a, b = (_end(topo, link, i, e, f"{where}.endpoints[{i}]", line) for i, e in enumerate(raw))
    if a is None or b is None:
        return
    if a.node == "macvlan" or b.node == "macvlan":
        parent, end = (a, b) if a.node == "macvlan" else (b, a)
        _add(out, end.host, {"macvlan": {"name": end.iface, "link": parent.iface, "netns": end.ns,
                                         "addresses": end.addresses, **({"altname": end.altname} if end.altname
                                                                        else {})}})
        return
    if a.host is None or b.host is None:       # host:IF is on the other end's host
        a.host = a.host or b.host
        b.host = b.host or a.host
    if a.host == b.host:
        _add(out, a.host, _veth(a, b, link.get("mtu")))
        return
    vni_ = vni(topo.lab, [str(e) for e in raw])
    while vni_ in topo.vnis:                  # two links of the lab on one id: the next free one
        vni_ = 4096 + (vni_ - 4096 + 1) % (16777216 - 4096)
    topo.vnis.add(vni_)
    topo.crossings.append((f"{raw[0]} <-> {raw[1]}", a.host, b.host))
    for end, other in ((a, b), (b, a)):
        remote = topo.underlays.get(other.host)
        if remote is None:
            topo.problems.append(Problem(topo.path, line, where, f"no underlay address for {other.host}"))
            return
        _add(out, end.host, _vxlan(end, vni_, remote, link.get("mtu")))


def _extended(topo, link: dict, where: str, line: int, out: dict) -> None:
    kind = link.get("type")
    if kind == "veth":
        _brief(topo, link, where, line, out)
        return
    end = _end(topo, link, 0, link.get("endpoint"), f"{where}.endpoint", line)
    if end is None:
        return
    if kind == "mgmt-net":
        mgmt = _end(topo, {}, 0, f"mgmt-net:{link.get('host-interface')}", f"{where}.host-interface", line)
        mgmt.host = end.host
        task = _veth(end, mgmt, link.get("mtu"))
    elif kind == "host":
        task = {"veth": {"name": end.iface, "netns": end.ns, "peer": str(link.get("host-interface")), "peer_netns": "",
                         "mtu": link.get("mtu") or CLAB_MTU, **({"addresses": end.addresses} if end.addresses else {})}}
    elif kind == "macvlan":
        task = {"macvlan": {"name": end.iface, "link": str(link.get("host-interface")), "netns": end.ns,
                            "mode": link.get("mode") or "bridge", "addresses": end.addresses}}
    elif kind == "dummy":
        task = {"dummy": {"name": end.iface, "netns": end.ns, "addresses": end.addresses,
                          **({"mtu": int(link["mtu"])} if link.get("mtu") else {})}}
    elif kind in ("vxlan", "vxlan-stitch"):    # stitched by containerlab through a veth: here, the node's own
        task = _vxlan(end, int(link.get("vni") or 0), str(link.get("remote")), link.get("mtu"),
                      int(link.get("udp-port") or 4789))
    else:
        topo.problems.append(Problem(topo.path, line, f"{where}.type", f"link type {kind!r}: nsprov makes veth, host, "
                                                                      f"mgmt-net, macvlan, dummy, vxlan and vxlan-stitch links"))
        return
    params = next(iter(task.values()))
    if end.altname and params["name"] == end.iface:
        params.setdefault("altname", end.altname)
    if end.mac and "veth" in task and params["name"] == end.iface:
        params.setdefault("mac", end.mac)
    _add(out, end.host, task)


def _add(out: dict, host: Optional[str], task: dict) -> None:
    if host is not None:
        out.setdefault(host, []).append(task)


def link_tasks(topo) -> dict:
    """{host: [task]} of every link of TOPO (its nodes placed)."""
    out: dict = {}
    links = topo.top.get("links") or []
    for i, link in enumerate(links):
        where, line = f"topology.links[{i}]", links.line_of(i) if hasattr(links, "line_of") else 1
        if not isinstance(link, (dict, MarkedDict)):
            topo.problems.append(Problem(topo.path, line, where, "a link is a mapping (endpoints, or type and its keys)"))
        elif "type" in link:
            _extended(topo, link, where, line, out)
        else:
            _brief(topo, link, where, line, out)
    return out


def dangling(crossings: tuple, statuses: dict) -> list:
    """What a run left half-made: each link across hosts (CROSSINGS: (label, host, host)) made
    on one side and not the other (STATUSES: {host: ok, changed, failed, unreachable...})."""
    out = []
    done = {h for h, s in statuses.items() if s in ("ok", "changed")}
    for label, a, b in crossings:
        for made, missing in ((a, b), (b, a)):
            if made in done and missing not in done:
                out.append(f"link {label} dangles: its end on {made} is made, and {missing} "
                           f"{statuses.get(missing, 'was not run')}, so its end there may be missing until a run "
                           f"reaches it (`nsprov destroy` from either side removes it)")
    return out


def node_addresses(links: dict) -> dict:
    """{netns ("" the host's): [ip_interface]} of the link ends LINKS (link_tasks's) make."""
    by_node: dict = {}
    for tasks in links.values():
        for task in tasks:
            p = next(iter(task.values()))
            for ns, key in ((p.get("netns", ""), "addresses"), (p.get("peer_netns"), "peer_addresses")):
                if ns is not None and p.get(key):
                    by_node.setdefault(ns, []).extend(ipaddress.ip_interface(a) for a in p[key])
    return by_node


def ping_tasks(topo, links: dict) -> dict:
    """{host: [verify task]}: each node pings every other node's address on a subnet it shares
    (LINKS: link_tasks's)."""
    by_node = node_addresses(links)
    hosts = {n.ns: n.host for n in topo.nodes.values() if n.ns}
    out: dict = {}
    for src, mine in sorted(by_node.items()):
        reach = [{"from": src, "to": str(b.ip)} for dst, theirs in sorted(by_node.items()) if dst != src
                 for b in theirs if any(a.network == b.network for a in mine)]
        if reach and src in hosts:
            out.setdefault(hosts[src], []).append({"verify": {"reach": reach}})
    return out
