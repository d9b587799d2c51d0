"""interface: an existing interface (a second NIC, a device another tool made) moved into a netns."""

from nsprov.model import types as t
from nsprov.model.kinds.base import ADDRESSES, MTU, NETNS, OVERLAP, STATE, UP, Declares, Kind, Param, in_ns


def _rules(p: dict) -> list:
    return [] if p["netns"] else [("netns", "is required: the netns the interface goes into")]


def _declares(p: dict) -> Declares:
    used = (("netns", p["netns"]),) if p["netns"] else ()
    inside = p["rename"] or p["name"]
    if p["state"] != "present":
        return Declares(netns_used=used)
    return Declares(objects=(("link", p["netns"], inside), ("link", "", p["name"])),
                    addresses=tuple((p["netns"], inside, a) for a in p["addresses"]), netns_used=used)


def _draw(p: dict, topo) -> None:
    if p["state"] != "present":
        return
    inside = p["rename"] or p["name"]
    if p["addresses"]:
        topo.line(p["netns"], f"{inside} {' '.join(p['addresses'])}")
    topo.edge(topo.ns_node(""), topo.ns_node(p["netns"]), f"interface {p['name']}" + (
        f" as {inside}" if inside != p["name"] else "") + " (moved)")


class Interface(Kind):
    name = "interface"
    summary = "move an existing interface (a second NIC, another tool's device) into a netns: name, addresses, mtu"
    doc = ("Moves an interface nsprov did not make (a second NIC, a device another tool made) from the host's "
           "namespace into a netns, under its own name or `rename`, with addresses and mtu, marked with the lab's "
           "ifalias while it is there. It is recorded as moved, never as made, and never deleted: destroy (or "
           "`state: absent`, or the netns going) moves it back with its original name, MTU, state, alias and "
           "addresses. The interface the controller's connection comes in at is refused unless "
           "allow_management_overlap; a link nsprov made (a veth end, a bridge) is moved by its own task's netns.")
    absent = "Moves the interface back to the host's namespace as it was."
    example = "interface: {name: eth1, netns: red, rename: wan0, addresses: [192.168.60.2/24]}"
    params = {
        "name": Param(t.IFNAME, "the interface's name in the host's namespace (it must exist)", required=True,
                      example="eth1"),
        "netns": NETNS.but("the netns it goes into (required)", example="red"),
        "rename": Param(t.IFNAME, "its name inside the netns; unset: the same", example="wan0"),
        "addresses": ADDRESSES,
        "mtu": MTU.but("its MTU inside; unset: as it was"),
        "up": UP,
        "allow_management_overlap": OVERLAP.but("allow moving the interface the controller's connection comes in "
                                                "at (nsprov, and SSH, would lose the host)"),
        "state": STATE,
    }

    def label(self, p):
        inside = p["rename"] or p["name"]
        return f"interface {p['name']}->{in_ns(p['netns'])}{inside}"

    rules = staticmethod(_rules)
    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Interface()
