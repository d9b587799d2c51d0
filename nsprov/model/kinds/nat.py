"""nat: masquerade a source prefix out of an interface."""

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, NETNS, Param, RULE_OVERLAP, STATE, in_ns


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        topo.line(p["netns"], f"masquerade {p['source']} out {p['out_interface']}")


class Nat(Kind):
    name = "nat"
    summary = "masquerade of a source prefix out of an interface, in the lab's own nft table"
    doc = ("A masquerade rule in the lab's own nftables table (`ip nsprov_LAB`, made with its first rule; "
           "iptables rules tagged with the lab where nft is missing). A table or rule nsprov did not record "
           "is never adopted.")
    absent = "Deletes the rule (and the lab's table with its last rule)."
    example = "nat: {source: 10.2.0.0/24, out_interface: eth0}"
    params = {
        "source": Param(t.NETWORK, "the source prefix to masquerade", required=True),
        "out_interface": Param(t.IFNAME, "the interface packets leave by", required=True, example="uplink0"),
        "netns": NETNS,
        "allow_management_overlap": RULE_OVERLAP,
        "state": STATE,
    }

    def label(self, p):
        return f"nat {in_ns(p['netns'])}{p['source']} out {p['out_interface']}"

    def declares(self, p):
        return Declares(netns_used=(("netns", p["netns"]),) if p["netns"] else ())

    draw = staticmethod(_draw)


KIND = Nat()
