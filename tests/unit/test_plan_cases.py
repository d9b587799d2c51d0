"""plan(desired, observed) as data: tests/data/plans/*.json hold the module, its parameters, what
the kernel holds, the ledger, and the actions (with reasons) or the error expected. A case with
"destroy": true holds no module: the engine plans the removal of everything the ledger records
for the lab (the same absent branches, in destroy's order), as `nsprov destroy` does.

The observed state is strict, like pyinfra's fake host: reading a namespace, sysctl, firewall
table, namespace set or process that the case does not declare fails the test, so a plan cannot
quietly depend on something the case did not think about."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nsprov.agent import engine, requests
from nsprov.agent.planning import Context, Management, PlanError
from nsprov.agent.resources import CONTAINERS, INTERNAL, RESOURCES
from nsprov.agent.kernel.objects import observers, pack_data
from nsprov.agent.state import Link, Namespace, Observed, Route
from nsprov.model.kinds import validate_params

CASES = sorted((Path(__file__).parent.parent / "data" / "plans").glob("*.json"))


class FakeLedger:
    def __init__(self, entries: list):
        self.entries = self.objects = entries     # objects: every lab's records, as the ledger's

    def find(self, kind, ns, name):
        return next((e for e in self.entries if (e["kind"], e.get("netns", ""), e["name"]) == (kind, ns, name)), None)

    def owned_by(self, lab):
        return [e for e in self.entries if e.get("lab") == lab or lab in e.get("labs", ())]


def strict_observed(case: dict) -> Observed:
    data = case["observed"]

    def declared(section: str, key: str, what: str):
        if key not in data.get(section, {}):
            raise AssertionError(f"plan read {what}, which the case does not declare")
        return data[section][key]

    def load_ns(ns):
        raw = declared("ns", ns, f"namespace {ns!r}")
        # a kind's own attributes are written [[type, format, value]], as a plan asks for them
        links = {link["name"]: Link(**{**link, "info": pack_data(link.get("info"))}) for link in raw.get("links", [])}
        routes = {r["dst"]: Route(**r) for r in raw.get("routes", [])}
        return Namespace(links, routes)

    class Declared:      # serves every aspect from the case, like a kernel (kernel/objects.ASPECTS)
        observe_ns = staticmethod(load_ns)
        read_sysctl = staticmethod(lambda ns, key: declared("sysctl", f"{ns}|{key}", f"sysctl {key} in {ns!r}"))
        read_rules = staticmethod(lambda ns, table: declared("rules", f"{ns}|{table}", f"table {table} in {ns!r}"))
        read_nsset = staticmethod(lambda name: declared("sets", name, f"namespace set {name!r}"))
        read_process = staticmethod(lambda name: declared("processes", name, f"process {name!r}"))
        # a case with no "files" has none; one with "files" declares each file a plan may read
        read_file = staticmethod(lambda path: declared("files", path, f"file {path}") if "files" in data else None)
        read_qdisc = staticmethod(lambda ns, link: declared("qdisc", f"{ns}|{link}", f"qdisc on {link} in {ns!r}"))
        read_firewall = staticmethod(lambda ns, table: declared("firewall", f"{ns}|{table}", f"filter {table} in {ns!r}"))
        survey = staticmethod(lambda ns: None)
        # what the case's kernel has: all but the (what, kind) pairs it says it lacks
        supports = staticmethod(lambda what, kind: [what, kind] not in data.get("lacking", []))
        # host paths: those the case lists under "paths" (a bind's target), and its files
        path_exists = staticmethod(lambda path: path in data.get("paths", []) or path in data.get("files", {}))

    return Observed(set(data.get("netns", [])), observers(Declared), placeholders=set(data.get("placeholders", [])))


def _actions(tp) -> list:
    return [[a.op.name, a.ns, a.name] for a in tp.actions]


def _destroy(case: dict, ctx: Context) -> None:
    tasks = requests.removal_tasks(ctx.ledger.owned_by(case["lab"]))
    planned, failure = engine.plan_all(tasks, strict_observed(case), ctx, first=CONTAINERS)
    expect = case["expect"]
    if "error" in expect:
        assert failure is not None and expect["error"] in failure[1], failure
        return
    assert failure is None, failure
    got = [{"name": p.name, "module": p.module, "actions": _actions(p.plan), "reasons": p.plan.reasons,
            "changed": p.plan.changed} for p in planned]
    assert got == expect["tasks"]
    if "forgets" in expect:
        forgotten = sorted(f"{e['kind']}:{e.get('netns', '')}:{e['name']}" for p in planned for e in p.plan.forgets)
        assert forgotten == sorted(expect["forgets"])


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plan_case(path):
    case = json.loads(path.read_text())
    ssh = Management(**case["ssh"]) if "ssh" in case else None
    ctx = Context(case["lab"], FakeLedger(case["ledger"]), management=case.get("management") or (ssh and ssh.controller),
                  ssh=ssh)
    if case.get("destroy"):
        _destroy(case, ctx)
        return
    params, problems = validate_params(case["module"], case["params"])
    assert problems == []
    expect = case["expect"]
    def plan(params, obs, ctx):    # as the engine plans a task: refused where the kernel lacks its kind
        return engine.plan_task(case["module"], params, obs, ctx)
    if "error" in expect:
        with pytest.raises(PlanError) as err:
            plan(params, strict_observed(case), ctx)
        assert expect["error"] in str(err.value)
        return
    tp = plan(params, strict_observed(case), ctx)
    assert _actions(tp) == expect["actions"]
    assert tp.reasons == expect["reasons"]
    for i, key, value in expect.get("args", []):    # [action index, argument, value], as JSON has it
        assert json.loads(json.dumps(tp.actions[i].args.get(key))) == value, (i, key)
    if "records" in expect:
        assert tp.records == expect["records"]
    if "forgets" in expect:
        assert sorted(f"{e['kind']}:{e.get('netns', '')}:{e['name']}" for e in tp.forgets) == sorted(expect["forgets"])


def test_there_are_plan_cases_for_every_module_and_for_destroy():
    cases = [json.loads(p.read_text()) for p in CASES]
    modules = {c["module"] for c in cases if not c.get("destroy")}
    assert modules == set(RESOURCES) - set(INTERNAL)
    assert sum(bool(c.get("destroy")) for c in cases) >= 3
    for module in modules - {"exec", "verify"}:   # every kind with a state has its absent branch shown
        assert any(c.get("module") == module and c["params"].get("state") == "absent" for c in cases), module


def test_every_record_a_plan_writes_gives_an_absent_task_that_validates():
    """Destroy and convergence remove a recorded object by its kind's absent(record): over every
    plan case, each record the plan writes must make a task its kind accepts (a required
    parameter the record does not keep would leave the object impossible to destroy)."""
    from nsprov.agent.resources import module_of
    seen = set()
    for path in CASES:
        case = json.loads(path.read_text())
        if case.get("destroy") or "error" in case["expect"]:
            continue
        params, _ = validate_params(case["module"], case["params"])
        ctx = Context(case["lab"], FakeLedger(case["ledger"]), management=case.get("management"))
        try:
            tp = RESOURCES[case["module"]].plan(params, strict_observed(case), ctx)
        except (PlanError, AssertionError):
            continue
        for record in tp.records:
            module = module_of(record)
            if module in INTERNAL:
                continue
            task = RESOURCES[module].absent(record)
            assert validate_params(module, task)[1] == [], (path.name, record, task)
            seen.add(module)
    with_records = {m for m, r in RESOURCES.items() if m not in INTERNAL and r.RECORDS}
    assert seen >= with_records - {"exec", "verify"}, sorted(with_records - seen)
