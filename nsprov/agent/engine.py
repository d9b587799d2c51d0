"""Lock the host → observe → plan every task → apply (with an undo log) → report.

The whole request is planned before anything changes, against a model that each planned
action updates; so check mode sees the effect of earlier tasks, and a task that cannot be done
(a foreign object in the way) fails before the host is touched. During apply, each action's
inverse goes on an undo log; if one fails, the log is played backwards and the host is left
as it was before this run. Destroy is the same: a plan of the `absent` tasks of everything the
lab recorded, from each kind's own planning (agent/resources).
"""

from __future__ import annotations

import ipaddress
import os
import time
from itertools import takewhile
from typing import Callable, Optional

from nsprov.agent import ops
from nsprov.agent.ledger import Ledger
from nsprov.agent.planning import Context, Management, PlanError, TaskPlan
from nsprov.agent.settle import DONE, FAILED, STOPPED, VIOLATED, settle
from nsprov.agent.resources import INTERNAL, RESOURCES
from nsprov.agent.state import Observed, observed
from nsprov.model import protocol
from nsprov.model.errors import KernelError
from nsprov.model.kinds import object_name, validate_params

Emit = Callable[[dict], None]
TIMINGS: dict = {}   # where this run's time went (seconds), reported in the "done" event


class Planned:
    """A task with its plan (or why it is skipped); UNDO: per action, its inverse actions."""
    __slots__ = ("index", "name", "module", "plan", "skip", "undo", "pruned")

    def __init__(self, index: int, name: str, module: str, skip: Optional[str] = None):
        self.index, self.name, self.module, self.skip = index, name, module, skip
        self.plan: Optional[TaskPlan] = None
        self.undo: list = []
        self.pruned = False     # removed because no task declares it any more


class Run:
    """One request being carried out on this host. CONTROL: __main__.Control (`stopping` once
    the controller said stop)."""

    def __init__(self, emit: Emit, ledger: Ledger, kernel, ctx: Context, obs: Observed):
        self.emit, self.ledger, self.kernel, self.ctx, self.obs = emit, ledger, kernel, ctx, obs
        self.check = self.diff = False
        self.control = None

    @property
    def stopping(self) -> bool:
        return self.control is not None and self.control.stopping


def management() -> Optional[Management]:
    """The SSH connection as this host sees it: sshd's SSH_CONNECTION (controller address and
    port, this host's address and port), which the bootstrap passes on (absent when the agent
    is run by hand)."""
    words = os.environ.get("NSPROV_SSH_CONNECTION", "").split()
    try:
        controller = str(ipaddress.ip_address(words[0])) if words else None
    except ValueError:
        return None
    try:
        host, port = str(ipaddress.ip_address(words[2])), int(words[3])
    except (IndexError, ValueError):
        host, port = None, None
    return Management(controller, host, port) if controller else None


# ------------------------------------------------------------------ planning
def _plan_one(t: dict, obs: Observed, ctx: Context) -> Planned:
    """Plan task T (a request task dict); PlanError or OSError when it cannot be planned."""
    item = Planned(t["index"], t.get("name") or t["module"], t["module"])
    if t.get("skip"):
        item.skip = t["skip"]
        return item
    if t["module"] in INTERNAL:
        params = dict(t["params"])
    else:
        params, problems = t.get("checked") or validate_params(t["module"], t.get("params"))
        if problems:
            raise PlanError("; ".join(f"{f}: {m}" if f else m for f, m in problems))
        item.name = t.get("name") or object_name(t["module"], params)
    item.pruned = bool(t.get("pruned"))
    item.plan = plan_task(t["module"], params, obs, ctx)
    for a in item.plan.actions:
        item.undo.append(a.op.inverse(a, obs))
        a.op.simulate(obs, a)
    ctx.add_pending(item.plan.records)
    return item


