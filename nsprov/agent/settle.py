"""The ledger after an apply: in step with what the kernel holds, whatever happened. After a
good run, what was made is done and what was removed is forgotten; links the kernel frees later
are waited for. After a rollback or a stop, every entry the run touched is read again from the
kernel: kept if its object is there, forgotten if not. The ledger never lies."""

from __future__ import annotations

import time

from nsprov.agent.ledger import object_key
from nsprov.agent.resources import RESOURCES, module_of
from nsprov.agent.state import Observed, observed
from nsprov.model import protocol

DONE, VIOLATED, FAILED, STOPPED = "done", "violated", "failed", "stopped"   # how an apply ended


def _exists(entry: dict, obs: Observed) -> bool:
    resource = RESOURCES.get(module_of(entry))
    return resource is not None and resource.exists(entry, obs)


def _truth(run, entries: list) -> tuple:
    """(entries whose object is in the kernel, entries whose object is not), read afresh."""
    obs = observed(run.kernel)
    here, gone = [], []
    for e in entries:
        (here if _exists(e, obs) else gone).append(e)
    return here, gone


def settle(run, planned: list, records: list, outcome: str, inodes: dict) -> bool:
    """Bring the ledger in step with what the kernel holds now; False when something did not go
    as planned. After a good run: what was made is done, what was removed is forgotten, and
    links the kernel frees later are waited for (a link still there keeps its record). After a
    rollback every entry this run touched is read again from the kernel: kept if its object is
    there, forgotten if not; so after a stop. The ledger never lies."""
    ours = {object_key(r) for r in records}
    forgets = [e for p in planned if p.plan for e in p.plan.forgets if object_key(e) not in ours]
    # the ledger's own entries (a forget names an object; its entry says how to check it)
    held = [found for found in (run.ledger.find(e["kind"], e.get("netns", ""), e["name"]) for e in forgets)
            if found is not None]
    if outcome in (FAILED, STOPPED):
        here, gone = _truth(run, records + held)
        run.ledger.mark_done(here)
        run.ledger.forget(gone)
        run.emit(protocol.ledger_event(len([e for e in here if object_key(e) in ours]),
                                       len([e for e in gone if object_key(e) not in ours])))
        return False
    left = _wait_links_gone(run, [w for p in planned if p.plan for w in p.plan.awaits], inodes, len(planned))
    kept = {("link", ns, name) for ns, name, _ in left}
    # intents left by a run that was cut short, whose objects this run found or finished, are
    # done now (the model after this run's actions says which exist: no second look needed)
    finished = [e for e in run.ledger.owned_by(run.ctx.lab) if e.get("state") == "intent"
                and object_key(e) not in ours and _exists(e, run.obs)]
    run.ledger.mark_done(records + finished)
    removed = [e for e in held if (e["kind"], e.get("netns", ""), e["name"]) not in kept]
    run.ledger.forget(removed)
    run.emit(protocol.ledger_event(len(records), len(removed)))
    return not left


def _wait_links_gone(run, awaited: list, inodes: dict, index: int, timeout: float = 10.0) -> list:
    """Wait until the kernel's asynchronous namespace cleanup removed these links (ns, name,
    netns); returns those left, reported as a failed task naming what keeps them alive. INODES:
    the deleted namespaces' pins, read before they went (kernel.netns_inodes)."""
    if not awaited:
        return []
    holders = run.kernel.netns_holders(inodes) if inodes else {}
    pending = [w for w in awaited if w[2] not in holders]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        present = {ns: run.kernel.links_present(ns) for ns in {w[0] for w in pending}}
        pending = [w for w in pending if w[1] in present[w[0]]]
        if pending:
            time.sleep(0.002)
    left = [w for w in awaited if w[2] in holders] + pending
    if left:
        run.emit(_cleanup_failed(left, holders, index))
    return left


def _cleanup_failed(left: list, holders: dict, index: int) -> dict:
    held = sorted({w[2] for w in left} & set(holders))
    return protocol.task_event(
        index, "namespace cleanup", "destroy", protocol.FAILED,
        "links still present after their netns went: " + ", ".join(f"{ns or 'host'}/{n}" for ns, n, _ in left) +
        "".join(f"; netns {ns} lives on in " + ", ".join(f"pid {pid} ({comm})" for pid, comm in holders[ns][:5]) +
                (" and more" if len(holders[ns]) > 5 else "") + ": its links go when they exit, then destroy again"
                for ns in held))
