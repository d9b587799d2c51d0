"""Lock the host → observe → plan every task → apply (with an undo log) → report.

The whole request is planned before anything changes, against a model that each planned
action updates; so check mode sees the effect of earlier tasks, and a task that cannot be done
(a foreign object in the way) fails before the host is touched. During apply, each action's
inverse goes on an undo log; if one fails, the log is played backwards and the host is left
as it was before this run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import takewhile
from typing import Callable, Optional

from nsprov.agent import netns
from nsprov.agent.kernel import Kernel
from nsprov.agent.ledger import Ledger
from nsprov.agent.plan import Context, PlanError, TaskPlan, half_made, inverse
from nsprov.agent.planners import PLANNERS
from nsprov.agent.state import Observed
from nsprov.agent.verify import verify_assertions
from nsprov.model.errors import KernelError
from nsprov.model.protocol import event
from nsprov.model.schema import object_name, validate_params

Emit = Callable[[dict], None]


@dataclass
class Planned:
    index: int
    name: str
    module: str
    plan: Optional[TaskPlan] = None
    skip: Optional[str] = None
    verify: Optional[dict] = None                 # a verify task's checks, run after earlier tasks
    undo: list = field(default_factory=list)     # per action: its inverse actions


def _plan_all(tasks: list, obs: Observed, ctx: Context) -> tuple[list, Optional[tuple[int, str]]]:
    planned: list = []
    for t in tasks:
        item = Planned(t["index"], t.get("name") or t["module"], t["module"])
        planned.append(item)
        if t.get("skip"):
            item.skip = t["skip"]
            continue
        params, problems = validate_params(t["module"], t.get("params"))
        if problems:
            return planned, (t["index"], "; ".join(f"{f}: {m}" if f else m for f, m in problems))
        item.name = t.get("name") or object_name(t["module"], params)
        if t["module"] == "verify":
            item.verify, item.plan = params, TaskPlan()
            continue
        try:
            item.plan = PLANNERS[t["module"]](params, obs, ctx)
        except PlanError as exc:
            return planned, (t["index"], str(exc))
        except OSError as exc:   # reading the kernel failed: report it on the task, change nothing
            return planned, (t["index"], f"could not observe the host for this task: {exc}")
        for a in item.plan.actions:
            item.undo.append(inverse(a, obs))
            obs.simulate(a)
        ctx.add_pending(item.plan.records)
    return planned, None


def _task_event(p: Planned, status: str, reason: str, diff: bool, **extra) -> dict:
    ev = event("task", index=p.index, name=p.name, module=p.module, status=status, reason=reason, **extra)
    if diff and p.plan is not None and p.plan.changed:
        ev["diff"] = {"before": p.plan.before, "after": p.plan.after}
    return ev


def _reason(plan: TaskPlan) -> str:
    return "; ".join(plan.reasons)


def _creates_netns_only(p: Planned) -> bool:
    """A task whose actions only make network namespaces: consecutive ones (a netns loop) are
    carried out together, concurrently, and reported one by one in order."""
    return (p.skip is None and p.verify is None and p.plan is not None and bool(p.plan.actions)
            and all(a.op == "netns.create" for a in p.plan.actions))


def _rollback(kernel: Kernel, undo: list, emit: Emit) -> None:
    done, errors = [], []
    for group in reversed(undo):
        for a in group:
            try:
                kernel.execute(a)
                done.append(f"{a.op} {a.name}")
            except Exception as exc:   # keep undoing the rest
                errors.append(str(exc))
    emit(event("rollback", undone=done, errors=errors))


TIMINGS: dict = {}   # where this run's time went (seconds), reported in the "done" event


def _management() -> Optional[str]:
    """The controller's address as this host sees it: the first word of sshd's SSH_CONNECTION,
    which the bootstrap passes on (absent when the agent is run by hand)."""
    import ipaddress
    import os
    words = os.environ.get("NSPROV_SSH_CONNECTION", "").split()
    try:
        return str(ipaddress.ip_address(words[0])) if words else None
    except ValueError:
        return None


def apply_request(req: dict, emit: Emit, ledger: Ledger, kernel: Kernel) -> bool:
    import time
    began = time.perf_counter()
    ctx = Context(owner=req["owner"], ledger=ledger, management=_management())
    obs = kernel.observed()
    planned, failure = _plan_all(req["tasks"], obs, ctx)
    TIMINGS["observe_and_plan"] = round(time.perf_counter() - began, 4)
    try:
        return _apply_planned(req, emit, ledger, kernel, planned, failure, obs)
    finally:
        TIMINGS["apply"] = round(time.perf_counter() - began - TIMINGS["observe_and_plan"], 4)


def _apply_planned(req: dict, emit: Emit, ledger: Ledger, kernel: Kernel, planned: list, failure,
                   obs: Observed) -> bool:
    diff = bool(req.get("diff"))
    if failure is not None:
        failed_index, message = failure
        for p in planned:
            if p.index == failed_index:
                emit(_task_event(p, "failed", message, diff))
            else:
                emit(_task_event(p, "skipped", p.skip or f"not applied: task {failed_index} failed while planning",
                                 diff))
        return False
    if req.get("check"):
        for p in planned:
            if p.skip or p.verify is not None:
                emit(_task_event(p, "skipped", p.skip or "verify runs on a real apply, not in check mode", diff))
            else:
                emit(_task_event(p, "changed" if p.plan.changed else "ok", _reason(p.plan), diff, check=True))
        return True
    records = [r for p in planned if p.plan for r in p.plan.records]
    ledger.record_intents(records)              # crash-safe: intent before any kernel change
    undo: list = []
    forgets: list = []
    verified = True
    ahead: dict = {}   # id(action) -> (result, error) for actions already carried out in a batch
    for n, p in enumerate(planned):
        if not ahead and _creates_netns_only(p):
            batch = [a for q in takewhile(_creates_netns_only, planned[n:]) for a in q.plan.actions]
            if len(batch) > 1:
                ahead = dict(zip(map(id, batch), kernel.execute_concurrently(batch)))
        if p.skip:
            emit(_task_event(p, "skipped", p.skip, diff))
            continue
        if p.verify is not None:   # a failed check is reported, and does not undo the build
            checks = verify_assertions(p.verify, kernel.sockets)
            failed = [c for c in checks if not c["passed"]]
            verified = verified and not failed
            reason = (f"{len(checks)} check(s) passed" if not failed else
                      "; ".join(f"{c['check']} {c['subject']}: expected {c['expected']}, got {c['observed']}"
                                for c in failed))
            emit(_task_event(p, "failed" if failed else "ok", reason, diff, checks=checks))
            continue
        results = []
        try:
            for a, inv in zip(p.plan.actions, p.undo):
                if id(a) in ahead:
                    result, error = ahead.pop(id(a))
                    if error is not None:
                        raise error
                    results.append(result)
                else:
                    results.append(kernel.execute(a))
                undo.append(inv)
        except Exception as exc:   # KernelError, or anything unexpected: never leave half a run
            message = str(exc) if isinstance(exc, KernelError) else f"{type(exc).__name__}: {exc}"
            emit(_task_event(p, "failed", message, diff))
            # a batch also made what later tasks declare: undone with the rest
            undo += [inv for q in planned[n:] if q.plan for a, inv in zip(q.plan.actions, q.undo)
                     if id(a) in ahead and ahead[id(a)][1] is None]
            _rollback(kernel, undo, emit)
            ledger.forget(records)
            ledger.forget(forgets)
            return False
        forgets += p.plan.forgets
        status, reason, extra = ("changed" if p.plan.changed else "ok"), _reason(p.plan), {}
        for r in filter(None, results):   # one-shot commands say themselves what happened
            if not r.get("changed", True):
                status = "ok"
            if r.get("reason"):
                reason = r["reason"]
            if "output" in r:
                extra["output"] = r["output"]
        emit(_task_event(p, status, reason, diff, **extra))
    # intents left by a run that was cut short, whose objects this run found or finished, are done now
    leftovers = [e for e in ledger.owned_by(req["owner"]) if e.get("state") == "intent" and _exists(e, obs)]
    ledger.mark_done(records + leftovers)
    ledger.forget(forgets)
    return verified


def _exists(entry: dict, obs: Observed) -> bool:
    kind, ns, name = entry["kind"], entry.get("netns", ""), entry["name"]
    if kind == "netns":
        return name in obs.netns
    if not obs.exists(ns):
        return False
    if kind == "link":
        return obs.link(ns, name) is not None
    if kind == "nsset":
        return obs.nsset(name) is not None
    if kind == "process":
        return obs.process(name) is not None
    if kind == "route":
        return name in obs.ns(ns).routes
    if kind == "address":
        link = obs.link(ns, entry["dev"])
        return link is not None and entry["address"] in link.addresses
    if kind == "fw_rule":
        return name in (obs.rules(ns, entry["table"]) or {})
    if kind == "fw_table":
        return obs.rules(ns, name) is not None
    return True


# ------------------------------------------------------------------ destroy
def _destroy_plan(entry: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, kind, ns, name = TaskPlan(), entry["kind"], entry.get("netns", ""), entry["name"]
    tp.forgets.append(entry)
    if not obs.exists(ns):
        tp.reasons.append(f"already gone with netns '{ns}'")
        return tp
    if kind == "netns":
        if name in obs.placeholders and half_made(ctx, "netns", "", name, None):
            tp.act("netns.delete", "", name, "removed the empty pin a killed run left")
            return tp
        if name not in obs.netns:
            tp.reasons.append("already absent")
            return tp
        foreign = sorted(n for n in obs.ns(name).links if n != "lo" and not ctx.owns("link", name, n))
        if foreign:
            raise PlanError(f"netns '{name}' holds links nsprov did not create ({', '.join(foreign)}); "
                            f"left in place")
        tp.act("netns.delete", "", name, "deleted")
    elif kind == "link":
        link = obs.link(ns, name)
        if link is None:
            tp.reasons.append("already absent")
        elif link.alias != ctx.mark and not half_made(ctx, "link", ns, name, link.alias):
            tp.reasons.append(f"exists but is not marked {ctx.mark}: someone else's now, left alone")
        else:
            tp.act("link.delete", ns, name, "deleted")
    elif kind == "address":
        link = obs.link(ns, entry["dev"])
        if link is not None and entry["address"] in link.addresses:
            tp.act("addr.delete", ns, entry["dev"], "removed", dev=entry["dev"], address=entry["address"])
        else:
            tp.reasons.append("already absent")
    elif kind == "route":
        cur = obs.ns(ns).routes.get(name)
        if cur is not None and (entry.get("via") in (None, cur.via)) and (entry.get("dev") in (None, cur.dev)):
            tp.act("route.delete", ns, name, "deleted", via=cur.via, dev=cur.dev, metric=cur.metric)
        else:
            tp.reasons.append("already absent")
    elif kind == "sysctl":
        cur = obs.sysctl(ns, name)
        if cur is not None and cur != entry["previous"]:
            tp.act("sysctl.set", ns, name, f"restored {cur}→{entry['previous']}", value=entry["previous"])
        else:
            tp.reasons.append(f"already {cur}")
    elif kind == "fw_rule":
        rules = obs.rules(ns, entry["table"]) or {}
        if name in rules:
            tp.act("fw.delete_rules", ns, entry["table"], "deleted", table=entry["table"], rules={name: {}})
        else:
            tp.reasons.append("already absent")
    elif kind == "nsset":
        if obs.nsset(name) is not None:
            tp.act("nsset.delete", "", name, "stopped its init and unpinned it")
        else:
            tp.reasons.append("already absent")
    elif kind == "process":
        cur = obs.process(name)
        if cur is not None:
            tp.act("process.stop", "", name, f"stopped (pid {cur['pid']})" if cur["alive"] else "cleaned up")
        else:
            tp.reasons.append("already stopped")
    elif kind == "fw_table":
        if obs.rules(ns, name) is not None:
            tp.act("fw.delete_table", ns, name, "deleted", table=name)
        else:
            tp.reasons.append("already absent")
    return tp


def _doomed_netns(entries: list, obs: Observed) -> set:
    """Network namespaces this destroy deletes (and that exist): what is inside goes with them."""
    names = {e["name"] for e in entries if e["kind"] == "netns"}
    names |= {e["name"] for e in entries if e["kind"] == "nsset" and "net" in e.get("kinds", [])}
    return {n for n in names if n in obs.netns}


def _goes_with(entry: dict, doomed: set) -> Optional[str]:
    """The netns whose deletion removes this object too, if any.

    Deleting a veth one by one waits for an RCU grace period each time (~20 ms); a network
    namespace takes its devices with it in one batch. So links, addresses, routes and rules in a
    namespace that goes, and veth ends whose peer is in one, are left to the kernel."""
    if entry["kind"] in ("netns", "nsset", "process"):
        return None
    if entry.get("netns") in doomed:
        return entry["netns"]
    if entry["kind"] == "link" and entry.get("peer_netns") in doomed:
        return entry["peer_netns"]
    return None


def _wait_links_gone(kernel: Kernel, links: list, timeout: float = 10.0) -> list:
    """Wait until the kernel's asynchronous namespace cleanup removed these links; returns leftovers."""
    import time
    from nsprov.agent import rtdump
    deadline = time.monotonic() + timeout
    while True:
        by_ns: dict = {}
        for ns, name in links:
            by_ns.setdefault(ns, set()).add(name)
        left = []
        for ns, names in by_ns.items():
            try:
                present = {x["name"] for x in rtdump.links(kernel.sockets.raw(ns))}
            except OSError:
                continue
            left += [(ns, n) for n in names & present]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.01)


