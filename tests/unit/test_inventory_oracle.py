"""nsprov's inventories against ansible-core itself as the oracle: the inventories of Ansible's
own test suite (tests/data/inventories/ansible_tests, sources in its SOURCES.md), and generated
ones (groups, children, ranges, vars of every YAML and INI type, group_vars/ and host_vars/
files and folders), each compared with what `ansible-inventory --list` and `--graph` print.

ansible-inventory starts in ~1 s; the oracle here imports it once and forks a child per
question (~0.1 s), so a hundred generated inventories stay within seconds."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nsprov.controller.inventory_files import load_inventory
from nsprov.controller.yamlsrc import InputError

ANSIBLE_TESTS = Path(__file__).parent.parent / "data" / "inventories" / "ansible_tests"

_SERVER = textwrap.dedent("""\
    import contextlib, io, json, os, sys
    os.environ["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "1"
    from ansible.cli.inventory import InventoryCLI
    for line in sys.stdin:
        req = json.loads(line)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:          # a child per question: ansible keeps global state between runs
            os.close(r)
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                    argv = ["ansible-inventory"] + sum([["-i", p] for p in req["sources"]], []) + [req["mode"]]
                    code = InventoryCLI(argv).run()
            except SystemExit as e:
                code = e.code
            except BaseException as e:
                code = type(e).__name__ + ": " + str(e)
            os.write(w, json.dumps({"code": code, "out": out.getvalue()}).encode())
            os._exit(0)
        os.close(w)
        data = b""
        chunk = os.read(r, 65536)
        while chunk:
            data += chunk
            chunk = os.read(r, 65536)
        os.close(r)
        os.waitpid(pid, 0)
        sys.stdout.write(data.decode() + "\\n")
        sys.stdout.flush()
""")


class Oracle:
    def __init__(self):
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "ANSIBLE_LOCAL_TEMP": "/tmp", "LC_ALL": "C.UTF-8"}
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)

    def ask(self, sources: list, mode: str) -> dict:
        self.proc.stdin.write(json.dumps({"sources": [str(s) for s in sources], "mode": mode}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def oracle():
    o = Oracle()
    yield o
    o.close()


def untagged(value):
    """Ansible's JSON marks text it does not trust as {"__ansible_unsafe": TEXT} (bytes
    literals in INI, for one); the value is the text."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: untagged(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untagged(v) for v in value]
    return value


def ours(sources: list) -> tuple:
    """(--list as parsed JSON, --graph text) as `nsprov inventory list` prints them, or the InputError."""
    from nsprov.controller.inventory import _json_keys
    try:
        inv = load_inventory([str(s) for s in sources])
    except InputError as exc:
        return exc, None
    listed = json.loads(json.dumps(_json_keys(inv.as_ansible_list()), sort_keys=True, ensure_ascii=False))
    return listed, inv.graph()


def assert_same(oracle, sources: list) -> None:
    """The same listing and graph, or both refuse the inventory."""
    theirs = oracle.ask(sources, "--list")
    listed, graph = ours(sources)
    if theirs["code"] != 0:
        assert isinstance(listed, InputError), f"ansible refuses ({theirs['code']}), nsprov does not"
        return
    assert not isinstance(listed, InputError), listed
    assert listed == untagged(json.loads(theirs["out"]))
    assert graph == oracle.ask(sources, "--graph")["out"].strip()


# ------------------------------------------------------------------ Ansible's own inventories
FILES = sorted(p.relative_to(ANSIBLE_TESTS).as_posix() for p in ANSIBLE_TESTS.rglob("*")
               if p.is_file() and p.name != "SOURCES.md" and "host_vars" not in p.parts)
REFUSED = {"inventory_yaml_int_hostname.yml"}   # a host name that is a number: both refuse it


def test_the_ansible_test_inventories_are_all_here():
    listed = (ANSIBLE_TESTS / "SOURCES.md").read_text()
    assert len(FILES) >= 15 and all(f.split("/")[0] in listed for f in FILES)


@pytest.mark.parametrize("name", sorted(set(FILES) - REFUSED))
def test_ansible_test_inventories_mean_what_ansible_means(oracle, name):
    assert_same(oracle, [ANSIBLE_TESTS / name])


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_ansible_refuses_nsprov_refuses(oracle, name):
    assert oracle.ask([ANSIBLE_TESTS / name], "--list")["code"] != 0
    problem, _ = ours([ANSIBLE_TESTS / name])
    assert isinstance(problem, InputError) and "must be a string" in str(problem)


def test_the_ini_types_inventory_loads_without_a_warning():
    """Its `host-01.internal` makes Python warn about an invalid decimal literal."""
    proc = subprocess.run([sys.executable, "-W", "error", "-c",
                           "from nsprov.controller.inventory_files import load_inventory; import sys; "
                           "load_inventory([sys.argv[1]])", str(ANSIBLE_TESTS / "inventory_ini_types.ini")],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


# ------------------------------------------------------------------ generated inventories
GROUPS = ["web", "db", "app", "edge", "lab_a", "lab-b"]
HOSTS = ["h1", "h2", "h3", "web1", "db01", "r[1:3]", "n[01:02]", "x[a:c]", "[1:2].ex", "s[:1]", "m[0:4:2]"]
NAMES = st.sampled_from(["a", "b", "port", "nested", "ansible_user", "ansible_group_priority", "x_1"])
KEYS = st.one_of(NAMES, st.integers(0, 2))       # YAML keys that are numbers: Ansible reports them as text
SCALARS = st.one_of(st.integers(-5, 5000), st.booleans(), st.none(), st.floats(-10, 10, allow_nan=False).map(
    lambda f: round(f, 3)), st.sampled_from(["yes", "no", "1.0", "host-01.internal", "příbor", "", "a b", "0x10"]),
    st.text(alphabet="abcxyz_-.", min_size=1, max_size=6))
YAML_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(KEYS, inner, max_size=3)), max_leaves=6)
INI_TEXT = st.one_of(st.integers(-5, 5000).map(str), st.sampled_from(
    ["True", "False", "None", "yes", "no", "1.5", "'quoted'", '"double"', "[1, 2]", "{'k': 'v'}", "(1, 2)",
     "host-01.internal", "plain", "a,b", "1j", "..."]))


