"""Ansible-compatible inventories: YAML and INI files, host ranges, group_vars/ and host_vars/.

The result means the same thing to nsprov and to Ansible: `as_ansible_list()` and `graph()`
print what `ansible-inventory --list` / `--graph` print (tested against ansible-core itself).

Variable precedence, lowest first (Ansible's documented order for inventory variables):
group vars from inventory files < group_vars/ files < host vars from inventory files <
host_vars/ files. Within each level groups apply by (depth, ansible_group_priority, name), so a
child group beats its parent and `all` loses to everything.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from nsprov.controller.yamlsrc import InputError, MarkedDict, Problem, load_yaml, plain, read_input

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
GROUP_KEYS = {"hosts", "vars", "children"}
_RANGE = re.compile(r"^(.*?)\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::([0-9]+))?\](.*)$")
_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass
class Group:
    name: str
    vars: dict = field(default_factory=dict)           # from inventory files
    file_vars: dict = field(default_factory=dict)      # from group_vars/
    hosts: list[str] = field(default_factory=list)     # direct members, in order of appearance
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    depth: int = 0

    @property
    def priority(self) -> int:
        try:
            return int({**self.vars, **self.file_vars}.get("ansible_group_priority", 1))
        except (TypeError, ValueError):
            return 1


@dataclass
class Host:
    name: str
    vars: dict = field(default_factory=dict)           # from inventory files
    file_vars: dict = field(default_factory=dict)      # from host_vars/
    groups: list[str] = field(default_factory=list)    # direct groups


@dataclass(frozen=True)
class Connection:
    """How to reach one host, from its merged variables."""
    name: str
    address: str
    port: Optional[int]
    user: Optional[str]
    key_file: Optional[str]
    password: Optional[str]
    become: bool
    become_user: str
    become_password: Optional[str]
    known_hosts: Optional[str]
    python: str

    def __repr__(self) -> str:   # never print secrets
        return f"Connection({self.name!r}, {self.user or ''}@{self.address}:{self.port or 22}, become={self.become})"


class Inventory:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, Host] = {}
        self.add_group("all")
        self.add_group("ungrouped")
        self.add_child("all", "ungrouped")

    # ------------------------------------------------------------ building
    def add_group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def add_host(self, name: str, group: Optional[str] = None) -> Host:
        host = self.hosts.setdefault(name, Host(name))
        group = group or "all"
        self.add_group(group)
        if name not in self.groups[group].hosts:
            self.groups[group].hosts.append(name)
        if group not in host.groups:
            host.groups.append(group)
        return host

    def add_child(self, parent: str, child: str) -> None:
        p, c = self.add_group(parent), self.add_group(child)
        if child not in p.children:
            p.children.append(child)
        if parent not in c.parents:
            c.parents.append(parent)
        self._deepen(c, p.depth + 1)

    def _deepen(self, group: Group, depth: int, seen: Optional[set] = None) -> None:
        seen = seen or set()
        if group.name in seen:
            raise InputError([Problem("", 0, group.name, "group is its own ancestor (a cycle in children)")])
        if depth > group.depth:
            group.depth = depth
        for child in group.children:
            self._deepen(self.groups[child], group.depth + 1, seen | {group.name})

    def reconcile(self) -> None:
        """What Ansible does after parsing: orphan groups under `all`, lone hosts in `ungrouped`."""
        for g in list(self.groups.values()):
            if g.name not in ("all", "ungrouped") and not g.parents:
                self.add_child("all", g.name)
        ungrouped = self.groups["ungrouped"]
        for h in self.hosts.values():
            others = [g for g in h.groups if g not in ("all", "ungrouped")]
            if others and "ungrouped" in h.groups:
                h.groups.remove("ungrouped")
                ungrouped.hosts.remove(h.name)
            elif not others and "ungrouped" not in h.groups:
                h.groups.append("ungrouped")
                ungrouped.hosts.append(h.name)

    # ------------------------------------------------------------ reading
    def ancestors(self, group: str) -> list[str]:
        out: list[str] = []
        stack = list(self.groups[group].parents)
        while stack:
            g = stack.pop()
            if g not in out:
                out.append(g)
                stack.extend(self.groups[g].parents)
        return out

    def groups_of(self, host: str) -> list[Group]:
        """Direct groups and their ancestors, sorted the way Ansible applies their vars."""
        names = set()
        for g in self.hosts[host].groups:
            names.add(g)
            names.update(self.ancestors(g))
        names.add("all")
        return sorted((self.groups[n] for n in names), key=lambda g: (g.depth, g.priority, g.name))

    def host_vars(self, host: str) -> dict:
        merged: dict = {}
        groups = self.groups_of(host)
        for g in groups:
            merged.update(g.vars)
        for g in groups:
            merged.update(g.file_vars)
        merged.update(self.hosts[host].vars)
        merged.update(self.hosts[host].file_vars)
        merged.pop("ansible_group_priority", None)   # consumed by Ansible, not a host variable
        return merged

    def group_hosts(self, group: str) -> list[str]:
        """Every host in a group or its descendants, in inventory order."""
        seen: list[str] = []

        def walk(name: str) -> None:
            g = self.groups[name]
            for h in g.hosts:
                if h not in seen:
                    seen.append(h)
            for c in g.children:
                walk(c)
        walk(group)
        if group == "all":
            seen += [h for h in self.hosts if h not in seen]
        return seen

    def connection(self, host: str) -> Connection:
        v = self.host_vars(host)

        def opt(*keys: str) -> Any:
            for k in keys:
                if v.get(k) not in (None, ""):
                    return v[k]
            return None
        port = opt("ansible_port", "ansible_ssh_port")
        try:
            port = int(port) if port is not None else None
            if port is not None and not 1 <= port <= 65535:
                raise ValueError
        except (TypeError, ValueError):
            raise InputError([Problem("inventory", 0, f"{host}.ansible_port", f"invalid port {port!r}")]) from None
        return Connection(
            name=host,
            address=str(opt("ansible_host", "ansible_ssh_host") or host),
            port=port,
            user=opt("ansible_user", "ansible_ssh_user"),
            key_file=opt("ansible_ssh_private_key_file", "ansible_private_key_file"),
            password=opt("ansible_password", "ansible_ssh_pass"),
            become=_truthy(opt("ansible_become")),
            become_user=str(opt("ansible_become_user") or "root"),
            become_password=opt("ansible_become_password", "ansible_become_pass"),
            known_hosts=opt("nsprov_known_hosts"),
            python=str(opt("ansible_python_interpreter") or "python3"),
        )

    # ------------------------------------------------------------ Ansible's views
    def as_ansible_list(self) -> dict:
        """The structure `ansible-inventory --list` prints."""
        out: dict = {"_meta": {"hostvars": {}, "profile": "inventory_legacy"}}

        def fmt(name: str, seen: set) -> None:
            g = self.groups[name]
            entry: dict = {}
            if name != "all" and g.hosts:
                entry["hosts"] = list(g.hosts)
            if g.children:
                entry["children"] = list(g.children)
            if entry:
                out[name] = entry
            for c in g.children:
                if c not in seen:
                    seen.add(c)
                    fmt(c, seen)
        fmt("all", {"all"})
        for h in self.group_hosts("all"):
            hv = self.host_vars(h)
            if hv:
                out["_meta"]["hostvars"][h] = hv
        return out

    def graph(self, group: str = "all") -> str:
        lines = [f"@{group}:"]

        def walk(name: str, depth: int) -> None:
            g = self.groups[name]
            for c in g.children:
                lines.append(f"{'  |' * depth}--@{c}:")
                walk(c, depth + 1)
            for h in g.hosts if name != "all" else []:
                lines.append(f"{'  |' * depth}--{h}")
        walk(group, 1)
        return "\n".join(lines)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


# ------------------------------------------------------------------ host ranges
def expand_hostname_range(pattern: str) -> list[str]:
    """`web[01:03]` → web01 web02 web03; `db-[a:c]`; `x[1:9:4]`; several ranges multiply."""
    m = _RANGE.match(pattern)
    if not m:
        return [pattern]
    head, start, end, step, tail = m.groups()
    step_n = int(step) if step else 1
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        a, b = int(start), int(end)
        if a > b or step_n < 1:
            raise ValueError(f"range [{start}:{end}] is empty or backwards")
        values = [f"{i:0{width}d}" for i in range(a, b + 1, step_n)]
    elif len(start) == 1 and len(end) == 1 and start.isalpha() and end.isalpha():
        if start > end or step_n < 1:
            raise ValueError(f"range [{start}:{end}] is empty or backwards")
        values = [chr(c) for c in range(ord(start), ord(end) + 1, step_n)]
    else:
        raise ValueError(f"invalid range [{start}:{end}]: use numbers or single letters")
    return [name for v in values for name in expand_hostname_range(f"{head}{v}{tail}")]


# ------------------------------------------------------------------ YAML inventories
def _load_yaml_inventory(inv: Inventory, path: Path, problems: list[Problem]) -> None:
    data = load_yaml(path)
    if data is None:
        return
    if not isinstance(data, dict):
        problems.append(Problem(str(path), getattr(data, "line", 0), "", "an inventory must be a mapping of groups"))
        return
    for gname, gdata in data.items():
        _yaml_group(inv, path, gname, gdata, data.line_of(gname), None, problems, gname)


def _yaml_group(inv: Inventory, path: Path, name: Any, data: Any, line: int, parent: Optional[str],
                problems: list[Problem], where: str) -> None:
    if not isinstance(name, str) or not _GROUP_NAME.match(name):
        problems.append(Problem(str(path), line, where, f"invalid group name {name!r}"))
        return
    inv.add_group(name)
    if parent is not None:
        inv.add_child(parent, name)
    if data is None:
        return
    if not isinstance(data, dict):
        problems.append(Problem(str(path), line, where, "a group must be a mapping with hosts, vars or children"))
        return
    for key in data:
        if key not in GROUP_KEYS:
            problems.append(Problem(str(path), data.line_of(key), f"{where}.{key}",
                                    f"unknown group key (expected one of: {', '.join(sorted(GROUP_KEYS))})"))
    gvars = data.get("vars")
    if gvars is not None:
        if isinstance(gvars, dict):
            inv.groups[name].vars.update(plain(gvars))
        else:
            problems.append(Problem(str(path), data.line_of("vars"), f"{where}.vars", "vars must be a mapping"))
    hosts = data.get("hosts")
    if hosts is not None:
        if not isinstance(hosts, dict):
            problems.append(Problem(str(path), data.line_of("hosts"), f"{where}.hosts",
                                    "hosts must be a mapping of host names (each with its vars or nothing)"))
        else:
            for hpat, hvars in hosts.items():
                hline = hosts.line_of(hpat)
                try:
                    names = expand_hostname_range(str(hpat))
                except ValueError as exc:
                    problems.append(Problem(str(path), hline, f"{where}.hosts.{hpat}", str(exc)))
                    continue
                if hvars is not None and not isinstance(hvars, dict):
                    problems.append(Problem(str(path), hline, f"{where}.hosts.{hpat}", "host vars must be a mapping"))
                    continue
                for hname in names:
                    inv.add_host(hname, name).vars.update(plain(hvars or {}))
    children = data.get("children")
    if children is not None:
        if not isinstance(children, dict):
            problems.append(Problem(str(path), data.line_of("children"), f"{where}.children",
                                    "children must be a mapping of groups"))
        else:
            for cname, cdata in children.items():
                _yaml_group(inv, path, cname, cdata, children.line_of(cname), name, problems,
                            f"{where}.children.{cname}")


# ------------------------------------------------------------------ INI inventories
def _ini_value(text: str) -> Any:
    """A value the way Ansible's INI parser reads it: a Python literal if it is one, else the
    text. Python's own warnings about odd literals (`1if`) never reach the user."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return text


