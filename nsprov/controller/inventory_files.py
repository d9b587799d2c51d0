"""Reading inventories from files: Ansible's YAML and INI formats, host ranges, and the
group_vars/ and host_vars/ directories beside them. What they build is an Inventory
(inventory.py); every problem is reported at once with file:line.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import string
import warnings
from pathlib import Path
from typing import Any, Iterable, Optional

from nsprov.controller.inventory import GROUP_NAME, Inventory
from nsprov.controller.yamlsrc import InputError, MarkedDict, Problem, load_yaml, plain, read_input

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
GROUP_KEYS = {"hosts", "vars", "children"}


# ------------------------------------------------------------------ host ranges
def expand_hostname_range(pattern: str) -> list[str]:
    """`web[01:03]` → web01 web02 web03; `db-[a:c]`; `x[1:9:4]`; `h[:2]` (from 0); several
    ranges multiply; a range may start the name (`[1:3].example`). As Ansible's own
    expand_hostname_range, except that a backwards range (`[5:1]`) is an error here, where
    Ansible silently makes no host."""
    if "[" not in pattern:
        return [pattern]
    head, rest = pattern.split("[", 1)
    if "]" not in rest:
        raise ValueError(f"range in {pattern!r} is not closed with ']'")
    spec, tail = rest.split("]", 1)
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise ValueError(f"host range [{spec}] must be begin:end or begin:end:step")
    start, end = bounds[0] or "0", bounds[1]
    if not end:
        raise ValueError(f"host range [{spec}] must have an end")
    if len(bounds) == 3 and not (bounds[2].isdigit() and int(bounds[2]) > 0):
        raise ValueError(f"host range [{spec}]: the step must be a whole number above 0")
    step = int(bounds[2]) if len(bounds) == 3 else 1
    if start in string.ascii_letters and end in string.ascii_letters and len(start) == len(end) == 1:
        a, b = string.ascii_letters.index(start), string.ascii_letters.index(end)
        if a > b:
            raise ValueError(f"host range [{spec}] is backwards")
        values = list(string.ascii_letters[a:b + 1:step])
    elif start.isdigit() and end.isdigit():
        width = len(start) if start[0] == "0" and len(start) > 1 else 0
        if width and width != len(end):
            raise ValueError(f"host range [{spec}]: a zero-padded begin needs an end of the same width")
        if int(start) > int(end):
            raise ValueError(f"host range [{spec}] is backwards")
        values = [str(i).zfill(width) for i in range(int(start), int(end) + 1, step)]
    else:
        raise ValueError(f"invalid host range [{spec}]: use numbers or single letters")
    return [name for v in values for name in expand_hostname_range(f"{head}{v}{tail}")]


def var_name(key: Any) -> str:
    """A variable's name as Ansible reports it: a YAML key that is not a string (`1:`, `2.5:`,
    `false:`) becomes the string JSON writes for it ("1", "2.5", "false")."""
    return key if isinstance(key, str) else json.dumps(key)


def variables(data: dict) -> dict:
    """A vars mapping from YAML: plain values, every name a string."""
    return {var_name(k): plain(v) for k, v in data.items()}


# ------------------------------------------------------------------ YAML inventories
class _YamlInventory:
    """One YAML inventory file, group by group."""

    def __init__(self, inv: Inventory, path: Path, problems: list):
        self.inv, self.path, self.problems = inv, path, problems

    def problem(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(str(self.path), line, where, message))

    def load(self) -> None:
        data = load_yaml(self.path)
        if data is None:
            return
        if not isinstance(data, dict):
            self.problem(getattr(data, "line", 0), "", "an inventory must be a mapping of groups")
            return
        for gname, gdata in data.items():
            self.group(gname, gdata, data.line_of(gname), None, gname)

    def group(self, name: Any, data: Any, line: int, parent: Optional[str], where: str) -> None:
        if not isinstance(name, str) or not GROUP_NAME.match(name):
            self.problem(line, where, f"invalid group name {name!r}")
            return
        self.inv.add_group(name)
        if parent is not None:
            self.inv.add_child(parent, name)
        if data is None:
            return
        if not isinstance(data, dict):
            self.problem(line, where, "a group must be a mapping with hosts, vars or children")
            return
        for key in data:
            if key not in GROUP_KEYS:
                self.problem(data.line_of(key), f"{where}.{key}",
                             f"unknown group key (expected one of: {', '.join(sorted(GROUP_KEYS))})")
        gvars = data.get("vars")
        if gvars is not None:
            if isinstance(gvars, dict):
                self.inv.groups[name].vars.update(variables(gvars))
            else:
                self.problem(data.line_of("vars"), f"{where}.vars", "vars must be a mapping")
        if data.get("hosts") is not None:
            self.hosts(name, data["hosts"], data.line_of("hosts"), where)
        children = data.get("children")
        if children is not None:
            if not isinstance(children, dict):
                self.problem(data.line_of("children"), f"{where}.children", "children must be a mapping of groups")
            else:
                for cname, cdata in children.items():
                    self.group(cname, cdata, children.line_of(cname), name, f"{where}.children.{cname}")

    def hosts(self, group: str, hosts: Any, line: int, where: str) -> None:
        if isinstance(hosts, str):   # `hosts: web1`: one host, as Ansible reads it
            hosts = MarkedDict({hosts: None})
            hosts.line, hosts.key_lines = line, {}
        if not isinstance(hosts, dict):
            self.problem(line, f"{where}.hosts", f"hosts must be a mapping of host names (each with its vars or "
                                                 f"nothing), not a {'list' if isinstance(hosts, list) else type(hosts).__name__}")
            return
        for hpat, hvars in hosts.items():
            hline = hosts.line_of(hpat)
            if not isinstance(hpat, str):
                self.problem(hline, f"{where}.hosts.{hpat}", f"host name {hpat!r} must be a string: put integers and "
                                                             f"floats in quotes, as Ansible requires")
                continue
            try:
                names = expand_hostname_range(str(hpat))
            except ValueError as exc:
                self.problem(hline, f"{where}.hosts.{hpat}", str(exc))
                continue
            if hvars is not None and not isinstance(hvars, dict):
                self.problem(hline, f"{where}.hosts.{hpat}", "host vars must be a mapping")
                continue
            for hname in names:
                self.inv.add_host(hname, group).vars.update(variables(hvars or {}))


# ------------------------------------------------------------------ INI inventories
def _ini_value(text: str) -> Any:
    """A value the way Ansible's INI parser reads it: a Python literal if it is one, else the
    text; then what is no variable type made one (as Ansible's ini plugin does): tuples and
    sets become lists, bytes text, `...` and complex numbers their text. Python's own warnings
    about odd literals (`host-01.internal`) never reach the user."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return text
    return _variable_type(value)


def _variable_type(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_variable_type(v) for v in value]
    if isinstance(value, dict):
        return {k: _variable_type(v) for k, v in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")


class _IniInventory:
    """Ansible's INI format. A group named in [x:children] or given [x:vars] must be declared
    somewhere in the file ([x] or [x:children]); children wait for that declaration."""

    def __init__(self, inv: Inventory, path: Path, problems: list):
        self.inv, self.path, self.problems = inv, path, problems
        self.group, self.kind = "ungrouped", "hosts"
        self.pending: dict = {}     # group -> {"kind": "children"|"vars", "line", "parents"}

    def problem(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(str(self.path), line, where, message))

    def load(self) -> None:
        try:
            text = read_input(self.path)
        except InputError as exc:
            self.problems.extend(exc.problems)
            return
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and (line.endswith("]") or _SECTION.match(line)):
                self.header(line, lineno)
            elif self.kind == "vars":
                self.var(line, lineno)
            elif self.kind in ("hosts", "children"):
                self.entry(line, lineno)
        self.finish()

    def header(self, line: str, lineno: int) -> None:
        m = _SECTION.match(line)
        if not m:
            self.problem(lineno, "", f"invalid section header {line!r}")
            self.kind = "invalid"
            return
        group, kind = m.group(1), m.group(2) or "hosts"
        if kind not in ("hosts", "vars", "children"):
            self.problem(lineno, f"[{group}:{kind}]", f"unknown section type {kind!r}")
            self.kind = "invalid"
            return
        if not GROUP_NAME.match(group):
            self.problem(lineno, f"[{group}]", f"invalid group name {group!r}")
            self.kind = "invalid"
            return
        self.group, self.kind = group, kind
        if kind == "vars" and group not in self.inv.groups and group not in self.pending:
            self.pending[group] = {"kind": "vars", "line": lineno, "parents": []}
        self.inv.add_group(group)
        if kind != "vars" and group in self.pending:
            for parent in self.pending.pop(group)["parents"]:
                self.inv.add_child(parent, group)

    def var(self, line: str, lineno: int) -> None:
        if "=" not in line:
            self.problem(lineno, f"[{self.group}:vars]", f"expected key=value, got {line!r}")
            return
        k, v = (e.strip() for e in line.split("=", 1))
        self.inv.groups[self.group].vars[k] = _ini_value(v)

    def entry(self, line: str, lineno: int) -> None:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            self.problem(lineno, "", f"cannot parse line: {exc}")
            return
        if not tokens:
            return
        if self.kind == "children":
            self.child(tokens[0], lineno)
            return
        hpat, hvars = tokens[0], self.pairs(tokens[1:], lineno)
        m = re.match(r"^(.+):(\d+)$", hpat)
        if m and m.group(1).count("[") == m.group(1).count("]"):
            hpat, hvars = m.group(1), {"ansible_port": int(m.group(2)), **hvars}
        try:
            names = expand_hostname_range(hpat)
        except ValueError as exc:
            self.problem(lineno, hpat, str(exc))
            return
        for hname in names:
            self.inv.add_host(hname, None if self.group == "ungrouped" else self.group).vars.update(hvars)

    def child(self, child: str, lineno: int) -> None:
        if not GROUP_NAME.match(child):
            self.problem(lineno, f"[{self.group}:children]", f"invalid group name {child!r}")
        elif child in self.inv.groups and self.pending.get(child, {}).get("kind") != "vars":
            self.inv.add_child(self.group, child)
        else:
            entry = self.pending.setdefault(child, {"kind": "children", "line": lineno, "parents": []})
            entry["kind"] = "children"
            entry["parents"].append(self.group)

    def pairs(self, tokens: Iterable[str], lineno: int) -> dict:
        out = {}
        for tok in tokens:
            if "=" not in tok:
                self.problem(lineno, tok, "expected key=value")
                continue
            k, v = tok.split("=", 1)
            out[k] = _ini_value(v)
        return out

    def finish(self) -> None:
        for name, decl in self.pending.items():
            if decl["kind"] == "children":
                self.problem(decl["line"], f"[{decl['parents'][0]}:children]",
                             f"includes undefined group {name!r} (declare it with a [{name}] section)")
            else:
                self.problem(decl["line"], f"[{name}:vars]",
                             f"vars for undefined group {name!r} (declare it with a [{name}] section)")


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
                target.file_vars.update(variables(data))


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
            (_YamlInventory if f.suffix in YAML_EXTENSIONS else _IniInventory)(inv, f, problems).load()
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
