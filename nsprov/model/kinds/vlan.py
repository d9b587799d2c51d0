"""vlan: an 802.1Q (or 802.1ad) VLAN link on a parent link, in any netns."""

from nsprov.model import types as t
from nsprov.model.kinds import _stacked
from nsprov.model.kinds.base import ADDRESSES, MTU, NETNS, OVERLAP, STATE, UP, Kind, Param

PROTOCOLS = ("802.1Q", "802.1ad")
PROTOCOL = t.Type(" | ".join(PROTOCOLS), t.choice(*PROTOCOLS), {"enum": list(PROTOCOLS)}, "802.1Q")
VLAN_ID = t.Type("VLAN id (1-4094)", lambda v: t.int_in(v, "a VLAN id", 1, 4094),
                 {"type": "integer", "minimum": 1, "maximum": 4094}, 10)


class Vlan(Kind):
    name = "vlan"
    summary = "a VLAN (802.1Q or 802.1ad) on a parent link in any netns: id, addresses, mtu"
    doc = ("A VLAN link on a parent link (a host NIC, a veth end, a bridge, another VLAN for QinQ): frames "
           "it sends are tagged with its id, frames with that tag on the parent come to it. Made in the "
           "parent's namespace and moved into its own in the same request, marked with the lab's ifalias. "
           "It dies with its parent, and its netns. A new id, protocol or parent makes it again. Addresses "
           "on it that the task does not declare are removed (other than IPv6 link-local ones).")
    absent = "Deletes the VLAN link (its parent stays)."
    example = "vlan: {name: eth1.10, link: eth1, id: 10, netns: red, addresses: [10.10.0.2/24]}"
    params = {
        "name": Param(t.IFNAME, "the VLAN link's interface name", required=True, example="eth1.10"),
        "link": Param(t.IFNAME, "its parent link (it must exist when the task runs)", required=True,
                      example="eth1"),
        "id": Param(VLAN_ID, "the VLAN id its frames carry", required=True),
        "protocol": Param(PROTOCOL, "the tag: 802.1Q (a customer VLAN) or 802.1ad (a service VLAN, the outer "
                                    "tag of QinQ)", default="802.1Q"),
        "link_netns": NETNS.but("the netns of the parent link; empty: the host's own"),
        "netns": NETNS.but("the netns the VLAN link goes into; empty: the host's own"),
        "addresses": ADDRESSES,
        "mtu": MTU.but("its MTU, at most the parent's; unset: the parent's"),
        "up": UP,
        "allow_management_overlap": OVERLAP,
        "state": STATE,
    }

    label = staticmethod(_stacked.label("vlan"))
    rules = staticmethod(_stacked.rules("vlan"))
    declares = staticmethod(_stacked.declares())
    draw = staticmethod(_stacked.draw("vlan", lambda p: f"id {p['id']} {p['protocol']}"))


KIND = Vlan()
