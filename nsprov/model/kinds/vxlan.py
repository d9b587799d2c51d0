"""vxlan: a VXLAN tunnel end (an L2 segment over UDP), in any netns, on an underlay link."""

import ipaddress

from nsprov.model import types as t
from nsprov.model.kinds import _stacked
from nsprov.model.kinds.base import ADDRESSES, ALTNAME, MTU, NETNS, OVERLAP, STATE, UP, Kind, Param

VNI = t.Type("VXLAN network identifier (0-16777215)", lambda v: t.int_in(v, "a VNI", 0, 16777215),
             {"type": "integer", "minimum": 0, "maximum": 16777215}, 42)
OVERHEAD = {4: 50, 6: 70}     # outer Ethernet 14 + IP (20 or 40) + UDP 8 + VXLAN 8


def _rules(p: dict) -> list:
    out = _stacked.rules("vxlan", "dev", "dev_netns", "underlay")(p)
    if p["remote"] and p["group"]:
        out.append(("group", "a vxlan sends either to one remote or to a multicast group, not both"))
    if p["group"] and not ipaddress.ip_address(p["group"]).is_multicast:
        out.append(("group", f"{p['group']} is not a multicast address (for one peer, use remote)"))
    if p["remote"] and ipaddress.ip_address(p["remote"]).is_multicast:
        out.append(("remote", f"{p['remote']} is a multicast address (use group)"))
    peer = p["remote"] or p["group"]
    if p["local"] and peer and ipaddress.ip_address(p["local"]).version != ipaddress.ip_address(peer).version:
        out.append(("local", f"{p['local']} and {peer} are not of the same IP version"))
    return out


def overhead(p: dict) -> int:
    """What VXLAN adds to each packet on the underlay: 50 bytes over IPv4, 70 over IPv6."""
    peer = p["remote"] or p["group"] or p["local"]
    return OVERHEAD[ipaddress.ip_address(peer).version if peer else 4]


_draw_end = _stacked.draw("vxlan", lambda p: f"id {p['id']}" + (
    f" to {p['remote'] or p['group']}" if p["remote"] or p["group"] else ""), "dev", "dev_netns")


def _draw(p: dict, topo) -> None:
    """Its end in its netns (on its bridge), and a tunnel end that meets the other hosts' ends of its id."""
    if p["bridge"] and p["state"] == "present":
        topo.edge(topo.ns_node(p["dev_netns"]), topo.end_node(p["netns"], p["bridge"]),
                  f"vxlan {p['name']} (id {p['id']}{' to ' + p['remote'] if p['remote'] else ''}), port of {p['bridge']}")
    else:
        _draw_end(p, topo)
    if p["state"] == "present":
        topo.tunnel(p["netns"], ("vxlan", p["id"], p["port"]), f"vxlan {p['id']}", p["bridge"] or "")


class Vxlan(Kind):
    name = "vxlan"
    summary = "a VXLAN tunnel end (id, remote or group, underlay dev, port) in any netns: addresses, mtu"
    doc = ("A VXLAN link: an Ethernet segment carried in UDP to a remote tunnel end (or a multicast group), "
           "as between lab hosts. Made in the underlay's namespace (its UDP socket stays there) and moved "
           "into its own in the same request, marked with the lab's ifalias. It dies with its underlay "
           "`dev`, and its netns. Unless `mtu` is set, its MTU is the underlay's less the encapsulation "
           "(50 bytes over IPv4, 70 over IPv6); a result below 1280 (too small for IPv6) is said in the "
           "run's output. A new id, dev, local, remote, group, port or learning makes it again. Addresses "
           "on it that the task does not declare are removed (other than IPv6 link-local ones).")
    absent = "Deletes the vxlan (its underlay stays)."
    example = "vxlan: {name: vx42, id: 42, dev: eth0, remote: 192.168.50.12, netns: red, addresses: [10.42.0.1/24]}"
    params = {
        "name": Param(t.IFNAME, "the vxlan's interface name", required=True, example="vx42"),
        "id": Param(VNI, "its VXLAN network identifier (VNI): both ends use the same", required=True),
        "dev": Param(t.IFNAME, "the underlay link its packets leave by (it must exist when the task runs); "
                               "unset: wherever the route to the remote goes", example="eth0"),
        "dev_netns": NETNS.but("the netns of the underlay, where its UDP socket lives; empty: the host's own"),
        "local": Param(t.IP, "the source address of its packets; unset: chosen by the route", example="192.168.50.11"),
        "remote": Param(t.IP, "the other tunnel end's address (unicast)", example="192.168.50.12"),
        "group": Param(t.IP, "a multicast group to flood to, instead of one remote", example="239.1.1.1"),
        "port": Param(t.PORT, "the UDP port, both ends the same", default=4789, example=4789),
        "learning": Param(t.BOOL, "learn remote MAC addresses from the packets that arrive", default=True),
        "netns": NETNS.but("the netns the vxlan goes into; empty: the host's own"),
        "bridge": Param(t.IFNAME, "a bridge (in the vxlan's netns) it is a port of: the bridge's segment "
                                  "then spans hosts", example="br0"),
        "addresses": ADDRESSES,
        "altname": ALTNAME,
        "mtu": MTU.but("its MTU; unset: the underlay's less 50 (IPv4) or 70 (IPv6)"),
        "up": UP,
        "allow_management_overlap": OVERLAP,
        "state": STATE,
    }

    label = staticmethod(_stacked.label("vxlan", "dev", "dev_netns"))
    rules = staticmethod(_rules)
    declares = staticmethod(_stacked.declares("dev_netns"))
    draw = staticmethod(_draw)


KIND = Vxlan()