def destroy_request(req: dict, emit: Emit, ledger: Ledger, kernel: Kernel) -> bool:
    ctx = Context(owner=req["owner"], ledger=ledger)
    obs = kernel.observed()
    ok, forgets, awaited = True, [], {}
    entries = ledger.owned_by(ctx.owner)
    doomed = _doomed_netns(entries, obs)
    inodes = netns.pin_inodes(doomed)   # to find who still holds one after its pin is gone
    for i, entry in enumerate(reversed(entries)):
        kind = entry["kind"]
        label = f"{kind} " + (f"{entry['netns']}/" if entry.get("netns") else "") + entry["name"]
        p = Planned(i, label, "destroy")
        ns_gone = _goes_with(entry, doomed)
        if ns_gone is not None:
            if kind == "link" and entry.get("netns") not in doomed and obs.link(entry.get("netns", ""), entry["name"]):
                awaited[(entry.get("netns", ""), entry["name"])] = ns_gone
            forgets.append(entry)
            emit(_task_event(p, "changed" if not req.get("check") else "changed", f"removed with netns '{ns_gone}'",
                             False, **({"check": True} if req.get("check") else {})))
            continue
        try:
            p.plan = _destroy_plan(entry, obs, ctx)
            if not req.get("check"):
                for a in p.plan.actions:
                    kernel.execute(a)
            for a in p.plan.actions:
                obs.simulate(a)
        except (PlanError, KernelError) as exc:
            ok = False
            emit(_task_event(p, "failed", str(exc), False))
            continue
        forgets += p.plan.forgets
        emit(_task_event(p, "changed" if p.plan.changed else "ok",
                         "; ".join(p.plan.reasons), False, **({"check": True} if req.get("check") else {})))
    if not req.get("check"):
        # a namespace some process still lives in outlives its pin, and its links with it
        holders = netns.holders(inodes) if awaited else {}
        left = [link for link, ns in awaited.items() if ns in holders]
        left += _wait_links_gone(kernel, [link for link, ns in awaited.items() if ns not in holders])
        if left:
            ok = False
            held = sorted({awaited[link] for link in left} & set(holders))
            emit(event("task", index=len(entries), name="namespace cleanup", module="destroy", status="failed",
                       reason="links still present after their netns went: " +
                              ", ".join(f"{ns or 'host'}/{n}" for ns, n in left) +
                              "".join(f"; netns {ns} lives on in " + ", ".join(f"pid {pid} ({comm})"
                                                                             for pid, comm in holders[ns][:5]) +
                                      (" and more" if len(holders[ns]) > 5 else "") +
                                      ": its links go when they exit, then destroy again" for ns in held)))
            forgets = [e for e in forgets if (e.get("netns", ""), e["name"]) not in set(left)]
        ledger.forget(forgets)
    return ok

