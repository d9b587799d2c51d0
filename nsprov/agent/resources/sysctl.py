"""sysctl: plan a sysctl, remembering the value nsprov found, and put a recorded one back.

A host-wide value may be declared by several labs (net.ipv4.ip_forward, say): its one record
lists them (`labs`), the first to set it remembers what it found, and only the last to go puts
that back."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Context, PlanError, TaskPlan, require_ns
from nsprov.agent.resources._links import absent_where_gone
from nsprov.agent.state import NEW_NETNS_DEFAULT, Observed

MODULE = "sysctl"
RECORDS = ("sysctl",)


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, key = TaskPlan(), p["netns"], p["name"]
    done = absent_where_gone(tp, p, obs, ns, {"kind": "sysctl", "netns": ns, "name": key})
    if done is not None:
        return done
    require_ns(obs, ns)
    cur = obs.sysctl(ns, key)
    if cur is None:
        raise PlanError(f"no sysctl {key}" + (f" in netns '{ns}'" if ns else ""))
    if cur == NEW_NETNS_DEFAULT:   # made by this run: set it; it started at a new netns's value
        if p["state"] == "present":
            tp.act(ops.SET_SYSCTL, ns, key, f"set to {p['value']} in the new netns", value=p["value"])
            tp.records.append(ctx.record("sysctl", ns, key, MODULE, previous=None, labs=[ctx.lab]))
            tp.after = {key: p["value"]}
        else:
            tp.reasons.append("not changed by nsprov")
        return tp
    entry = ctx.entry("sysctl", ns, key)
    sharers = list(entry.get("labs") or [entry["lab"]]) if entry is not None else []
    tp.before = {key: cur}
    if p["state"] == "present":
        if cur == p["value"]:
            tp.reasons.append(f"already {cur}")
        else:
            tp.act(ops.SET_SYSCTL, ns, key, f"{cur}→{p['value']}", value=p["value"])
        if entry is None and cur != p["value"]:
            tp.records.append(ctx.record("sysctl", ns, key, MODULE, previous=cur, labs=[ctx.lab]))
        elif entry is not None and ctx.lab not in sharers:     # another lab set it first: shared now
            tp.records.append(_shared(entry, sharers + [ctx.lab]))
            tp.reasons.append(f"shared with lab {', '.join(sharers)}")
        tp.after = {key: p["value"]}
    elif ctx.lab in sharers:
        others = [lab for lab in sharers if lab != ctx.lab]
        if others:     # the value stays while another lab declares it; the last one puts it back
            tp.records.append(_shared(entry, others))
            tp.reasons.append(f"kept at {cur}: lab {', '.join(others)} still declares it")
        else:
            # set in a netns the lab made: back to what a new netns has
            previous = entry["previous"] if entry["previous"] is not None else obs.sysctl_in_new_netns(key)
            if previous is not None and cur != previous:
                tp.act(ops.SET_SYSCTL, ns, key, f"restored {cur}→{previous}", value=previous)
            else:
                tp.reasons.append(f"already back at {cur}")
            tp.forgets.append({"kind": "sysctl", "netns": ns, "name": key})
            tp.after = {key: previous}
    else:
        tp.reasons.append("not changed by nsprov")
    return tp


def _shared(entry: dict, labs: list) -> dict:
    """ENTRY held by LABS (the first owns it: it is in that lab's ledger share)."""
    return {k: v for k, v in entry.items() if k != "state"} | {"lab": labs[0], "labs": labs}


def absent(record: dict) -> dict:
    return {"name": record["name"], "netns": record.get("netns", ""), "state": "absent"}


def exists(record: dict, obs: Observed) -> bool:
    """A recorded sysctl is there while the value differs from the one nsprov found: there is
    something to put back."""
    ns = record.get("netns", "")
    return obs.exists(ns) and obs.sysctl(ns, record["name"]) not in (None, record.get("previous"))


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("sysctl", p["netns"], p["name"])]
