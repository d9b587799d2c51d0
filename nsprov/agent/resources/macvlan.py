"""macvlan: plan a macvlan on a parent link, present or absent, and remove a recorded one."""

from __future__ import annotations

from typing import Optional

from nsprov.agent.resources._links import link_exists
from nsprov.agent.resources._stacked import Stacked

MODULE = "macvlan"
RECORDS = ("link",)
DIES_WITH = (("link", "link_netns", "link"),)    # the kernel deletes a macvlan with its parent
IFLA_MACVLAN_MODE = 1
MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}


def CLAIMS(record: dict) -> bool:
    return False       # every macvlan record names its module: none was written before they did


class Macvlan(Stacked):
    kind = MODULE
    ATTRS = {"mode": (IFLA_MACVLAN_MODE, "u32", MODES)}

    def remake(self, have: dict, want: dict) -> Optional[str]:
        if have["mode"] != want["mode"] and "passthru" in (have["mode"], want["mode"]):
            return f"mode {have['mode']}→{want['mode']} (passthru cannot be switched in place)"
        return None

    def describe(self, p: dict) -> str:
        return p["mode"]


_KIND = Macvlan()
plan, absent, keys = _KIND.plan, _KIND.absent, _KIND.keys
exists = link_exists
