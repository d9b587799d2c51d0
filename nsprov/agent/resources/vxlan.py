"""vxlan: plan a VXLAN tunnel end on its underlay, present or absent, and remove a recorded one."""

from __future__ import annotations

import ipaddress
from typing import Optional

from nsprov.agent.kernel.objects import Link, unpack_value
from nsprov.agent.resources._links import link_exists
from nsprov.agent.resources._stacked import Stacked
from nsprov.agent.planning import Context, PlanError, TaskPlan
from nsprov.agent.state import Observed
from nsprov.model.kinds.vxlan import overhead

MODULE = "vxlan"
RECORDS = ("link",)
DIES_WITH = (("link", "dev_netns", "dev"),)    # the kernel deletes a vxlan with its underlay
# IFLA_VXLAN_*: the peer (a remote or a group) and the local address have a v4 and a v6 attribute
ID, GROUP, LINK, LOCAL, LEARNING, PORT, GROUP6, LOCAL6 = 1, 2, 3, 4, 7, 15, 16, 17


def CLAIMS(record: dict) -> bool:
    return False       # every vxlan record names its module


def _v6(address: str) -> bool:
    return ipaddress.ip_address(address).version == 6


class Vxlan(Stacked):
    kind = MODULE
    lower, lower_ns, noun = "dev", "dev_netns", "underlay"
    bound = False            # bound to its underlay by IFLA_VXLAN_LINK, not IFLA_LINK
    ATTRS = {k: None for k in ("id", "dev", "local", "remote", "group", "port", "learning")}
    KEEP = ("id", "port")
    FIXED = tuple(ATTRS)     # the kernel refuses most changes to a vxlan: any change makes it again

    def declared(self, p: dict, lower: Optional[Link]) -> dict:
        return {"id": p["id"], "dev": lower.index if lower else None, "local": p["local"], "remote": p["remote"],
                "group": p["group"], "port": p["port"], "learning": p["learning"]}

    def observed(self, link: Link) -> dict:
        info = link.info or {}
        peer = unpack_value(info.get(GROUP) or info.get(GROUP6), "ip")
        many = peer is not None and ipaddress.ip_address(peer).is_multicast
        learning = unpack_value(info.get(LEARNING), "u8")
        return {"id": unpack_value(info.get(ID), "u32"), "dev": unpack_value(info.get(LINK), "u32") or None,
                "local": unpack_value(info.get(LOCAL) or info.get(LOCAL6), "ip"),
                "remote": None if many else peer, "group": peer if many else None,
                "port": unpack_value(info.get(PORT), "be16"), "learning": None if learning is None else bool(learning)}

    def create_data(self, p: dict, lower: Optional[Link]) -> list:
        peer = p["remote"] or p["group"]
        out = [(ID, "u32", p["id"]), (PORT, "be16", p["port"]), (LEARNING, "u8", int(p["learning"]))]
        if p["dev"]:
            out.append((LINK, "ifindex", p["dev"]))       # its index where the request goes
        if peer:
            out.append((GROUP6 if _v6(peer) else GROUP, "ip", peer))
        if p["local"]:
            out.append((LOCAL6 if _v6(p["local"]) else LOCAL, "ip", p["local"]))
        return out

    def underlay(self, p: dict, obs: Observed, lower: Optional[Link]) -> Optional[Link]:
        """The link its packets leave by: DEV, or where the route to the remote goes."""
        if lower is not None or not p["remote"] or not obs.exists(p["dev_netns"]):
            return lower
        ns, remote = obs.ns(p["dev_netns"]), ipaddress.ip_address(p["remote"])
        best = None
        for r in ns.routes.values():
            net = ipaddress.ip_network("0.0.0.0/0" if remote.version == 4 else "::/0") if r.dst == "default" \
                else ipaddress.ip_network(r.dst, strict=False)
            if net.version == remote.version and remote in net and r.dev and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, r.dev)
        return ns.links.get(best[1]) if best else None

    def plan(self, p: dict, obs: Observed, ctx: Context) -> TaskPlan:
        """As any stacked link's, once no other lab's vxlan on this host holds its id and port (the
        kernel allows one per id and port: the other lab's run would have made it first)."""
        if p["state"] == "present":
            for e in ctx.ledger.objects:
                if (e.get("module") == MODULE and e.get("id") == p["id"] and (e.get("port") or 4789) == p["port"]
                        and e.get("lab") != ctx.lab and (e.get("netns", ""), e["name"]) != (p["netns"], p["name"])):
                    raise PlanError(f"vxlan '{p['name']}': id {p['id']} (port {p['port']}) is lab {e.get('lab')}'s "
                                    f"on this host (vxlan {e['name']} in {e.get('netns') or 'the host namespace'}); "
                                    f"one host takes one tunnel per id and port")
        return super().plan(p, obs, ctx)

    def default_mtu(self, p: dict, underlay: Optional[Link]) -> Optional[int]:
        return underlay.mtu - overhead(p) if underlay is not None and underlay.mtu else None

    def describe(self, p: dict) -> str:
        peer = f" to {p['remote'] or p['group']}" if p["remote"] or p["group"] else ""
        return f"id {p['id']}{peer}, port {p['port']}"


_KIND = Vxlan()
plan, absent, keys = _KIND.plan, _KIND.absent, _KIND.keys
exists = link_exists
