"""The requests that change a host, phase by phase (one phase per play): apply, which also
converges (removes what the lab made and no longer declares; converge.py), and destroy, which
plans the absent task of everything the lab recorded, the plays backwards."""

from __future__ import annotations

from nsprov.agent import converge
from nsprov.agent.engine import Emit, _new_run, run_tasks
from nsprov.agent.ledger import LabClaimed, Ledger
from nsprov.agent.phases import phases_of, run_phases
from nsprov.agent.resources import CONTAINERS, RESOURCES, module_of
from nsprov.model import protocol
from nsprov.model.kinds import MODULES, object_name


def claim(run, req: dict, ledger: Ledger) -> None:
    """The lab is this playbook's (ledger.claim refuses another's, naming both). Check mode and
    drift change nothing, so a copy of the playbook may look: they say once that a real run
    would be refused, and show what it would change with --take-over."""
    if req.get("claim") is None:
        return
    take_over = bool(req.get("take_over"))
    if run.check and not take_over:
        try:
            ledger.claim(run.ctx.lab, req["claim"])
            return
        except LabClaimed as exc:
            run.emit(protocol.event("claimed", lab=run.ctx.lab, message=f"a real run would be refused: {exc}; "
                                                                        f"shown is what it would change with --take-over"))
            take_over = True
    ledger.claim(run.ctx.lab, req["claim"], take_over)


def _converging(run, req: dict, phases: list) -> list:
    """Records gone from the kernel are dropped (said so); what the lab made here and no task
    stands for any more is removed, first, by its kind's absent task: the tasks for that. With
    prune off (--tags, --keep-undeclared), it stays, and the run says so."""
    converge.prepare(phases)
    left = converge.undeclared(run.ledger, run.ctx, converge.declared(phases, run.obs, run.ctx))
    gone, left, healed = converge.heal(run.ledger, run.obs, left, write=not run.check)
    if healed is not None:
        run.emit(healed)
    prune = req.get("prune") or {}
    if not left:
        return []
    if not prune.get("enabled"):
        run.emit(protocol.event("prune", kept=[object_label(e) for e in left], why=prune.get("why") or
                                "the request does not prune"))
        return []
    base = 1 + max([t["index"] for ph in phases for t in ph.get("tasks") or []], default=-1)
    tasks = removal_tasks(left)
    for t in tasks:
        t.update(index=base + t["index"], pruned=True)
    return tasks


def apply_request(req: dict, emit: Emit, ledger: Ledger, kernel, control=None) -> bool:
    run = _new_run(req, emit, ledger, kernel, control)
    claim(run, req, ledger)
    phases = phases_of(req, ("tasks",))
    pruned = _converging(run, req, phases)

    def phase(ph: dict) -> bool:
        # check mode records nothing: what earlier plays would have recorded stays pending, or
        # a later play (and the findings) would take their simulated objects for foreign ones
        simulated = run.ctx.pending if run.check else []
        run.ctx.reset()
        run.ctx.add_pending(simulated)
        run.ctx.play = ph["play"]
        tasks = ph["tasks"] or []
        if ph is phases[0] and pruned:
            tasks = pruned + tasks
        return run_tasks(run, tasks)
    ok = run_phases(phases, emit, control, phase)
    quiet = set(req.get("commanded") or ())      # a topology's nodes its exec lines shape
    for finding in converge.findings(run.obs, run.ctx, deep=bool(req.get("drift")), quiet=quiet):
        emit(finding)
    return ok


def object_label(e: dict) -> str:
    return f"{e['kind']} {e.get('netns') + '/' if e.get('netns') else ''}{e['name']}"


def removal_tasks(records: list) -> list:
    """The `absent` task of every recorded object, newest first, one per object (both ends of a
    veth are one pair)."""
    tasks, seen = [], set()
    for e in reversed(records):
        module = module_of(e)
        params = RESOURCES[module].absent(e)
        key = (module, repr(sorted(params.items())))
        if key in seen:
            continue
        seen.add(key)
        name = object_name(module, MODULES[module].validate(params)[0]) if module in MODULES else \
            f"table {params['table']}" + (f" in {params['netns']}" if params.get("netns") else "")
        tasks.append({"index": len(tasks), "name": name, "module": module, "params": params})
    return tasks


def destroy_request(req: dict, emit: Emit, ledger: Ledger, kernel, control=None) -> bool:
    """Remove what the lab recorded, play by play in the order given (the plays reversed), the
    last phase taking whatever is left; each a plan of absent tasks like any other. When nothing
    of the lab is left, its entry goes, and its logs unless kept."""
    run = _new_run(req, emit, ledger, kernel, control)
    claim(run, req, ledger)
    phases = req.get("phases") or [{"play": None}]
    last = phases[-1]["play"]

    def phase(ph: dict) -> bool:
        records = ledger.owned_by(run.ctx.lab)
        if ph["play"] != last:
            records = [e for e in records if e.get("play", 0) == ph["play"]]
        run.ctx.reset()
        return run_tasks(run, removal_tasks(records), first=CONTAINERS)
    ok = run_phases(phases, emit, control, phase)
    if not run.check and not ledger.owned_by(run.ctx.lab):
        ledger.release(run.ctx.lab)
        ledger.save()
        if not req.get("keep_logs"):
            kernel.remove_logs(run.ctx.lab)
    return ok