def plan_task(module: str, params: dict, obs: Observed, ctx: Context) -> TaskPlan:
    """MODULE's plan for PARAMS, refused when it needs a kind the host's kernel lacks."""
    plan = RESOURCES[module].plan(params, obs, ctx)
    _refuse_unsupported(plan, obs)
    return plan


def _needs(a) -> Optional[tuple]:
    """What the kernel must have for action A: ("link_kinds" | "qdiscs", kind), or None."""
    if a.op is ops.ADD_LINK:
        return "link_kinds", a.args["kind"]
    if a.op in (ops.ADD_VETH, ops.ADD_BRIDGE):
        return "link_kinds", "veth" if a.op is ops.ADD_VETH else "bridge"
    if a.op is ops.SET_QDISC:
        return "qdiscs", a.args["qdisc"]["kind"]
    return None


def _refuse_unsupported(plan: TaskPlan, obs: Observed) -> None:
    """A link or qdisc of a kind this host's kernel lacks: refused while planning, before any
    change, naming the kind and the host (its answer to the kernel's own question)."""
    for what, kind in filter(None, map(_needs, plan.actions)):
        if obs.read("support", what, kind) is False:
            noun = "links" if what == "link_kinds" else "qdiscs"
            raise PlanError(f"host {os.uname().nodename}'s kernel ({os.uname().release}) has no {kind} {noun} "
                            f"(`nsprov facts` lists the link kinds and qdiscs it has); nothing was changed")


def _unplanned(t: dict) -> Planned:
    return Planned(t["index"], t.get("name") or t["module"], t["module"], skip=t.get("skip"))


def plan_all(tasks: list, obs: Observed, ctx: Context, first: tuple = ()) -> tuple:
    """([Planned] in task order, None or (failed index, message)). Modules in FIRST are planned
    before the others (a destroy plans namespaces first: what goes with them is known then)."""
    order = sorted(range(len(tasks)), key=lambda i: tasks[i]["module"] not in first)
    planned: dict = {}
    for i in order:
        try:
            planned[i] = _plan_one(tasks[i], obs, ctx)
        except (PlanError, OSError) as exc:   # an OSError: reading the kernel failed; nothing is changed
            message = str(exc) if isinstance(exc, PlanError) else f"could not observe the host for this task: {exc}"
            return [planned.get(j) or _unplanned(tasks[j]) for j in range(len(tasks))], (tasks[i]["index"], message)
    return [planned[i] for i in range(len(tasks))], None


# ------------------------------------------------------------------ reporting
def _task_event(run: Run, p: Planned, status: str, reason: str, **extra) -> dict:
    if run.diff and p.plan is not None and p.plan.changed:
        extra["diff"] = {"before": p.plan.before, "after": p.plan.after}
    if run.check:
        extra["check"] = True
    if p.pruned:
        extra["pruned"] = True
        reason = f"no longer declared: {reason}"
    return protocol.task_event(p.index, p.name, p.module, status, reason, **extra)


def _report_plan_failure(run: Run, planned: list, failure: tuple) -> bool:
    failed_index, message = failure
    for p in planned:
        if p.index == failed_index:
            run.emit(_task_event(run, p, protocol.FAILED, message))
        else:
            run.emit(_task_event(run, p, protocol.SKIPPED,
                                 p.skip or f"not applied: task {failed_index} failed while planning"))
    return False


def _report_check(run: Run, planned: list) -> bool:
    for p in planned:
        if p.skip or not getattr(RESOURCES[p.module], "RUNS_IN_CHECK_MODE", True):
            run.emit(_task_event(run, p, protocol.SKIPPED, p.skip or f"{p.module} runs on a real apply, not in "
                                                                       f"check mode"))
        else:
            run.emit(_task_event(run, p, protocol.CHANGED if _would_change(p.plan) else protocol.OK, _reason(p.plan)))
    return True


