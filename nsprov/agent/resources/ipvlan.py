"""ipvlan: plan an ipvlan on a parent link, present or absent, and remove a recorded one."""

from __future__ import annotations

from nsprov.agent.resources._links import link_exists
from nsprov.agent.resources._stacked import Stacked

MODULE = "ipvlan"
RECORDS = ("link",)
DIES_WITH = (("link", "link_netns", "link"),)    # the kernel deletes an ipvlan with its parent
IFLA_IPVLAN_MODE = 1
MODES = {"l2": 0, "l3": 1, "l3s": 2}


def CLAIMS(record: dict) -> bool:
    return False       # every ipvlan record names its module


class Ipvlan(Stacked):
    kind = MODULE
    ATTRS = {"mode": (IFLA_IPVLAN_MODE, "u16", MODES)}      # the kernel changes the mode in place

    def describe(self, p: dict) -> str:
        return p["mode"]


_KIND = Ipvlan()
plan, absent, keys = _KIND.plan, _KIND.absent, _KIND.keys
exists = link_exists
