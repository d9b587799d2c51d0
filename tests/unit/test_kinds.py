"""One home per kind: every module kind has its model entry (parameters with docs, a name for
its object, what it declares and draws) and its agent resource (planning, and for each ledger
kind it records, how a recorded object is checked and removed); every op names a kernel
primitive that both kernels have; and only the kernel layer touches the kernel. A kind that lacks
a piece fails here, not halfway through a run on a host."""

from __future__ import annotations

import ast
import inspect
import types
from pathlib import Path

import pytest

from nsprov.agent import ops
from nsprov.agent.kernel import PRIMITIVES, Kernel
from nsprov.agent.kernel.fake import FakeKernel
from nsprov.agent.resources import INTERNAL, RESOURCES, module_of
from nsprov.model.kinds import KINDS, MODULES, REGISTRY, validate_params
from nsprov.model.kinds.base import Declares, Kind
from nsprov.model.topology import HostTopology

ROOT = Path(__file__).parents[2] / "nsprov"
SIGNATURE = ["p", "obs", "ctx"]
MODEL_HOOKS = ("name", "summary", "doc", "example", "params", "label", "declares")
RESOURCE_HOOKS = ("__doc__", "MODULE", "RECORDS", "plan", "keys", "absent", "exists", "CLAIMS")


def _overrides(kind: Kind, hook: str) -> bool:
    return any(hook in vars(c) for c in type(kind).__mro__ if c is not Kind and issubclass(c, Kind))


def model_problems(name: str, kind: Kind) -> list:
    """What the model entry of kind NAME lacks, each naming the hook."""
    out = [f"{name}: model/kinds/{name}.py has no {hook}" for hook in ("summary", "doc", "example", "params")
           if not getattr(kind, hook, None)]
    if kind.name != name:
        out.append(f"{name}: model/kinds/{name}.py has no name (its KIND is named {kind.name!r})")
    out += [f"{name}: model/kinds/{name}.py has no {hook}()" for hook in ("label", "declares")
            if not _overrides(kind, hook)]
    for pname, param in (getattr(kind, "params", None) or {}).items():
        if not param.doc or not param.type.name or not isinstance(param.type.schema, dict):
            out.append(f"{name}: parameter {pname} has no doc or type")
        if param.required and param.default is not None:
            out.append(f"{name}: parameter {pname} is required and has a default")
    if ("state" in (getattr(kind, "params", None) or {})) != bool(kind.absent):
        out.append(f"{name}: model/kinds/{name}.py has no absent (what state: absent does)" if not kind.absent
                   else f"{name}: an absent text but no state parameter")
    return out


def resource_problems(name: str, r, resources: dict) -> list:
    """What the agent resource of kind NAME lacks, each naming the hook (RESOURCES: all of them,
    for the hooks that depend on the others)."""
    where = f"{name}: agent/resources/{name}.py"
    out = [] if getattr(r, "__doc__", None) else [f"{where} has no __doc__ (what it plans)"]
    if getattr(r, "MODULE", None) != name:
        out.append(f"{where} has no MODULE = {name!r}")
    if not isinstance(getattr(r, "RECORDS", None), tuple):
        out.append(f"{where} has no RECORDS (the ledger kinds it records)")
    for hook in ("plan", "keys"):
        fn = getattr(r, hook, None)
        if not callable(fn) or list(inspect.signature(fn).parameters) != SIGNATURE:
            out.append(f"{where} has no {hook}(p, obs, ctx)")
    for hook, args in (("absent", "record"), ("exists", "record, obs")):
        if getattr(r, "RECORDS", ()) and not callable(getattr(r, hook, None)):
            out.append(f"{where} has no {hook}({args}) (it records {', '.join(r.RECORDS)})")
    shared = [k for k in getattr(r, "RECORDS", ()) if any(k in getattr(o, "RECORDS", ()) for m, o in resources.items()
                                                           if m != name)]
    if shared and not callable(getattr(r, "CLAIMS", None)):
        out.append(f"{where} has no CLAIMS(record) (another resource records {shared[0]} too)")
    recorded = {k for o in resources.values() for k in getattr(o, "RECORDS", ())}
    for entry in getattr(r, "DIES_WITH", ()):
        if len(entry) != 3 or entry[0] not in recorded:
            out.append(f"{where}: DIES_WITH entry {entry!r} is not (ledger kind, netns field, name field)")
    return out


