"""macvlan: plan a macvlan on a parent link, present or absent, and remove a recorded one."""

from __future__ import annotations

from typing import Optional

from nsprov.agent import ops
from nsprov.agent.kernel.objects import Link, unpack_value
from nsprov.agent.planning import Claim, Context, PlanError, TaskPlan, guard_management, require_ns
from nsprov.agent.resources._lifetimes import links_going_with
from nsprov.agent.resources._links import after, gone_already, gone_with, link_exists, own_link, reconcile_link
from nsprov.agent.state import Observed

MODULE = "macvlan"
RECORDS = ("link",)
DIES_WITH = (("link", "link_netns", "link"),)    # the kernel deletes a macvlan with its parent
IFLA_MACVLAN_MODE = 1
MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}


def CLAIMS(record: dict) -> bool:
    return False       # every macvlan record names its module: none was written before they did


def _where(ns: str) -> str:
    return f"netns '{ns}'" if ns else "the host's namespace"


def _parent(p: dict, obs: Observed) -> Link:
    parent = obs.link(p["link_netns"], p["link"])
    if parent is None:
        raise PlanError(f"macvlan '{p['name']}': its parent link '{p['link']}' does not exist in "
                        f"{_where(p['link_netns'])}")
    if p["mtu"] and parent.mtu and p["mtu"] > parent.mtu:
        raise PlanError(f"macvlan '{p['name']}': mtu {p['mtu']} is above its parent {p['link']}'s {parent.mtu}")
    return parent


def _mode(link: Link) -> Optional[str]:
    value = unpack_value((link.info or {}).get(IFLA_MACVLAN_MODE), "u32")
    return next((m for m, v in MODES.items() if v == value), None)


def _summary(link: Link) -> dict:
    return {**link.summary(), "link": link.parent, "mode": _mode(link)}


def _remake(p: dict, link: Link, parent: Link) -> Optional[str]:
    """Why the macvlan must be made again (its parent cannot change), or None."""
    bound = p["link"] if p["link_netns"] == p["netns"] else parent.index
    if link.parent is not None and link.parent != bound:
        return f"its parent is now {p['link']}"
    mode = _mode(link)
    if mode != p["mode"] and "passthru" in (mode, p["mode"]):
        return f"mode {mode}→{p['mode']} (passthru cannot be switched in place)"
    return None


def _create(tp: TaskPlan, p: dict, ctx: Context, why: str) -> None:
    ns, name = p["netns"], p["name"]
    tp.act(ops.ADD_LINK, ns, name, why, kind="macvlan", data=[(IFLA_MACVLAN_MODE, "u32", MODES[p["mode"]])],
           link={"mtu": p["mtu"], "up": p["up"], "alias": ctx.mark, "parent": p["link"],
                 "parent_netns": p["link_netns"]})
    tp.records.append(ctx.record("link", ns, name, MODULE, link=p["link"], link_netns=p["link_netns"],
                                 addresses=p["addresses"]))
    for a in p["addresses"]:
        tp.act(ops.ADD_ADDRESS, ns, name, f"{name}: +{a}", dev=name, address=a)


def _absent(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, name = TaskPlan(), p["netns"], p["name"]
    went = gone_with(obs, ns, p["link_netns"])
    if went or (ns, name) in obs.taken:      # its netns, or what it dies with, goes earlier in this plan
        return tp.goes_with(went or ns, None if went else obs.taken[(ns, name)])
    if not obs.exists(ns):
        return gone_already(tp, ns, {"kind": "link", "netns": ns, "name": name})
    exists = own_link(obs, ctx, ns, name, "macvlan")
    tp.before = _summary(obs.link(ns, name)) if exists else {}
    if exists:
        tp.act(ops.DELETE_LINK, ns, name, "deleted", takes=links_going_with(ctx, ("link", ns, name)))
    else:
        tp.reasons.append("absent")
    tp.forgets.append({"kind": "link", "netns": ns, "name": name})
    return tp


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    if p["state"] == "absent":
        return _absent(p, obs, ctx)
    tp, ns, name = TaskPlan(), p["netns"], p["name"]
    require_ns(obs, ns)
    require_ns(obs, p["link_netns"])
    parent = _parent(p, obs)
    exists = own_link(obs, ctx, ns, name, "macvlan")
    link = obs.link(ns, name)
    tp.before = _summary(link) if exists else {}
    for a in p["addresses"]:
        guard_management(ctx, obs, p, ns, Claim(f"address {a} on macvlan '{name}'", a, name))
    why = _remake(p, link, parent) if exists else None
    if why:
        tp.act(ops.DELETE_LINK, ns, name, f"made again: {why}", takes=links_going_with(ctx, ("link", ns, name)))
    if not exists or why:
        _create(tp, p, ctx, f"created macvlan {name} on {p['link']} ({p['mode']})")
    else:
        if _mode(link) != p["mode"]:
            tp.act(ops.SET_LINK_DATA, ns, name, f"{name}: mode {_mode(link)}→{p['mode']}", kind="macvlan",
                   data=[(IFLA_MACVLAN_MODE, "u32", MODES[p["mode"]])])
        reconcile_link(tp, obs, ctx, ns, name, {"up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"]})
        if not tp.actions:
            tp.reasons.append("exists as declared")
    tp.after = after(tp.before, {"kind": "macvlan", "up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"],
                                 "mode": p["mode"]})
    return tp


def absent(record: dict) -> dict:
    return {"name": record["name"], "netns": record.get("netns", ""), "link": record.get("link", ""),
            "link_netns": record.get("link_netns", ""), "state": "absent"}


exists = link_exists


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("link", p["netns"], p["name"])]
