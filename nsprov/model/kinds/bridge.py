"""bridge: a Linux bridge in any network namespace."""

from nsprov.model import types as t
from nsprov.model.kinds.base import ADDRESSES, ALTNAME, Declares, Kind, MTU, NETNS, OVERLAP, Param, STATE, UP, in_ns



def _declares(p: dict) -> Declares:
    if p["state"] != "present":
        return Declares(netns_used=(("netns", p["netns"]),) if p["netns"] else ())
    return Declares(objects=(("link", p["netns"], p["name"]),),
                    addresses=tuple((p["netns"], p["name"], a) for a in p["addresses"]),
                    netns_used=(("netns", p["netns"]),) if p["netns"] else ())


def _draw(p: dict, topo) -> None:
    if p["state"] != "present":
        return
    key = topo.bridge_node(p["netns"], p["name"])
    if p["addresses"]:
        topo.nodes[key].lines.append(" ".join(p["addresses"]))


class Bridge(Kind):
    name = "bridge"
    summary = "a Linux bridge in any netns: addresses, mtu, stp, up"
    doc = ("A bridge in the host's namespace or a netns, marked with the lab's ifalias. Addresses on it "
           "that the task does not declare are removed (other than IPv6 link-local ones).")
    absent = "Deletes the bridge (its ports stay, detached)."
    example = "bridge: {name: br0, addresses: [10.2.0.1/24]}"
    params = {
        "name": Param(t.IFNAME, "the bridge's interface name", required=True, example="br0"),
        "netns": NETNS.but("the netns it lives in; empty: the host's own"),
        "addresses": ADDRESSES.but("addresses on the bridge, exactly these"),
        "altname": ALTNAME,
        "mtu": MTU.but("the bridge's MTU; unset: the kernel's default"),
        "stp": Param(t.BOOL, "spanning tree on", default=False),
        "up": UP,
        "allow_management_overlap": OVERLAP,
        "state": STATE,
    }

    def label(self, p):
        return f"bridge {in_ns(p['netns'])}{p['name']}"

    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Bridge()