def test_the_registry_lists_every_kind_once_and_each_has_both_files():
    assert len(REGISTRY) == len(set(REGISTRY)) == len(KINDS)
    assert [k.name for k in KINDS] == list(REGISTRY)
    assert set(MODULES) == set(RESOURCES) - set(INTERNAL)
    files = {p.stem for p in (ROOT / "model" / "kinds").glob("[!_]*.py")} - {"base"}
    assert files == set(REGISTRY), "a kind file the registry does not list, or the other way"
    agent = {p.stem for p in (ROOT / "agent" / "resources").glob("[!_]*.py")}
    assert agent == set(REGISTRY) | set(INTERNAL)


@pytest.mark.parametrize("name", REGISTRY)
def test_each_kind_is_whole(name):
    kind, r = MODULES[name], RESOURCES[name]
    assert model_problems(name, kind) + resource_problems(name, r, RESOURCES) == []
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


@pytest.mark.parametrize("name", INTERNAL)
def test_each_internal_resource_is_whole(name):
    assert resource_problems(name, RESOURCES[name], RESOURCES) == []
    assert name not in MODULES


def _without(kind: Kind, hook: str) -> Kind:
    """A copy of KIND's class with HOOK taken out (the base Kind's stands in, if it has one)."""
    cls = type(kind)
    body = {k: v for k, v in vars(cls).items() if k not in (hook, "__dict__", "__weakref__")}
    return type(cls.__name__, (Kind,), body)()


def _cases() -> list:
    out = []
    for name in REGISTRY:
        out += [("model", name, hook) for hook in MODEL_HOOKS]
        r = RESOURCES[name]
        out += [("resource", name, hook) for hook in RESOURCE_HOOKS if getattr(r, hook, None) is not None]
    return out


@pytest.mark.parametrize("side, name, hook", _cases(), ids=lambda x: str(x))
def test_a_kind_missing_any_hook_fails_the_check_naming_it(side, name, hook):
    """The check above is not a formality: take any one hook out of a copy of any kind, and it
    fails, naming that hook."""
    if side == "model":
        found = model_problems(name, _without(MODULES[name], hook))
    else:
        r = RESOURCES[name]
        copy = types.SimpleNamespace(**{k: v for k, v in vars(r).items() if k != hook})
        copy.__doc__ = None if hook == "__doc__" else r.__doc__
        found = resource_problems(name, copy, {**RESOURCES, name: copy})
    assert found, f"taking {hook} out of {name} went unnoticed"
    assert any(f" {hook}" in p or f"{hook} " in p for p in found), found


def test_records_written_before_they_named_their_module_still_find_it():
    assert module_of({"kind": "link", "name": "v0", "peer": "v1"}) == "veth"
    assert module_of({"kind": "link", "name": "br0"}) == "bridge"
    assert module_of({"kind": "fw_rule", "name": "dnat tcp/80->1.2.3.4:80"}) == "port_forward"
    assert module_of({"kind": "fw_rule", "name": "masquerade 10.0.0.0/24 oif eth0"}) == "nat"
    assert module_of({"kind": "netns", "name": "red"}) == "netns"


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


# ------------------------------------------------------------------ the README's recipe
REPO = ROOT.parent
PROOF_KIND = "macvlan"     # the kind whose change the README's "Adding a module kind" lists


