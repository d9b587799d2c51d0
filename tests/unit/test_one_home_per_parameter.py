"""A parameter that kinds share is declared once (model/kinds/base.py) with its type, validation
and default, and every kind that takes it takes that one; `--diff` shows every declared
parameter after, an MTU change among them."""

from __future__ import annotations

import pytest

from nsprov.agent import engine
from nsprov.agent.kernel.fake import FakeKernel
from nsprov.agent.planning import Context
from nsprov.agent.state import observed
from nsprov.model.kinds import KINDS, base
from tests.unit.test_plan_cases import FakeLedger

SHARED = {"netns": base.NETNS, "addresses": base.ADDRESSES, "mtu": base.MTU, "up": base.UP, "state": base.STATE}


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_a_shared_parameter_has_one_type_and_one_default_everywhere(kind):
    for name, param in kind.params.items():
        home = SHARED.get(name)
        if home is None:
            continue
        assert param.type is home.type, f"{kind.name}.{name} has its own type"
        assert param.default == home.default and param.required == home.required, f"{kind.name}.{name}"


def test_diff_shows_an_mtu_change_of_a_veth_before_and_after():
    kernel, ctx = FakeKernel(), Context("t", FakeLedger([]))
    veth = {"name": "h0", "peer": "eth0", "peer_netns": "red"}
    made, failure = engine.plan_all([{"index": 0, "module": "netns", "params": {"name": "red"}},
                                     {"index": 1, "module": "veth", "params": veth}], observed(kernel), ctx)
    assert failure is None
    for p in made:
        for a in p.plan.actions:
            getattr(kernel, a.op.primitive)(ns=a.ns, name=a.name, **a.args, **a.op.fixed)
        ctx.ledger.entries.extend(dict(r, state="done") for r in p.plan.records)
    ctx = Context("t", ctx.ledger)
    planned, failure = engine.plan_all([{"index": 0, "module": "veth", "params": {**veth, "mtu": 1400}}],
                                       observed(kernel), ctx)
    assert failure is None
    tp = planned[0].plan
    assert tp.before["end"]["mtu"] == 1500 and tp.after["end"]["mtu"] == 1400
    assert tp.before["peer"]["mtu"] == 1500 and tp.after["peer"]["mtu"] == 1400
    # unchanged parameters read the same before and after: only what changes shows as a change
    assert {k for k in tp.after["end"] if tp.after["end"][k] != tp.before["end"][k]} == {"mtu"}
