"""veth: a virtual ethernet pair, each end in a chosen namespace."""

from nsprov.model import types as t
from nsprov.model.kinds.base import ADDRESSES, ALTNAME, MAC, Declares, Kind, MTU, NETNS, OVERLAP, Param, STATE, UP, in_ns


def _rules(p: dict) -> list:
    ends = {a.split("/")[0] for a in p["addresses"]}
    both = [a for a in p["peer_addresses"] if a.split("/")[0] in ends]
    if both:
        return [("peer_addresses", f"{both[0]} is also on the other end ({p['name']}): the two ends of a veth "
                                   f"need different addresses")]
    return []


def _declares(p: dict) -> Declares:
    used = tuple((f, p[f]) for f in ("netns", "peer_netns") if p[f])
    if p["state"] != "present":
        return Declares(netns_used=used)
    return Declares(objects=(("link", p["netns"], p["name"]), ("link", p["peer_netns"], p["peer"])),
                    addresses=tuple((p["netns"], p["name"], a) for a in p["addresses"]) +
                    tuple((p["peer_netns"], p["peer"], a) for a in p["peer_addresses"]),
                    netns_used=used)


def _draw(p: dict, topo) -> None:
    if p["state"] != "present":
        return
    a, b = topo.end_node(p["netns"], p["bridge"]), topo.end_node(p["peer_netns"], p["peer_bridge"])
    if p["addresses"]:
        topo.line(p["netns"], f"{p['name']} {' '.join(p['addresses'])}")
    if p["peer_addresses"]:
        topo.line(p["peer_netns"], f"{p['peer']} {' '.join(p['peer_addresses'])}")
    topo.edge(a, b, f"{p['name']} - {p['peer']}")


class Veth(Kind):
    name = "veth"
    summary = "a veth pair with each end in a chosen netns, optional bridge master, addresses, mtu"
    doc = ("A veth pair made with its peer directly in the peer's namespace. Each end may be a port of a "
           "bridge in its own namespace and carries exactly its declared addresses. Both ends are marked "
           "with the lab's ifalias; half a pair (the other end deleted by hand) is made whole again.")
    absent = "Deletes the pair (both ends)."
    example = "veth: {name: br0-red, bridge: br0, peer: eth0, peer_netns: red, peer_addresses: [10.2.0.2/24]}"
    params = {
        "name": Param(t.IFNAME, "this end's interface name", required=True),
        "netns": NETNS.but("the netns of this end; empty: the host's own"),
        "peer": Param(t.IFNAME, "the other end's interface name", required=True, example="eth0"),
        "peer_netns": NETNS.but("the netns of the other end; empty: the host's own"),
        "bridge": Param(t.IFNAME, "a bridge (in this end's netns) this end is a port of", example="br0"),
        "peer_bridge": Param(t.IFNAME, "a bridge (in the peer's netns) the other end is a port of",
                             example="br1"),
        "addresses": ADDRESSES.but("addresses on this end, exactly these"),
        "peer_addresses": ADDRESSES.but("addresses on the other end, exactly these",
                                example=["10.0.0.2/24"]),
        "mac": MAC.but("this end's hardware address; unset: the kernel's (random)"),
        "peer_mac": MAC.but("the other end's hardware address; unset: the kernel's (random)",
                            example="02:00:00:00:00:02"),
        "altname": ALTNAME.but("a second, longer name of this end"),
        "peer_altname": ALTNAME.but("a second, longer name of the other end"),
        "mtu": MTU.but("MTU of both ends"),
        "up": UP.but("both ends up"),
        "allow_management_overlap": OVERLAP,
        "state": STATE,
    }

    def label(self, p):
        return f"veth {in_ns(p['netns'])}{p['name']}<->{in_ns(p['peer_netns'])}{p['peer']}"

    rules = staticmethod(_rules)
    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Veth()
