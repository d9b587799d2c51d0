"""macvlan: a link with its own MAC address on a parent link, in any netns."""

from nsprov.model import types as t
from nsprov.model.kinds.base import ADDRESSES, MTU, NETNS, OVERLAP, STATE, UP, Declares, Kind, Param, in_ns

MODES = ("bridge", "private", "vepa", "passthru")
MODE = t.Type(" | ".join(MODES), t.choice(*MODES), {"enum": list(MODES)}, "bridge")


def _rules(p: dict) -> list:
    if p["name"] == p["link"] and p["netns"] == p["link_netns"]:
        return [("link", f"{p['link']} is the macvlan itself: name its parent, another link")]
    return []


def _declares(p: dict) -> Declares:
    used = tuple((f, p[f]) for f in ("netns", "link_netns") if p[f])
    if p["state"] != "present":
        return Declares(netns_used=used)
    return Declares(objects=(("link", p["netns"], p["name"]),),
                    addresses=tuple((p["netns"], p["name"], a) for a in p["addresses"]), netns_used=used)


def _draw(p: dict, topo) -> None:
    if p["state"] != "present":
        return
    if p["addresses"]:
        topo.line(p["netns"], f"{p['name']} {' '.join(p['addresses'])}")
    topo.edge(topo.ns_node(p["link_netns"]), topo.ns_node(p["netns"]),
              f"macvlan {p['name']} on {p['link']} ({p['mode']})")


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
        "mtu": MTU.but("its MTU, at most the parent's; unset: the parent's"),
        "up": UP,
        "allow_management_overlap": OVERLAP,
        "state": STATE,
    }

    def label(self, p):
        return f"macvlan {in_ns(p['netns'])}{p['name']}@{in_ns(p['link_netns'])}{p['link']}"

    rules = staticmethod(_rules)
    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Macvlan()
