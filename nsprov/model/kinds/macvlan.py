"""macvlan: a link with its own MAC address on a parent link, in any netns."""

from nsprov.model import types as t
from nsprov.model.kinds import _stacked
from nsprov.model.kinds.base import ADDRESSES, ALTNAME, MTU, NETNS, OVERLAP, STATE, UP, Kind, Param

MODES = ("bridge", "private", "vepa", "passthru")
MODE = t.Type(" | ".join(MODES), t.choice(*MODES), {"enum": list(MODES)}, "bridge")


class Macvlan(Kind):
    name = "macvlan"
    summary = "a macvlan on a parent link (bridge, private, vepa, passthru) in any netns: addresses, mtu"
    doc = ("A macvlan link with its own MAC address on a parent link (a host NIC, a veth end, a bridge), "
           "made in the parent's namespace and moved into its own in the same request, marked with the "
           "lab's ifalias. It dies with its parent, and its netns. Its mode is changed in place; a new "
           "parent, or a mode into or out of passthru, makes it again. Addresses on it that the task "
           "does not declare are removed (other than IPv6 link-local ones).")
    absent = "Deletes the macvlan (its parent stays)."
    example = "macvlan: {name: mv0, link: eth0, netns: red, addresses: [10.9.0.2/24]}"
    params = {
        "name": Param(t.IFNAME, "the macvlan's interface name", required=True, example="mv0"),
        "link": Param(t.IFNAME, "its parent link (it must exist when the task runs)", required=True,
                      example="eth0"),
        "link_netns": NETNS.but("the netns of the parent link; empty: the host's own"),
        "netns": NETNS.but("the netns the macvlan goes into; empty: the host's own"),
        "mode": Param(MODE, "how macvlans on the same parent reach each other: bridge (directly), private "
                            "(never), vepa (through the switch), passthru (the one macvlan takes the parent)",
                      default="bridge"),
        "addresses": ADDRESSES,
        "altname": ALTNAME,
        "mtu": MTU.but("its MTU, at most the parent's; unset: the parent's"),
        "up": UP,
        "allow_management_overlap": OVERLAP,
        "state": STATE,
    }

    label = staticmethod(_stacked.label("macvlan"))
    rules = staticmethod(_stacked.rules("macvlan"))
    declares = staticmethod(_stacked.declares())
    draw = staticmethod(_stacked.draw("macvlan", lambda p: p["mode"]))


KIND = Macvlan()