def _git(*args: str) -> str:
    import subprocess
    proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr} (the test needs the repository's history)"
    return proc.stdout


def readme_recipe() -> list:
    """The file patterns of the fenced list in the README's "Adding a module kind"."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Adding a module kind"):]
    block = section.split("```", 2)[1]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


def test_the_readme_recipe_is_the_file_list_of_the_change_that_added_a_kind():
    """What a contributor is told to touch is what adding macvlan touched: every file of that
    commit matches a line of the README's list, and every line matches a file of it."""
    from fnmatch import fnmatch
    added = _git("log", "--diff-filter=A", "--format=%H", "--", f"nsprov/model/kinds/{PROOF_KIND}.py").split()
    assert added, f"no commit adds nsprov/model/kinds/{PROOF_KIND}.py"
    files = _git("show", "--name-only", "--format=", added[-1]).split()
    patterns = [p.replace("<kind>", PROOF_KIND) for p in readme_recipe()]
    assert [f for f in files if not any(fnmatch(f, p) for p in patterns)] == [], "touched, not in the README"
    assert [p for p in patterns if not any(fnmatch(f, p) for f in files)] == [], "in the README, not touched"
    # and the change adds no engine, kernel or op code: a kind is its own files
    assert not [f for f in files if f.startswith(("nsprov/agent/kernel/", "nsprov/agent/engine", "nsprov/agent/ops"))]


def test_control_the_recipe_check_sees_a_file_the_readme_does_not_list():
    from fnmatch import fnmatch
    patterns = [p.replace("<kind>", PROOF_KIND) for p in readme_recipe()]
    assert not any(fnmatch("nsprov/agent/ops.py", p) for p in patterns)
    assert any(fnmatch(f"tests/data/plans/{PROOF_KIND}_absent_is_deleted.json", p) for p in patterns)


EXAMPLES = [(kind.name, name) for kind in KINDS for name, param in kind.params.items()]


@pytest.mark.parametrize("kind,param", EXAMPLES)
def test_every_parameter_checks_to_itself(kind, param):
    """The agent checks a task's parameters again: a checked value must check to itself (a rate
    of 20mbit checked to 20000000, read again as Mbit/s, was out of range)."""
    spec = MODULES[kind].params[param]
    once = spec.type.check(spec.example)
    assert spec.type.check(once) == once


def test_control_a_check_that_is_not_stable_is_seen():
    from nsprov.model import types as t
    unstable = t.Type("Mbit/s", lambda v: float(str(v).rstrip("mbit")) * 10 ** 6, None, "20mbit")
    once = unstable.check(unstable.example)
    assert unstable.check(once) != once


def _task_with(kind, param: str) -> dict:
    """A task of KIND with its required parameters at their examples, and PARAM at its example."""
    out = {name: spec.example for name, spec in kind.params.items() if spec.required}
    out[param] = kind.params[param].example
    return out


@pytest.mark.parametrize("kind,param", EXAMPLES)
def test_a_validated_task_validates_to_itself(kind, param):
    """The agent validates what the controller validated: the same parameters, the same verdict
    (resolv: {} checked to {nameservers: [], ...}, which the agent then took as declared)."""
    k = MODULES[kind]
    once, problems = k.validate(_task_with(k, param))
    again, problems_again = k.validate(once)
    assert again == once and problems_again == problems


@pytest.mark.parametrize("kind,param", EXAMPLES)
def test_a_bad_value_is_a_problem_never_a_crash(kind, param):
    """Each kind's cross-field rules see the default where a value was refused (route's rule read
    an invalid `to` as None and raised TypeError: the run died with a traceback, not exit 2)."""
    k = MODULES[kind]
    for bad in ({"x": 1}, [object], "", -1, "::", "10.0.0.0/33", True):
        task = {name: spec.example for name, spec in k.params.items()}   # every other value set
        task[param] = bad
        k.validate(task)          # problems, or none: never an exception


@pytest.mark.parametrize("entry, problem", [
    ({"from": "a", "to": "10.0.0.2"}, "via is a list"),
    ({"from": "a", "to": "10.0.0.2", "via": []}, "via is a list"),
    ({"from": "a", "to": "10.0.0.2", "via": ["10.0.0.300"]}, "10.0.0.300"),
    ({"from": "a", "to": "10.0.0.2", "via": ["10.0.0.1"], "max_hops": 0}, "max_hops 0"),
    ({"from": "a", "to": "10.0.0.2", "via": ["10.0.0.1"], "hops": 3}, "each entry needs"),
])
def test_a_path_check_names_what_is_wrong_with_it(entry, problem):
    _, problems = validate_params("verify", {"path": [entry]})
    assert problems[0][0] == "path" and problem in problems[0][1], problems


def test_a_path_check_takes_addresses_in_order_and_sixteen_hops_by_default():
    params, problems = validate_params("verify", {"path": [{"from": "a", "to": "fd00::2", "via": ["10.0.0.1", "fd00::1"]}]})
    assert problems == [] and params["path"] == [{"from": "a", "to": "fd00::2", "via": ["10.0.0.1", "fd00::1"],
                                                  "max_hops": 16}]