@st.composite
def inventories(draw) -> dict:
    """A random inventory as data: groups (a DAG: a group's parents come before it), hosts per
    group with vars, group vars, and what goes in group_vars/ and host_vars/."""
    groups = draw(st.lists(st.sampled_from(GROUPS), unique=True, max_size=5))
    parents = {g: [p for p in groups[:i] if draw(st.booleans())] for i, g in enumerate(groups)}
    hosts = {g: draw(st.lists(st.sampled_from(HOSTS), unique=True, max_size=3)) for g in ["all", *groups]}
    fmt = draw(st.sampled_from(["yaml", "ini"]))
    values, names = (YAML_VALUES, KEYS) if fmt == "yaml" else (INI_TEXT, NAMES)
    host_vars = {h: draw(st.dictionaries(names, values, max_size=2)) for g in hosts for h in hosts[g]}
    group_vars = {g: draw(st.dictionaries(names, values, max_size=3)) for g in ["all", *groups]}
    files = {}
    for target in ["all", *groups, "h1", "web1"]:
        how = draw(st.sampled_from(["none", "file", "folder"]))
        if how != "none":
            files[target] = (how, draw(st.dictionaries(NAMES, YAML_VALUES, min_size=1, max_size=2)))
    return {"format": fmt, "groups": groups, "parents": parents, "hosts": hosts, "host_vars": host_vars,
            "group_vars": group_vars, "files": files}


def _priority_ok(vars_: dict) -> dict:
    """ansible_group_priority must be a number to Ansible; keep it one where it is drawn."""
    return {k: (v if k != "ansible_group_priority" else 3) for k, v in vars_.items()}


def write_yaml(spec: dict, path: Path) -> None:
    def group(name: str) -> dict:
        out: dict = {}
        if spec["hosts"][name]:
            out["hosts"] = {h: (spec["host_vars"][h] or None) for h in spec["hosts"][name]}
        if spec["group_vars"][name]:
            out["vars"] = _priority_ok(spec["group_vars"][name])
        kids = [g for g in spec["groups"] if name in spec["parents"][g] or (name == "all" and not spec["parents"][g])]
        if kids:
            out["children"] = {k: group(k) or None for k in kids}
        return out
    path.write_text(yaml.safe_dump({"all": group("all")}, allow_unicode=True, sort_keys=False))


def write_ini(spec: dict, path: Path) -> None:
    lines = []
    for name in ["all", *spec["groups"]]:
        if spec["hosts"][name] or name != "all":
            lines.append(f"[{name}]")
            lines += [" ".join([h, *(f"{k}={shlex.quote(v)}" for k, v in spec["host_vars"][h].items())])
                      for h in spec["hosts"][name]]
        if spec["group_vars"][name]:
            lines.append(f"[{name}:vars]")
            lines += [f"{k}={v}" for k, v in _priority_ok(spec["group_vars"][name]).items()]
    for name in spec["groups"]:
        kids = [g for g in spec["groups"] if name in spec["parents"][g]]
        if kids:
            lines += [f"[{name}:children]", *kids]
    path.write_text("\n".join(lines) + "\n")


def write_files(spec: dict, base: Path) -> None:
    for target, (how, data) in spec["files"].items():
        kind = "host_vars" if target in ("h1", "web1") else "group_vars"
        if how == "file":
            (base / kind).mkdir(exist_ok=True)
            (base / kind / f"{target}.yml").write_text(yaml.safe_dump(_priority_ok(data), allow_unicode=True))
        else:
            (base / kind / target).mkdir(parents=True, exist_ok=True)
            items = list(_priority_ok(data).items())
            (base / kind / target / "a.yml").write_text(yaml.safe_dump(dict(items[:1]), allow_unicode=True))
            (base / kind / target / "b.yaml").write_text(yaml.safe_dump(dict(items[1:]) or {"z": 1}))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(spec=inventories())
def test_generated_inventories_mean_what_ansible_means(oracle, tmp_path_factory, spec):
    base = tmp_path_factory.mktemp("inv")
    path = base / ("inventory.yml" if spec["format"] == "yaml" else "inventory.ini")
    (write_yaml if spec["format"] == "yaml" else write_ini)(spec, path)
    write_files(spec, base)
    assert_same(oracle, [path])


def test_the_oracle_can_tell_a_difference(oracle, tmp_path):
    """Control: the comparison fails where the meanings differ (a var changed on our side)."""
    path = tmp_path / "inv.ini"
    path.write_text("[web]\nh1 a=1\n")
    theirs = json.loads(oracle.ask([path], "--list")["out"])
    listed, _ = ours([path])
    assert listed == theirs
    path.write_text("[web]\nh1 a=2\n")
    assert ours([path])[0] != theirs
