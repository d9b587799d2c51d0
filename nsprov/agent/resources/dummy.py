"""dummy: plan a dummy interface in any netns, present or absent, and remove a recorded one."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Claim, Context, TaskPlan, guard_management, require_ns
from nsprov.agent.resources._links import (after, delete_link, gone_already, gone_with, link_exists, name_it, own_link,
                                           reconcile_link)
from nsprov.agent.state import Observed

MODULE = "dummy"
RECORDS = ("link",)


def CLAIMS(record: dict) -> bool:
    return False       # every dummy record names its module


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, name = TaskPlan(), p["netns"], p["name"]
    if p["state"] == "absent" and gone_with(obs, ns):
        return tp.goes_with(ns)
    if p["state"] == "absent" and not obs.exists(ns):
        return gone_already(tp, ns, {"kind": "link", "netns": ns, "name": name})
    require_ns(obs, ns)
    exists = own_link(obs, ctx, ns, name, MODULE)
    tp.before = obs.link(ns, name).summary() if exists else {}
    if p["state"] == "absent":
        return delete_link(tp, ctx, ns, name, exists)
    for a in p["addresses"]:
        guard_management(ctx, obs, p, ns, Claim(f"address {a} on dummy '{name}'", a, name))
    if not exists:
        tp.act(ops.ADD_LINK, ns, name, f"created dummy {name}", kind=MODULE,
               link={"mtu": p["mtu"], "up": p["up"], "alias": ctx.mark}, data=[])
        tp.records.append(ctx.record("link", ns, name, MODULE, addresses=p["addresses"]))
        name_it(tp, ns, name, p["altname"])
        for a in p["addresses"]:
            tp.act(ops.ADD_ADDRESS, ns, name, f"{name}: +{a}", dev=name, address=a)
    else:
        reconcile_link(tp, obs, ctx, ns, name, {"up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"],
                                                "altname": p["altname"]})
        if not tp.actions:
            tp.reasons.append("exists as declared")
    tp.after = after(tp.before, {"kind": MODULE, "up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"]})
    return tp


def absent(record: dict) -> dict:
    return {"name": record["name"], "netns": record.get("netns", ""), "state": "absent"}


exists = link_exists


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("link", p["netns"], p["name"])]