def _ini_pairs(tokens: Iterable[str], path: Path, lineno: int, problems: list[Problem]) -> dict:
    out = {}
    for tok in tokens:
        if "=" not in tok:
            problems.append(Problem(str(path), lineno, tok, "expected key=value"))
            continue
        k, v = tok.split("=", 1)
        out[k] = _ini_value(v)
    return out


def _load_ini_inventory(inv: Inventory, path: Path, problems: list[Problem]) -> None:
    """Ansible's INI format. A group named in [x:children] or given [x:vars] must be declared
    somewhere in the file ([x] or [x:children]); children wait for that declaration."""
    try:
        text = read_input(path)
    except InputError as exc:
        problems.extend(exc.problems)
        return
    group, kind = "ungrouped", "hosts"
    pending: dict[str, dict] = {}     # group -> {"kind": "children"|"vars", "line", "parents"}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            m = re.match(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$", line)
            if not m:
                problems.append(Problem(str(path), lineno, "", f"invalid section header {line!r}"))
                kind = "invalid"
                continue
            group, kind = m.group(1), m.group(2) or "hosts"
            if kind not in ("hosts", "vars", "children"):
                problems.append(Problem(str(path), lineno, f"[{group}:{kind}]", f"unknown section type {kind!r}"))
                kind = "invalid"
                continue
            if not _GROUP_NAME.match(group):
                problems.append(Problem(str(path), lineno, f"[{group}]", f"invalid group name {group!r}"))
                kind = "invalid"
                continue
            if kind == "vars" and group not in inv.groups and group not in pending:
                pending[group] = {"kind": "vars", "line": lineno, "parents": []}
            inv.add_group(group)
            if kind != "vars" and group in pending:
                for parent in pending.pop(group)["parents"]:
                    inv.add_child(parent, group)
            continue
        if kind == "invalid":
            continue
        if kind == "vars":
            if "=" not in line:
                problems.append(Problem(str(path), lineno, f"[{group}:vars]", f"expected key=value, got {line!r}"))
                continue
            k, v = (e.strip() for e in line.split("=", 1))
            inv.groups[group].vars[k] = _ini_value(v)
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            problems.append(Problem(str(path), lineno, "", f"cannot parse line: {exc}"))
            continue
        if not tokens:
            continue
        if kind == "children":
            child = tokens[0]
            if not _GROUP_NAME.match(child):
                problems.append(Problem(str(path), lineno, f"[{group}:children]", f"invalid group name {child!r}"))
            elif child in inv.groups and pending.get(child, {}).get("kind") != "vars":
                inv.add_child(group, child)
            else:
                entry = pending.setdefault(child, {"kind": "children", "line": lineno, "parents": []})
                entry["kind"] = "children"
                entry["parents"].append(group)
            continue
        hpat, hvars = tokens[0], _ini_pairs(tokens[1:], path, lineno, problems)
        m = re.match(r"^(.+):(\d+)$", hpat)
        if m and m.group(1).count("[") == m.group(1).count("]"):
            hpat, hvars = m.group(1), {"ansible_port": int(m.group(2)), **hvars}
        try:
            names = expand_hostname_range(hpat)
        except ValueError as exc:
            problems.append(Problem(str(path), lineno, hpat, str(exc)))
            continue
        for hname in names:
            inv.add_host(hname, None if group == "ungrouped" else group).vars.update(hvars)
    for name, decl in pending.items():
        if decl["kind"] == "children":
            problems.append(Problem(str(path), decl["line"], f"[{decl['parents'][0]}:children]",
                                    f"includes undefined group {name!r} (declare it with a [{name}] section)"))
        else:
            problems.append(Problem(str(path), decl["line"], f"[{name}:vars]",
                                    f"vars for undefined group {name!r} (declare it with a [{name}] section)"))


