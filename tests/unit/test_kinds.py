"""One home per kind: every module kind has its model entry (parameters with docs, a name for
its object, what it declares and draws) and its agent resource (planning, and for each ledger
kind it records, how a recorded object is checked and removed); every op names a kernel
primitive that both kernels have; and only the kernel layer touches the kernel. A kind that lacks
a piece fails here, not halfway through a run on a host."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from nsprov.agent import ops
from nsprov.agent.kernel import PRIMITIVES, Kernel
from nsprov.agent.kernel.fake import FakeKernel
from nsprov.agent.resources import INTERNAL, RECORD_MODULES, RESOURCES, module_of
from nsprov.model.kinds import KINDS, MODULES
from nsprov.model.kinds.base import Declares, Kind
from nsprov.model.topology import HostTopology

ROOT = Path(__file__).parents[2] / "nsprov"


def test_every_kind_has_a_model_entry_and_a_resource_and_nothing_else_does():
    assert set(MODULES) == set(RESOURCES) - set(INTERNAL)
    assert len(MODULES) == len(KINDS)
    for name in INTERNAL:
        assert name not in MODULES


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_each_model_entry_is_whole(kind: Kind):
    assert kind.summary and kind.doc and kind.example and kind.params
    for name, param in kind.params.items():
        assert param.doc, f"{kind.name}.{name} has no doc"
        assert param.type.name and isinstance(param.type.schema, dict), f"{kind.name}.{name}"
        assert not (param.required and param.default is not None), f"{kind.name}.{name}"
    assert ("state" in kind.params) == bool(kind.absent), f"{kind.name}: absent doc iff it has a state"
    # the example validates, and every piece answers for it
    import yaml
    example = yaml.safe_load(kind.example)
    assert list(example) == [kind.name]
    params, problems = kind.validate(example[kind.name])
    assert problems == [], problems
    assert kind.label(params).strip()
    assert isinstance(kind.declares(params), Declares)
    assert isinstance(kind.proves(params), dict)
    kind.draw(params, HostTopology("h"))


@pytest.mark.parametrize("module", sorted(RESOURCES))
def test_each_resource_plans_and_says_how_its_records_go(module):
    r = RESOURCES[module]
    assert r.MODULE == module
    assert callable(r.plan) and inspect.signature(r.plan).parameters.keys() == {"p", "obs", "ctx"}
    for kind in r.RECORDS:
        assert callable(getattr(r, "absent", None)) and callable(getattr(r, "exists", None)), module
    assert r.__doc__, f"agent/resources/{module}.py has no docstring"


def test_every_ledger_kind_has_the_resource_that_removes_it():
    recorded = {kind: r.MODULE for r in RESOURCES.values() for kind in r.RECORDS}
    assert set(recorded) >= set(RECORD_MODULES)
    for kind, module in RECORD_MODULES.items():
        assert kind in RESOURCES[module].RECORDS
    # records from before they named their module still find it
    assert module_of({"kind": "link", "name": "v0", "peer": "v1"}) == "veth"
    assert module_of({"kind": "link", "name": "br0"}) == "bridge"
    assert module_of({"kind": "fw_rule", "name": "dnat tcp/80->1.2.3.4:80"}) == "port_forward"


def test_every_op_is_declared_once_and_names_a_primitive_both_kernels_have():
    assert len(ops.OPS) == len({op.name for op in ops.OPS.values()})
    for op in ops.OPS.values():
        assert op.primitive in PRIMITIVES, op.name
        for kernel in (Kernel, FakeKernel):
            method = getattr(kernel, op.primitive, None)
            assert callable(method), f"{kernel.__name__} lacks {op.primitive}"
        real = inspect.signature(getattr(Kernel, op.primitive)).parameters
        fake = inspect.signature(getattr(FakeKernel, op.primitive)).parameters
        assert list(real) == list(fake), f"{op.primitive}: the fake's parameters differ"
        assert callable(op.simulate) and callable(op.inverse) and op.verb


def _imports(path: Path) -> set:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_kernel_layer_touches_the_kernel():
    """netlink, nsfs, mounts, nft and processes are reached through agent/kernel only: outside
    it, no agent module imports what it takes to touch them."""
    touching = {"ctypes", "subprocess", "socket", "select", "selectors", "signal", "fcntl"}
    allowed = {"ledger.py": {"fcntl"}}     # the ledger's lock is a file lock, not a kernel object
    for path in (ROOT / "agent").rglob("*.py"):
        if "kernel" in path.relative_to(ROOT / "agent").parts:
            continue
        bad = (_imports(path) & touching) - allowed.get(path.name, set())
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_the_plans_are_pure():
    """Planning modules import nothing that reads or changes the host."""
    for path in [*(ROOT / "agent" / "resources").glob("*.py"), ROOT / "agent" / "planning.py", ROOT / "agent" / "ops.py"]:
        mods = {m for m in _imports(path)}
        assert not mods & {"os", "subprocess", "ctypes", "socket"}, f"{path.name}: {mods}"
