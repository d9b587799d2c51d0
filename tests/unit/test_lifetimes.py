"""Lifetimes are data: what goes with a deleted object is read from what each kind declares it
dies with (agent/resources DIES_WITH, and its netns), transitively, and the plan's view of the
host follows (Action.takes). Checked with the fake kernel and the real planner."""

from __future__ import annotations

from nsprov.agent import engine
from nsprov.agent.kernel.fake import FakeKernel
from nsprov.agent.planning import Context
from nsprov.agent.resources._lifetimes import Lifetimes, dies_with
from nsprov.agent.state import observed
from tests.unit.test_plan_cases import FakeLedger


def _veth(ns, name, pns, peer, end=None):
    e = {"kind": "link", "netns": ns, "name": name, "lab": "t", "module": "veth", "peer_netns": pns, "peer": peer}
    return e | ({"end": end} if end else {})


RECORDS = [
    {"kind": "netns", "netns": "", "name": "red", "lab": "t", "module": "netns"},
    _veth("", "h0", "red", "eth0"), _veth("red", "eth0", "", "h0", "peer"),
    {"kind": "address", "netns": "red", "name": "eth0/10.0.0.2/24", "lab": "t", "module": "address"},
    {"kind": "link", "netns": "", "name": "br0", "lab": "t", "module": "bridge"},
]


def test_a_record_dies_with_its_netns_and_what_its_kind_declares():
    assert dies_with(_veth("", "h0", "red", "eth0")) == [("link", "red", "eth0")]
    assert dies_with(_veth("red", "eth0", "", "h0")) == [("netns", "", "red"), ("link", "", "h0")]
    assert dies_with(RECORDS[4]) == []


def test_what_goes_with_a_netns_is_found_through_every_declaration():
    gone = {(e["netns"], e["name"]) for e in Lifetimes(RECORDS).going_with(("netns", "", "red"))}
    # inside it, and the host end that dies with the end inside; not the bridge, not the netns itself
    assert gone == {("red", "eth0"), ("", "h0"), ("red", "eth0/10.0.0.2/24")}
    # control: from one end, the pair and what is inside red through the end (not red's other records)
    assert {(e["netns"], e["name"]) for e in Lifetimes(RECORDS).going_with(("link", "", "h0"))} == {("red", "eth0")}


def _context(kernel: FakeKernel, tmp_path) -> Context:
    ledger = FakeLedger([])
    ctx = Context("t", ledger)
    tasks = [{"index": 0, "module": "netns", "params": {"name": "red"}},
             {"index": 1, "module": "veth", "params": {"name": "h0", "peer": "eth0", "peer_netns": "red"}}]
    planned, failure = engine.plan_all(tasks, observed(kernel), ctx)
    assert failure is None, failure
    for p in planned:
        for a in p.plan.actions:
            getattr(kernel, a.op.primitive)(ns=a.ns, name=a.name, **a.args, **a.op.fixed)
        ledger.entries.extend(dict(r, state="done") for r in p.plan.records)
    return Context("t", ledger)


def test_the_plan_sees_a_pair_go_from_either_end_and_with_the_netns(tmp_path):
    kernel = FakeKernel()
    ctx = _context(kernel, tmp_path)
    obs = observed(kernel)
    assert obs.link("", "h0") is not None and obs.link("red", "eth0") is not None
    tasks = [{"index": 0, "module": "veth", "params": {"name": "h0", "peer": "eth0", "peer_netns": "red",
                                                        "state": "absent"}}]
    planned, failure = engine.plan_all(tasks, obs, ctx)
    assert failure is None, failure
    (action,) = planned[0].plan.actions
    assert action.takes == (("red", "eth0"),)
    action.op.simulate(obs, action)
    assert obs.link("red", "eth0") is None, "the peer outlived its pair in the plan's view"
    # and a netns deleted takes the end outside with it
    obs = observed(kernel)
    planned, failure = engine.plan_all([{"index": 0, "module": "netns", "params": {"name": "red", "state": "absent"}}],
                                       obs, ctx)
    assert failure is None, failure
    (action,) = planned[0].plan.actions
    action.op.simulate(obs, action)
    assert obs.link("", "h0") is None
