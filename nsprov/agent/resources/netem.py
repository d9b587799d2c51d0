"""netem: the root qdisc of one link end, read back from the kernel and set whole when it
differs; removed, the link is back to the kernel's default. A qdisc nsprov did not put there
is someone else's: never replaced. The qdisc dies with its link."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.kernel.policies import same_qdisc
from nsprov.agent.planning import Context, PlanError, TaskPlan, require_ns
from nsprov.agent.resources._links import absent_where_gone
from nsprov.agent.state import Observed
from nsprov.model.kinds.netem import describe, duration_us, rate_bps

MODULE = "netem"
RECORDS = ("qdisc",)
DIES_WITH = (("link", "netns", "name"),)     # the kernel deletes a link's qdisc with it
NETEM_ONLY = ("delay", "loss", "duplicate", "corrupt", "reorder", "limit")


def wanted(p: dict) -> dict:
    """The qdisc a task declares: tbf for a rate alone, netem otherwise."""
    rate = rate_bps(p["rate"]) if p["rate"] else 0
    if rate and not any(p[k] for k in NETEM_ONLY):
        return {"kind": "tbf", "rate": rate}
    out = {"kind": "netem", "limit": p["limit"] or 1000, "rate": rate}
    for k in ("delay", "jitter"):
        out[k] = duration_us(p[k]) if p[k] else 0
    for k in ("correlation", "loss", "duplicate", "corrupt", "reorder"):
        out[k] = p[k] or 0
    out["distribution"] = p["distribution"]
    return out


def _guard_management(ctx: Context, obs: Observed, p: dict) -> None:
    ssh = ctx.ssh
    if p["netns"] or ssh is None or p["allow_management_overlap"] or ssh.interface(obs) != p["link"]:
        return
    raise PlanError(f"netem on {p['link']} would impair the link the controller ({ssh.controller}) reaches this host "
                    f"through: enough loss or delay cuts nsprov off. Refused; set allow_management_overlap: true on "
                    f"the task to do it anyway")


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, link = TaskPlan(), p["netns"], p["link"]
    gone = {"kind": "qdisc", "netns": ns, "name": link}
    done = absent_where_gone(tp, p, obs, ns, gone)
    if done is not None:
        return done
    require_ns(obs, ns)
    ours, where = ctx.owns("qdisc", ns, link), f" in netns '{ns}'" if ns else ""
    if obs.link(ns, link) is None:
        if p["state"] == "absent":
            tp.reasons.append(f"absent (no link {link})")
            tp.forgets.append(gone)
            return tp
        raise PlanError(f"link '{link}'{where} does not exist (netem goes on a link end that is there)")
    now = obs.read("qdisc", ns, link)
    if now is not None and not ours:
        raise PlanError(f"link '{link}'{where} has a {now['kind']} qdisc nsprov did not put there; not replacing it")
    tp.before = {"qdisc": now and now["kind"]}
    if p["state"] == "present":
        _guard_management(ctx, obs, p)
        want = wanted(p)
        record = ctx.entry("qdisc", ns, link) or {}
        if not same_qdisc(now, want) or (ours and record.get("distribution") != p["distribution"]):
            tp.act(ops.SET_QDISC, ns, link, f"{want['kind']} {describe(p)}", qdisc=want)
        else:
            tp.reasons.append("as declared")
        if not ours or record.get("distribution") != p["distribution"]:
            tp.records.append(ctx.record("qdisc", ns, link, MODULE, distribution=p["distribution"]))
        tp.after = {"qdisc": want["kind"]}
        return tp
    if now is not None and ours:
        tp.act(ops.DELETE_QDISC, ns, link, f"removed {now['kind']}: back to the default")
    else:
        tp.reasons.append("absent")
    tp.forgets.append(gone)
    tp.after = {"qdisc": None}
    return tp


def absent(record: dict) -> dict:
    return {"link": record["name"], "netns": record.get("netns", ""), "state": "absent", "allow_management_overlap": False,
            **{k: None for k in ("delay", "jitter", "correlation", "distribution", "loss", "duplicate", "corrupt",
                                 "reorder", "rate", "limit")}}


def exists(record: dict, obs: Observed) -> bool:
    ns = record.get("netns", "")
    return obs.link(ns, record["name"]) is not None and obs.read("qdisc", ns, record["name"]) is not None


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("qdisc", p["netns"], p["link"])]