def _would_change(plan: TaskPlan) -> bool:
    """What check mode and drift call a change: a command that never reports one (changed_when:
    false, as a topology's exec lines are) is not, as a real run does not report it."""
    return plan.changed and not all(a.op is ops.RUN_COMMAND and a.args["command"].get("changed") is False
                                    for a in plan.actions)


def _reason(plan: TaskPlan) -> str:
    return "; ".join(plan.reasons)


# ------------------------------------------------------------------ applying
def _creates_netns_only(p: Planned) -> bool:
    """A task whose actions only make network namespaces: consecutive ones (a netns loop) are
    carried out together, concurrently, and reported one by one in order."""
    return (p.skip is None and p.plan is not None and bool(p.plan.actions)
            and all(a.op is ops.CREATE_NETNS for a in p.plan.actions))


def _batch(run: Run, planned: list, n: int) -> dict:
    """id(action) -> error (or None) for the netns-only tasks from N on, made at once."""
    batch = [a for q in takewhile(_creates_netns_only, planned[n:]) for a in q.plan.actions]
    if len(batch) < 2:
        return {}
    errors = run.kernel.ensure_netns_many([(a.name, a.args.get("replace_placeholder", False)) for a in batch])
    wrapped = [None if e is None else KernelError("create", f"netns '{a.name}'", "", getattr(e, "strerror", None)
                                                   or str(e)) for a, e in zip(batch, errors)]
    return dict(zip(map(id, batch), wrapped))


def _outcome(p: Planned, results: list) -> tuple:
    """(status, reason, extra event fields) of an applied task; commands and checks say
    themselves what happened."""
    status, reason, extra = (protocol.CHANGED if p.plan.changed else protocol.OK), _reason(p.plan), {}
    for r in filter(None, results):
        if not r.get("changed", True):
            status = protocol.OK
        if r.get("reason"):
            reason = r["reason"]
        for k in ("output", "checks"):
            if k in r:
                extra[k] = r[k]
        if r.get("failed"):
            status = protocol.FAILED
    return status, reason, extra


def _rollback(run: Run, undo: list) -> None:
    done, errors = [], []
    for group in reversed(undo):
        for a in group:
            try:
                ops.carry_out(run.kernel, a)
                done.append(f"{a.op.name} {a.name}")
            except Exception as exc:   # keep undoing the rest
                errors.append(str(exc))
    run.emit(protocol.rollback_event(done, errors))


def _apply_task(run: Run, p: Planned, ahead: dict, undo: list) -> list:
    """Carry out one task's actions (those made ahead in a batch are only checked); raises."""
    results = []
    for a, inv in zip(p.plan.actions, p.undo):
        if id(a) in ahead:
            error = ahead.pop(id(a))
            if error is not None:
                raise error
            results.append(None)
        else:
            results.append(ops.carry_out(run.kernel, a))
        undo.append(inv)
    return results


def _deletes_netns(p: Planned) -> bool:
    return p.skip is None and p.plan is not None and any(a.op is ops.DELETE_NETNS for a in p.plan.actions)


def _links_ahead(run: Run, planned: list, n: int, inodes: dict) -> None:
    """The veth ends a netns deletion leaves outside (its tasks await them), for the netns
    tasks from N on: their deletion begun now, together, with one kernel batch per namespace,
    while the tasks go on unpinning the namespaces; the run waits at its end until they are
    out of the kernel's lists (settle.py; kernel/unlink.py), not until they are freed. Unpinned,
    a namespace is freed by the kernel later, its veths with it, and waiting for that took most
    of a teardown (T(100): 0.17 s). A namespace a process still holds keeps its veth, as
    before: it is awaited, and reported with the process."""
    run_of = list(takewhile(_deletes_netns, planned[n:]))
    holders = run.kernel.netns_holders(inodes) if inodes else {}
    by_ns: dict = {}
    for q in run_of:
        for w in q.plan.awaits:
            if w[2] not in holders:
                by_ns.setdefault(w[0], []).append(w[1])
    for ns, names in by_ns.items():
        try:
            run.kernel.remove_links(ns, names, wait=False)
        except OSError:
            continue    # they are awaited all the same: they go with their namespace


