"""dummy: a dummy interface (a link that goes nowhere: a loopback of its own) in any netns."""

from nsprov.model import types as t
from nsprov.model.kinds.base import ADDRESSES, ALTNAME, Declares, Kind, MTU, NETNS, OVERLAP, Param, STATE, UP, in_ns


def _declares(p: dict) -> Declares:
    used = (("netns", p["netns"]),) if p["netns"] else ()
    if p["state"] != "present":
        return Declares(netns_used=used)
    return Declares(objects=(("link", p["netns"], p["name"]),),
                    addresses=tuple((p["netns"], p["name"], a) for a in p["addresses"]), netns_used=used)


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        topo.line(p["netns"], f"dummy {p['name']} {' '.join(p['addresses'])}".rstrip())


class Dummy(Kind):
    name = "dummy"
    summary = "a dummy interface in any netns (addresses that answer without a link): addresses, mtu"
    doc = ("A dummy interface, as containerlab's `type: dummy` links and routers' loopbacks use: it "
           "carries addresses that answer locally and are routed to, with no peer. Marked with the lab's "
           "ifalias. Addresses on it that the task does not declare are removed (other than IPv6 "
           "link-local ones).")
    absent = "Deletes the dummy interface."
    example = "dummy: {name: lo1, netns: red, addresses: [192.0.2.1/32]}"
    params = {
        "name": Param(t.IFNAME, "the interface's name", required=True, example="lo1"),
        "netns": NETNS.but("the netns it lives in; empty: the host's own"),
        "addresses": ADDRESSES.but("addresses on it, exactly these"),
        "altname": ALTNAME,
        "mtu": MTU.but("its MTU; unset: the kernel's default (1500)"),
        "up": UP,
        "allow_management_overlap": OVERLAP,
        "state": STATE,
    }

    def label(self, p):
        return f"dummy {in_ns(p['netns'])}{p['name']}"

    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Dummy()
