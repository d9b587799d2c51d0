"""route: plan a route in any netns, present or absent, and remove a recorded one."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Claim, Context, PlanError, TaskPlan, dev_towards, guard_management, require_ns
from nsprov.agent.resources._links import absent_where_gone
from nsprov.agent.state import Observed

MODULE = "route"
RECORDS = ("route",)


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, dst = TaskPlan(), p["netns"], p["to"]
    done = absent_where_gone(tp, p, obs, ns, {"kind": "route", "netns": ns, "name": dst})
    if done is not None:
        return done
    require_ns(obs, ns)
    cur = obs.ns(ns).routes.get(dst)
    tp.before = cur.summary() if cur else {}
    if cur is not None and not ctx.owns("route", ns, dst):
        raise ctx.not_ours(f"route to {dst} ({cur.proto}, via {cur.via or '-'} dev {cur.dev or '-'})",
                           "route", ns, dst)
    if p["state"] == "absent":
        if cur is not None:
            tp.act(ops.DELETE_ROUTE, ns, dst, "deleted", via=cur.via, dev=cur.dev, metric=cur.metric)
        else:
            tp.reasons.append("absent")
        tp.forgets.append({"kind": "route", "netns": ns, "name": dst})
        return tp
    if p["dev"] and obs.link(ns, p["dev"]) is None:
        raise PlanError(f"interface '{p['dev']}' does not exist" + (f" in netns '{ns}'" if ns else ""))
    want = {"via": p["via"], "dev": p["dev"], "metric": p["metric"]}
    changed = [k for k in ("via", "dev", "metric") if cur is not None and want[k] is not None
               and want[k] != getattr(cur, k)]
    if cur is None or {"via", "dev"} & set(changed):
        guard_management(ctx, obs, p, ns, Claim(f"route to {dst}", "0.0.0.0/0" if dst == "default" else dst,
                                                p["dev"] or dev_towards(obs, ns, p["via"]), p["via"]))
    if cur is None:
        tp.act(ops.ADD_ROUTE, ns, dst, f"added via {p['via'] or '-'} dev {p['dev'] or '-'}", **want)
        tp.records.append(ctx.record("route", ns, dst, MODULE, **want))
    elif "metric" in changed:   # the metric is part of a route's key: a replace would add a second route
        tp.act(ops.DELETE_ROUTE, ns, dst, f"metric {cur.metric}→{want['metric']}: the old route goes",
               via=cur.via, dev=cur.dev, metric=cur.metric)
        tp.act(ops.ADD_ROUTE, ns, dst, ", ".join(f"{k} {getattr(cur, k)}→{want[k]}" for k in changed), **want)
        tp.records.append(ctx.record("route", ns, dst, MODULE, **want))
    elif changed:
        tp.act(ops.REPLACE_ROUTE, ns, dst, ", ".join(f"{k} {getattr(cur, k)}→{want[k]}" for k in changed), **want)
    else:
        tp.reasons.append("present")
    tp.after = {"to": dst, **want}
    return tp


def absent(record: dict) -> dict:
    return {"to": record["name"], "netns": record.get("netns", ""), "state": "absent"}


def exists(record: dict, obs: Observed) -> bool:
    return obs.exists(record.get("netns", "")) and record["name"] in obs.ns(record.get("netns", "")).routes


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("route", p["netns"], p["to"])]
