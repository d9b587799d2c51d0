"""vlan: plan an 802.1Q/802.1ad VLAN link on a parent link, present or absent, and remove a
recorded one."""

from __future__ import annotations

from nsprov.agent.resources._links import link_exists
from nsprov.agent.resources._stacked import Stacked

MODULE = "vlan"
RECORDS = ("link",)
DIES_WITH = (("link", "link_netns", "link"),)    # the kernel deletes a VLAN link with its parent
IFLA_VLAN_ID, IFLA_VLAN_PROTOCOL = 1, 5
PROTOCOLS = {"802.1Q": 0x8100, "802.1ad": 0x88A8}


def CLAIMS(record: dict) -> bool:
    return False       # every vlan record names its module


class Vlan(Stacked):
    kind = MODULE
    ATTRS = {"id": (IFLA_VLAN_ID, "u16", None), "protocol": (IFLA_VLAN_PROTOCOL, "be16", PROTOCOLS)}
    KEEP = ("id",)
    FIXED = ("id", "protocol")      # the kernel keeps a VLAN's id and protocol for its life

    def describe(self, p: dict) -> str:
        return f"id {p['id']}, {p['protocol']}"


_KIND = Vlan()
plan, absent, keys = _KIND.plan, _KIND.absent, _KIND.keys
exists = link_exists
