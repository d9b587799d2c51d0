"""ipvlan: a link sharing its parent's MAC address, in any netns (modes l2, l3, l3s)."""

from nsprov.model import types as t
from nsprov.model.kinds import _stacked
from nsprov.model.kinds.base import ADDRESSES, MTU, NETNS, OVERLAP, STATE, UP, Kind, Param

MODES = ("l2", "l3", "l3s")
MODE = t.Type(" | ".join(MODES), t.choice(*MODES), {"enum": list(MODES)}, "l2")


class Ipvlan(Kind):
    name = "ipvlan"
    summary = "an ipvlan on a parent link (l2, l3, l3s) in any netns: addresses, mtu"
    doc = ("An ipvlan link on a parent link (a host NIC, a veth end): it shares the parent's MAC address, "
           "so it works where a switch or a cloud allows one MAC per port. Made in the parent's namespace "
           "and moved into its own in the same request, marked with the lab's ifalias. It dies with its "
           "parent, and its netns. Its mode is changed in place; a new parent makes it again. Addresses on "
           "it that the task does not declare are removed (other than IPv6 link-local ones).")
    absent = "Deletes the ipvlan (its parent stays)."
    example = "ipvlan: {name: ipv0, link: eth1, netns: red, mode: l2, addresses: [10.9.0.2/24]}"
    params = {
        "name": Param(t.IFNAME, "the ipvlan's interface name", required=True, example="ipv0"),
        "link": Param(t.IFNAME, "its parent link (it must exist when the task runs)", required=True,
                      example="eth1"),
        "link_netns": NETNS.but("the netns of the parent link; empty: the host's own"),
        "netns": NETNS.but("the netns the ipvlan goes into; empty: the host's own"),
        "mode": Param(MODE, "l2 (switches frames: neighbours on the parent's segment answer it), l3 (routes: "
                            "no broadcast, no ARP to it), l3s (l3 with the host's netfilter on its traffic)",
                      default="l2"),
        "addresses": ADDRESSES,
        "mtu": MTU.but("its MTU, at most the parent's; unset: the parent's"),
        "up": UP,
        "allow_management_overlap": OVERLAP,
        "state": STATE,
    }

    label = staticmethod(_stacked.label("ipvlan"))
    rules = staticmethod(_stacked.rules("ipvlan"))
    declares = staticmethod(_stacked.declares())
    draw = staticmethod(_stacked.draw("ipvlan", lambda p: p["mode"]))


KIND = Ipvlan()
