"""address: one address on an interface nsprov did not necessarily make."""

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, NETNS, OVERLAP, Param, STATE, in_ns


def _declares(p: dict) -> Declares:
    used = (("netns", p["netns"]),) if p["netns"] else ()
    if p["state"] != "present":
        return Declares(netns_used=used)
    return Declares(addresses=((p["netns"], p["interface"], p["address"]),), netns_used=used)


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        topo.line(p["netns"], f"{p['interface']} {p['address']}")


class Address(Kind):
    name = "address"
    summary = "one address on an interface in any netns (the host's eth0, a veth end...)"
    doc = ("Adds one address to an existing interface. On an interface nsprov did not make, the address "
           "is recorded on its own, so destroy removes that address and nothing else.")
    absent = "Removes the address (only one nsprov added, or on a link nsprov made)."
    example = "address: {interface: eth0, netns: red, address: 10.2.0.9/24}"
    params = {
        "interface": Param(t.IFNAME, "the interface", required=True, example="eth0"),
        "netns": NETNS,
        "address": Param(t.CIDR, "the address with its prefix", required=True),
        "allow_management_overlap": OVERLAP,
        "state": STATE,
    }

    def label(self, p):
        return f"address {p['address']} on {in_ns(p['netns'])}{p['interface']}"

    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Address()
