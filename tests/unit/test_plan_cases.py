"""plan(desired, observed) as data: tests/data/plans/*.json hold the module, its parameters, what
the kernel holds, the ledger, and the actions (with reasons) or the error expected.

The observed state is strict, like pyinfra's fake host: reading a namespace, sysctl or
firewall table that the case does not declare fails the test, so a plan cannot quietly depend
on something the case did not think about."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nsprov.agent.plan import PLANNERS, Context, PlanError
from nsprov.agent.state import Link, Namespace, Observed, Route
from nsprov.model.schema import validate_params

CASES = sorted((Path(__file__).parent.parent / "data" / "plans").glob("*.json"))


class FakeLedger:
    def __init__(self, entries: list):
        self.entries = entries

    def find(self, kind, ns, name):
        return next((e for e in self.entries if (e["kind"], e.get("netns", ""), e["name"]) == (kind, ns, name)), None)


def strict_observed(case: dict) -> Observed:
    data = case["observed"]

    def load_ns(ns):
        if ns not in data.get("ns", {}):
            raise AssertionError(f"plan read namespace {ns!r}, which the case does not declare")
        raw = data["ns"][ns]
        links = {link["name"]: Link(**link) for link in raw.get("links", [])}
        routes = {r["dst"]: Route(**r) for r in raw.get("routes", [])}
        return Namespace(links, routes)

    def load_sysctl(ns, key):
        if f"{ns}|{key}" not in data.get("sysctl", {}):
            raise AssertionError(f"plan read sysctl {key} in {ns!r}, which the case does not declare")
        return data["sysctl"][f"{ns}|{key}"]

    def load_rules(ns, table):
        if f"{ns}|{table}" not in data.get("rules", {}):
            raise AssertionError(f"plan read table {table} in {ns!r}, which the case does not declare")
        return data["rules"][f"{ns}|{table}"]

    return Observed(set(data.get("netns", [])), load_ns, load_sysctl, load_rules,
                    placeholders=set(data.get("placeholders", [])))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_plan_case(path):
    case = json.loads(path.read_text())
    params, problems = validate_params(case["module"], case["params"])
    assert problems == []
    ctx = Context(owner=case["owner"], ledger=FakeLedger(case["ledger"]), management=case.get("management"))
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(PlanError) as err:
            PLANNERS[case["module"]](params, strict_observed(case), ctx)
        assert expect["error"] in str(err.value)
        return
    tp = PLANNERS[case["module"]](params, strict_observed(case), ctx)
    assert [[a.op, a.ns, a.name] for a in tp.actions] == expect["actions"]
    assert tp.reasons == expect["reasons"]
    if "records" in expect:
        assert tp.records == expect["records"]


def test_there_are_plan_cases_for_every_module():
    modules = {json.loads(p.read_text())["module"] for p in CASES}
    assert modules == set(PLANNERS)
