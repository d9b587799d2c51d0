"""address: plan one address on an interface (perhaps one nsprov did not make), and remove a
recorded one."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Claim, Context, PlanError, TaskPlan, guard_management, require_ns
from nsprov.agent.resources._links import absent_where_gone
from nsprov.agent.state import Observed

MODULE = "address"
RECORDS = ("address",)


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, dev, addr = TaskPlan(), p["netns"], p["interface"], p["address"]
    key = f"{dev}/{addr}"
    done = absent_where_gone(tp, p, obs, ns, {"kind": "address", "netns": ns, "name": key})
    if done is not None:
        return done
    require_ns(obs, ns)
    link = obs.link(ns, dev)
    if link is None:
        if p["state"] == "absent":
            tp.reasons.append(f"absent (no interface {dev})")
            tp.forgets.append({"kind": "address", "netns": ns, "name": key})
            return tp
        raise PlanError(f"interface '{dev}' does not exist" + (f" in netns '{ns}'" if ns else ""))
    present = addr in link.addresses
    tp.before = {"addresses": list(link.addresses)}
    if present and not (ctx.owns("address", ns, key) or ctx.owns("link", ns, dev)):
        raise ctx.not_ours(f"address {addr} on '{dev}'", "address", ns, key)
    if p["state"] == "present":
        if present:
            tp.reasons.append("present")
        else:
            guard_management(ctx, obs, p, ns, Claim(f"address {addr} on '{dev}'", addr, dev))
            tp.act(ops.ADD_ADDRESS, ns, dev, f"{dev}: +{addr}", dev=dev, address=addr)
            tp.records.append(ctx.record("address", ns, key, MODULE, dev=dev, address=addr))
        return tp
    if present:
        tp.act(ops.DELETE_ADDRESS, ns, dev, f"{dev}: -{addr}", dev=dev, address=addr)
    else:
        tp.reasons.append("absent")
    tp.forgets.append({"kind": "address", "netns": ns, "name": key})
    return tp


def absent(record: dict) -> dict:
    return {"interface": record["dev"], "netns": record.get("netns", ""), "address": record["address"],
            "state": "absent"}


def exists(record: dict, obs: Observed) -> bool:
    link = obs.link(record.get("netns", ""), record["dev"])
    return link is not None and record["address"] in link.addresses


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("address", p["netns"], f"{p['interface']}/{p['address']}")]
