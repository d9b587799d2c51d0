"""bridge: plan a Linux bridge in any netns, present or absent, and remove a recorded one."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Claim, Context, TaskPlan, guard_management, require_ns
from nsprov.agent.resources._links import (after, delete_link, gone_already, gone_with, link_exists, name_it, own_link,
                                           reconcile_link)
from nsprov.agent.state import Observed

MODULE = "bridge"
RECORDS = ("link",)


def CLAIMS(record: dict) -> bool:
    return not record.get("peer")


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, name = TaskPlan(), p["netns"], p["name"]
    if p["state"] == "absent" and gone_with(obs, ns):
        return tp.goes_with(ns)
    if p["state"] == "absent" and not obs.exists(ns):
        return gone_already(tp, ns, {"kind": "link", "netns": ns, "name": name})
    require_ns(obs, ns)
    exists = own_link(obs, ctx, ns, name, "bridge")
    tp.before = obs.link(ns, name).summary() if exists else {}
    if p["state"] == "absent":
        return delete_link(tp, ctx, ns, name, exists)
    for a in p["addresses"]:
        guard_management(ctx, obs, p, ns, Claim(f"address {a} on bridge '{name}'", a, name))
    if not exists:
        tp.act(ops.ADD_BRIDGE, ns, name, f"created bridge {name}", mtu=p["mtu"], stp=p["stp"], up=p["up"],
               alias=ctx.mark)
        tp.records.append(ctx.record("link", ns, name, MODULE, addresses=p["addresses"]))
        name_it(tp, ns, name, p["altname"])
        for a in p["addresses"]:
            tp.act(ops.ADD_ADDRESS, ns, name, f"{name}: +{a}", dev=name, address=a)
    else:
        reconcile_link(tp, obs, ctx, ns, name, {"up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"],
                                                "stp": p["stp"], "altname": p["altname"]})
        if not tp.actions:
            tp.reasons.append("exists as declared")
    tp.after = after(tp.before, {"kind": "bridge", "up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"],
                                 "stp": p["stp"]})
    return tp


def absent(record: dict) -> dict:
    return {"name": record["name"], "netns": record.get("netns", ""), "state": "absent"}


exists = link_exists


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("link", p["netns"], p["name"])]