# ------------------------------------------------------------------ vars directories
def _vars_files(directory: Path, name: str) -> list[Path]:
    """group_vars/NAME(.yml|.yaml|.json) and every file under group_vars/NAME/, sorted."""
    found = []
    for ext in ("", *YAML_EXTENSIONS):
        p = directory / f"{name}{ext}"
        if p.is_file():
            found.append(p)
    d = directory / name
    if d.is_dir():
        found += sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith(".")
                        and (p.suffix in YAML_EXTENSIONS or p.suffix == ""))
    return found


def _load_vars_dirs(inv: Inventory, base: Path, problems: list[Problem]) -> None:
    for kind, names in (("group_vars", list(inv.groups)), ("host_vars", list(inv.hosts))):
        directory = base / kind
        if not directory.is_dir():
            continue
        for name in names:
            for f in _vars_files(directory, name):
                try:
                    data = load_yaml(f)
                except InputError as exc:
                    problems.extend(exc.problems)
                    continue
                if data is None:
                    continue
                if not isinstance(data, dict):
                    problems.append(Problem(str(f), getattr(data, "line", 1), "", "a vars file must be a mapping"))
                    continue
                target = inv.groups[name] if kind == "group_vars" else inv.hosts[name]
                target.file_vars.update(plain(data))


# ------------------------------------------------------------------ entry point
def load_inventory(sources: Iterable[str]) -> Inventory:
    """Load one or more inventory sources (files, directories, or 'h1,h2,' host lists).

    Raises InputError listing every problem with file:line.
    """
    inv = Inventory()
    problems: list[Problem] = []
    bases: list[Path] = []
    for source in sources:
        path = Path(source).expanduser()
        if not path.exists():
            if "," in source:
                for h in (x.strip() for x in source.split(",")):
                    if h:
                        inv.add_host(h)
                continue
            problems.append(Problem(source, 0, "", "inventory not found"))
            continue
        files = [path] if path.is_file() else sorted(
            p for p in path.iterdir()
            if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".retry", ".pyc", "~")))
        for f in files:
            (_load_yaml_inventory if f.suffix in YAML_EXTENSIONS else _load_ini_inventory)(inv, f, problems)
        bases.append(path.parent if path.is_file() else path)
    try:
        inv.reconcile()
    except InputError as exc:
        problems.extend(exc.problems)
    for base in bases:
        _load_vars_dirs(inv, base, problems)
    if problems:
        raise InputError(problems)
    return inv
