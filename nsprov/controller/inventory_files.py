"""Reading inventories from files: Ansible's YAML and INI formats, host ranges, and the
group_vars/ and host_vars/ directories beside them. What they build is an Inventory
(inventory.py); every problem is reported at once with file:line.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from pathlib import Path
from typing import Any, Iterable, Optional

from nsprov.controller.inventory import GROUP_NAME, Inventory
from nsprov.controller.yamlsrc import InputError, Problem, load_yaml, plain, read_input

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
GROUP_KEYS = {"hosts", "vars", "children"}
_RANGE = re.compile(r"^(.*?)\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::([0-9]+))?\](.*)$")


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
                self.inv.groups[name].vars.update(plain(gvars))
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
        if not isinstance(hosts, dict):
            self.problem(line, f"{where}.hosts", "hosts must be a mapping of host names (each with its vars or nothing)")
            return
        for hpat, hvars in hosts.items():
            hline = hosts.line_of(hpat)
            try:
                names = expand_hostname_range(str(hpat))
            except ValueError as exc:
                self.problem(hline, f"{where}.hosts.{hpat}", str(exc))
                continue
            if hvars is not None and not isinstance(hvars, dict):
                self.problem(hline, f"{where}.hosts.{hpat}", "host vars must be a mapping")
                continue
            for hname in names:
                self.inv.add_host(hname, group).vars.update(plain(hvars or {}))


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
            if line.startswith("["):
                self.header(line, lineno)
            elif self.kind == "vars":
                self.var(line, lineno)
            elif self.kind in ("hosts", "children"):
                self.entry(line, lineno)
        self.finish()

    def header(self, line: str, lineno: int) -> None:
        m = re.match(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$", line)
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