def apply_planned(run: Run, planned: list, inodes: Optional[dict] = None) -> str:
    """Carry out every task: DONE; VIOLATED when a check failed (the build stays); FAILED when
    a task failed (this run is undone); STOPPED when the controller said stop (at the next
    safe point, between tasks: what was made stays, and the ledger says so). INODES: the pins
    of the namespaces to delete (kernel.netns_inodes)."""
    undo, ahead, verified, batched, inodes = [], {}, True, False, inodes or {}
    for n, p in enumerate(planned):
        if run.stopping and not ahead:   # a safe point: between tasks, nothing half done
            for q in planned[n:]:
                run.emit(_task_event(run, q, protocol.SKIPPED, "interrupted: not started"))
            return STOPPED
        if not ahead and _creates_netns_only(p):
            ahead = _batch(run, planned, n)
        if not batched and _deletes_netns(p):
            _links_ahead(run, planned, n, inodes)
            batched = True
        if p.skip:
            run.emit(_task_event(run, p, protocol.SKIPPED, p.skip))
            continue
        try:
            results = _apply_task(run, p, ahead, undo)
        except Exception as exc:   # KernelError, or anything unexpected: never leave half a run
            message = str(exc) if isinstance(exc, KernelError) else f"{type(exc).__name__}: {exc}"
            run.emit(_task_event(run, p, protocol.FAILED, message))
            # a batch also made what later tasks declare: undone with the rest
            undo += [inv for q in planned[n:] if q.plan for a, inv in zip(q.plan.actions, q.undo)
                     if id(a) in ahead and ahead[id(a)] is None]
            _rollback(run, undo)
            return FAILED
        status, reason, extra = _outcome(p, results)
        verified = verified and status != protocol.FAILED
        run.emit(_task_event(run, p, status, reason, **extra))
    return DONE if verified else VIOLATED


# ------------------------------------------------------------------ the requests
def _new_run(req: dict, emit: Emit, ledger: Ledger, kernel, control) -> Run:
    ssh = management()
    run = Run(emit, ledger, kernel, Context(req["lab"], ledger, ssh.controller if ssh else None, ssh),
              observed(kernel))
    run.check = bool(req.get("check") or req.get("drift"))
    run.diff, run.control = bool(req.get("diff")), control
    return run


def run_tasks(run: Run, tasks: list, first: tuple = ()) -> bool:
    """Plan TASKS, then report (check mode) or apply them; the ledger follows."""
    began = time.perf_counter()
    run.obs.look_ahead(t["params"]["name"] for t in tasks if t["module"] == "netns" and not t.get("skip")
                       and isinstance(t.get("params"), dict) and t["params"].get("state") == "absent"
                       and isinstance(t["params"].get("name"), str))
    planned, failure = plan_all(tasks, run.obs, run.ctx, first)
    planning = time.perf_counter() - began
    TIMINGS["observe_and_plan"] = round(TIMINGS.get("observe_and_plan", 0) + planning, 4)
    try:
        if failure is not None:
            return _report_plan_failure(run, planned, failure)
        if run.check:
            return _report_check(run, planned)
        records = [r for p in planned if p.plan for r in p.plan.records]
        run.ledger.record_intents(records)              # crash-safe: intent before any kernel change
        # who holds a namespace once its pin is gone is found by the pin's inode, read now
        inodes = run.kernel.netns_inodes({w[2] for p in planned if p.plan for w in p.plan.awaits})
        outcome = apply_planned(run, planned, inodes)
        settled = settle(run, planned, records, outcome, inodes)
        return outcome == DONE and settled
    finally:
        TIMINGS["apply"] = round(TIMINGS.get("apply", 0) + time.perf_counter() - began - planning, 4)
