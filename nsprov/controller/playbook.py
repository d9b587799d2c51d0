"""Playbooks, Ansible style: plays of tasks, each task exactly one module.

Two steps, both before any host is touched:
1. `load_playbook(path)`: the file's shape (plays, tasks, known keys, one module per task).
2. `resolve(playbook, inventory, ...)`: per host, variables and Jinja2 templates, `when`,
   `loop`, tags, then every module's parameters and the cross-task rules (netns declared,
   no duplicate names, no clashing addresses). Every problem comes back at once, with
   file:line and field; the result is plain data: one request body per host.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Optional

from nsprov.controller.inventory import Inventory
from nsprov.controller.patterns import PatternError, select_hosts
from nsprov.controller.templating import (TemplateError, Unfreezable, evaluate, frozen, names_evaluated,
                                          names_read, render)
from nsprov.controller.yamlsrc import InputError, MarkedDict, MarkedList, Problem, load_yaml, plain
from nsprov.model.schema import MODULES, object_name, validate_params

PLAY_KEYS = {"name", "hosts", "vars", "become", "tags", "tasks", "gather_facts"}
TASK_KEYS = {"name", "tags", "when", "loop", "register"}
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Task:
    name: Optional[str]
    module: str
    params: Any              # raw (MarkedDict), templated per host
    tags: tuple
    when: Any
    loop: Any
    register: Optional[str]
    line: int
    param_lines: dict
    key_lines: dict = field(default_factory=dict)   # where the task's own keys (when, loop...) are

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)

    @cached_property
    def reads(self) -> tuple:
        """(field, names its templates look up, or None where one does not parse) for the
        task's `when`, `loop`, `name` and module parameters; the same for every host."""
        return (("when", names_evaluated(self.when) if self.when is not None else frozenset()),
                ("loop", names_read(self.loop)), ("name", names_read(self.name)),
                (self.module, names_read(self.params)))

    @cached_property
    def names(self) -> Optional[tuple]:
        """All the names of `reads`, sorted, or None when a template does not parse."""
        parts = [names for _, names in self.reads]
        return None if any(p is None for p in parts) else tuple(sorted(frozenset().union(*parts)))


@dataclass(frozen=True)
class Play:
    name: str
    hosts: str
    vars: dict
    become: bool
    tags: tuple
    tasks: tuple
    line: int


@dataclass(frozen=True)
class Playbook:
    path: str
    plays: tuple

    @property
    def owner(self) -> str:
        """Who owns what this playbook creates on hosts (destroy removes exactly that)."""
        return Path(self.path).stem


def _tags(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list):
        return tuple(str(t) for t in value)
    raise ValueError(f"tags must be a string or a list, not {value!r}")


def _load_task(path: str, raw: Any, line: int, where: str, problems: list) -> Optional[Task]:
    if not isinstance(raw, dict):
        problems.append(Problem(path, line, where, "a task must be a mapping with one module"))
        return None
    modules = [k for k in raw if k not in TASK_KEYS]
    unknown = [k for k in modules if k not in MODULES]
    for k in unknown:
        problems.append(Problem(path, raw.line_of(k), f"{where}.{k}",
                                f"unknown module or task keyword (modules: {', '.join(sorted(MODULES))})"))
    known = [k for k in modules if k in MODULES]
    if len(known) != 1:
        if not unknown:
            problems.append(Problem(path, line, where, "a task needs exactly one module" if not known
                                    else f"a task takes one module, found {', '.join(known)}"))
        return None
    module = known[0]
    params = raw[module]
    try:
        tags = _tags(raw.get("tags"))
    except ValueError as exc:
        problems.append(Problem(path, raw.line_of("tags"), f"{where}.tags", str(exc)))
        tags = ()
    register = raw.get("register")
    if register is not None and not (isinstance(register, str) and _VARIABLE.match(register)):
        problems.append(Problem(path, raw.line_of("register"), f"{where}.register",
                                f"must be a variable name (letters, digits, _), not {register!r}"))
        register = None
    return Task(name=raw.get("name"), module=module, params=params, tags=tags, when=raw.get("when"),
                loop=raw.get("loop"), register=register, line=line,
                param_lines=dict(params.key_lines) if isinstance(params, MarkedDict) else {},
                key_lines=dict(raw.key_lines))


def load_playbook(path: str) -> Playbook:
    """The playbook, or InputError with every problem of its shape."""
    book, problems = load_playbook_lenient(path)
    if problems:
        raise InputError(problems)
    return book


def load_playbook_lenient(path: str) -> tuple[Playbook, list]:
    """The playbook's well-formed parts and the problems of the rest, so that resolving can
    report its own problems in the same breath. YAML syntax errors still raise."""
    data = load_yaml(Path(path))
    problems: list = []
    if not isinstance(data, list):
        raise InputError([Problem(path, getattr(data, "line", 1), "", "a playbook is a list of plays")])
    plays = []
    for i, raw in enumerate(data):
        where, line = f"play[{i}]", data.line_of(i)
        if not isinstance(raw, dict):
            problems.append(Problem(path, line, where, "a play must be a mapping"))
            continue
        for k in raw:
            if k not in PLAY_KEYS:
                problems.append(Problem(path, raw.line_of(k), f"{where}.{k}",
                                        f"unknown play keyword (expected one of: {', '.join(sorted(PLAY_KEYS))})"))
        if not isinstance(raw.get("hosts"), str) or not raw.get("hosts"):
            problems.append(Problem(path, raw.line_of("hosts"), f"{where}.hosts", "is required (a host pattern)"))
        pvars = raw.get("vars") or {}
        if not isinstance(pvars, dict):
            problems.append(Problem(path, raw.line_of("vars"), f"{where}.vars", "must be a mapping"))
            pvars = {}
        tasks_raw = raw.get("tasks") or []
        if not isinstance(tasks_raw, list):
            problems.append(Problem(path, raw.line_of("tasks"), f"{where}.tasks", "must be a list of tasks"))
            tasks_raw = MarkedList()
        tasks = []
        for j, t in enumerate(tasks_raw):
            task = _load_task(path, t, tasks_raw.line_of(j), f"{where}.tasks[{j}]", problems)
            if task is not None:
                tasks.append(task)
        try:
            ptags = _tags(raw.get("tags"))
        except ValueError as exc:
            problems.append(Problem(path, raw.line_of("tags"), f"{where}.tags", str(exc)))
            ptags = ()
        plays.append(Play(name=str(raw.get("name") or raw.get("hosts") or f"play {i}"),
                          hosts=str(raw.get("hosts") or ""), vars=plain(pvars), become=bool(raw.get("become")),
                          tags=ptags, tasks=tuple(tasks), line=line))
    return Playbook(path=path, plays=tuple(plays)), problems


# ------------------------------------------------------------------ per-host resolution
@dataclass
class HostPlan:
    """What one host gets: the tasks of every play that targets it, in order, as plain data."""
    host: str
    become: bool = False
    tasks: list = field(default_factory=list)     # request task dicts
    labels: list = field(default_factory=list)    # (play name, task name) per task index
    sets: list = field(default_factory=list)      # declared namespace sets (for `nsprov verify`)
    assertions: list = field(default_factory=list)  # verify tasks' checks (for `nsprov verify`)
    registers: dict = field(default_factory=dict)   # task index -> its `register` name (--json shows it)


def _selected(tags: set, only: set, skip: set) -> bool:
    if "always" in tags and "always" not in skip:
        return True
    if only and not (tags & only) and "all" not in only:
        return False
    return not (tags & skip)


def _declared_objects(module: str, p: dict) -> list:
    """(kind, netns, name) of objects a present task creates, for duplicate detection."""
    if p.get("state", "present") != "present":
        return []
    if module == "netns":
        return [("netns", "", p["name"])]
    if module == "namespace":
        return [("namespace set", "", p["name"])] + ([("netns", "", p["name"])] if "net" in p["kinds"] else [])
    if module == "process":
        return [("process", "", p["name"])]
    if module == "bridge":
        return [("link", p["netns"], p["name"])]
    if module == "veth":
        return [("link", p["netns"], p["name"]), ("link", p["peer_netns"], p["peer"])]
    if module == "route":
        return [("route", p["netns"], p["to"])]
    return []


def _addresses(module: str, p: dict) -> list:
    """(netns, interface, address) a present task assigns."""
    if p.get("state") != "present":
        return []
    if module == "bridge":
        return [(p["netns"], p["name"], a) for a in p["addresses"]]
    if module == "veth":
        return ([(p["netns"], p["name"], a) for a in p["addresses"]] +
                [(p["peer_netns"], p["peer"], a) for a in p["peer_addresses"]])
    if module == "address":
        return [(p["netns"], p["interface"], p["address"])]
    return []


def _registered_reads(task: Task, registered: dict, variables: dict) -> list:
    """(field, name) for every result registered by an earlier task that TASK's templates read
    (a variable of the same name defined elsewhere wins, as it would in rendering)."""
    if not registered:
        return []
    return [(fld, n) for fld, names in task.reads
            for n in sorted((names or frozenset()) & registered.keys() - variables.keys())]


@lru_cache(maxsize=8192)
def _ip_of(cidr: str) -> str:
    """The address of an interface CIDR (every host of a fan-out checks the same ones)."""
    return str(ipaddress.ip_interface(cidr).ip)


def _netns_used(module: str, p: dict) -> list:
    if module == "verify":
        return [(f"{k}.from", r["from"]) for k in ("reach", "no_reach") for r in p[k] if r["from"]]
    used = [("netns", p.get("netns", ""))]
    if module == "veth":
        used.append(("peer_netns", p["peer_netns"]))
    return [(f, ns) for f, ns in used if ns]


def _task_outcome(task: Task, variables: dict, where: str, item_label: str) -> tuple:
    """One task for one host and item, as far as it depends on the variables alone: its
    problems [(line, field, message)] and its request entry (None when it has problems), and
    whether both depend only on the variables its templates name (see _Outcomes)."""
    line = task.line
    try:
        params = render(plain(task.params), variables)
    except TemplateError as exc:
        return [(line, f"{where}.{task.module}", str(exc))], None, True
    params, invalid = validate_params(task.module, params)
    if invalid:
        return [(task.param_lines.get(fld, line), f"{where}.{task.module}.{fld}" if fld else where, message)
                for fld, message in invalid], None, True
    name = task.name if task.name is not None else object_name(task.module, params)
    # a name made from the parameters is rendered again: what it renders can come from values
    # (not names) the templates read, so such an outcome is not shared
    shared = task.name is not None or not ("{{" in name or "{%" in name)
    try:
        name = str(render(name, variables)) + item_label
    except TemplateError as exc:
        return [(line, f"{where}.name", str(exc))], None, shared
    entry = {"name": name, "module": task.module, "params": params}
    if task.when is not None:
        try:
            if not evaluate(task.when, variables):
                entry = {"name": name, "module": task.module, "skip": f"when: {task.when} is false"}
        except TemplateError as exc:
            return [(task.line_of("when"), f"{where}.when", str(exc))], None, shared
    return [], entry, shared


_UNSHARED = object()


class _Outcomes:
    """Task outcomes shared between hosts. A play run on 50 hosts renders and validates the
    same task 50 times, mostly with the same values (an item, a play var): ~30 us each, which
    is 0.1 s of a 50-host run before the first connection. An outcome is shared when the
    names its templates look up (every Name in their parse tree) hold equal values, compared with
    their types; a template that names a variable holding anything else (hostvars, filled in
    as it is read) is rendered for every host as before."""

    def __init__(self):
        self._seen: dict = {}       # key -> (problems, entry) or _UNSHARED

    def outcome(self, task: Task, variables: dict, where: str, item_label: str) -> tuple:
        key = None
        if task.names is not None:
            try:
                key = (id(task), where, item_label,
                       tuple((n, frozen(variables[n]) if n in variables else None) for n in task.names))
            except Unfreezable:
                key = None
        if key is not None:
            seen = self._seen.get(key)
            if seen is not None and seen is not _UNSHARED:
                return seen
        problems, entry, shared = _task_outcome(task, variables, where, item_label)
        if key is not None:
            self._seen[key] = (problems, entry) if shared else _UNSHARED
        return problems, entry


class _HostResolver:
    def __init__(self, book: Playbook, host: str, hostvars: dict, extra_vars: dict, problems: list):
        self.book, self.host, self.problems = book, host, problems
        self.base = {**hostvars, "inventory_hostname": host}
        self.extra = extra_vars
        self.plan = HostPlan(host)
        self.declared_netns: dict = {}                       # name -> line
        self.objects: dict = {}                              # (kind, ns, name) -> line
        self.addrs: dict = {}                                # (ns, ip) -> (iface, line)
        self.pending_ns: list = []                           # (field, ns, line, where) to check at the end
        self.declared_sets: dict = {}
        self.registered: dict = {}                           # register name -> line of its task
        self.pending_sets: list = []                         # (name, line, where)

    def problem(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(self.book.path, line, where, f"{message} (host {self.host})"
                                     if self.host else message))

    def play_vars(self, play: Play, where: str) -> dict:
        out = dict(self.base)
        for k, v in play.vars.items():
            try:
                out[k] = render(v, {**out, **self.extra})
            except TemplateError as exc:
                self.problem(play.line, f"{where}.vars.{k}", str(exc))
        out.update(self.extra)
        return out

    def add_task(self, play: Play, task: Task, variables: dict, where: str, item_label: str,
                 memo: Optional[_Outcomes]) -> None:
        problems, entry = (memo.outcome(task, variables, where, item_label) if memo is not None
                           else _task_outcome(task, variables, where, item_label)[:2])
        for line, fld, message in problems:
            self.problem(line, fld, message)
        if entry is None:
            return
        params = entry.get("params")
        line = task.line
        entry = {"index": len(self.plan.tasks), **entry}
        name = entry["name"]
        self.plan.tasks.append(entry)
        self.plan.labels.append((play.name, name))
        if task.register:
            self.plan.registers[entry["index"]] = task.register
        if "skip" in entry:
            return
        if task.module == "namespace" and params["state"] == "present":
            self.plan.sets.append({k: params[k] for k in ("name", "kinds", "hostname", "uid_map", "gid_map")})
        if task.module == "verify":
            self.plan.assertions.append(params)
        self.check_cross(task, params, line, where)

    def declare(self, task: Task, variables: dict) -> None:
        """Record the namespaces a task not selected by --tags declares (problems surface when it runs)."""
        try:
            params, problems = validate_params(task.module, render(plain(task.params), variables))
        except TemplateError:
            return
        if problems or params.get("state") != "present":
            return
        if task.module == "netns" or "net" in params.get("kinds", []):
            self.declared_netns.setdefault(params["name"], task.line)
        if task.module == "namespace":
            self.declared_sets.setdefault(params["name"], task.line)

    def check_cross(self, task: Task, p: dict, line: int, where: str) -> None:
        if task.module == "netns" and p["state"] == "present":
            self.declared_netns.setdefault(p["name"], line)
        if task.module == "namespace" and p["state"] == "present":
            self.declared_sets.setdefault(p["name"], line)
            if "net" in p["kinds"]:
                self.declared_netns.setdefault(p["name"], line)
        if task.module in ("process", "exec") and p["namespace"]:
            self.pending_sets.append((p["namespace"], task.param_lines.get("namespace", line),
                                      f"{where}.{task.module}.namespace"))
        if task.module == "verify":
            for k in ("isolation", "ipc_isolated", "pid1", "mount_isolated", "isolated_from_host"):
                for n in p[k]:
                    self.pending_sets.append((n, task.param_lines.get(k, line), f"{where}.verify.{k}"))
            for k in ("hostname", "uid_map"):
                for h in p[k]:
                    self.pending_sets.append((h["namespace"], task.param_lines.get(k, line), f"{where}.verify.{k}"))
        for fld, ns in _netns_used(task.module, p):
            self.pending_ns.append((fld, ns, task.param_lines.get(fld, line), f"{where}.{task.module}.{fld}"))
        for obj in _declared_objects(task.module, p):
            if obj in self.objects:
                kind, ns, name = obj
                self.problem(line, f"{where}.{task.module}",
                             f"duplicate {kind} '{name}'" + (f" in netns '{ns}'" if ns else "") +
                             f": already declared at {self.book.path}:{self.objects[obj]}")
            else:
                self.objects[obj] = line
        for ns, iface, cidr in _addresses(task.module, p):
            key = (ns, _ip_of(cidr))
            if key in self.addrs:
                other_iface, other_line = self.addrs[key]
                what = "is declared twice: also" if other_iface == (iface, cidr) else "clashes with"
                self.problem(line, f"{where}.{task.module}",
                             f"address {cidr} {what} {other_iface[1]} on {other_iface[0]}" +
                             (f" in netns '{ns}'" if ns else "") + f" ({self.book.path}:{other_line})")
            else:
                self.addrs[key] = ((iface, cidr), line)

    def finish(self) -> HostPlan:
        for fld, ns, line, where in self.pending_ns:
            if ns not in self.declared_netns:
                self.problem(line, where, f"netns '{ns}' is not declared in this playbook (add a netns task)")
        for name, line, where in self.pending_sets:
            if name not in self.declared_sets:
                self.problem(line, where, f"namespace set '{name}' is not declared in this playbook "
                                          f"(add a namespace task)")
        return self.plan


class _LazyHostvars(dict):
    """`hostvars['lab2'].ansible_host` in templates, computed only for hosts a template names."""

    def __init__(self, inv: Inventory):
        super().__init__()
        self._inv = inv

    def __missing__(self, host: str) -> dict:
        if host not in self._inv.hosts:
            raise KeyError(host)
        self[host] = self._inv.host_vars(host)
        return self[host]

    def __contains__(self, host: object) -> bool:
        return host in self._inv.hosts


def resolve(book: Playbook, inv: Inventory, limit: Optional[str] = None, extra_vars: Optional[dict] = None,
            tags: tuple = (), skip_tags: tuple = ()) -> dict:
    """{host: HostPlan} for every host a play targets (after --limit); InputError with every problem."""
    problems: list = []
    extra = extra_vars or {}
    only, skip = set(tags), set(skip_tags)
    try:
        allowed = set(select_hosts(inv, limit)) if limit else None
    except (PatternError, ValueError) as exc:
        raise InputError([Problem("--limit", 0, "", str(exc))]) from None
    resolvers: dict = {}
    memo = _Outcomes()
    magic = {"hostvars": _LazyHostvars(inv), "groups": {g: inv.group_hosts(g) for g in inv.groups}}
    for i, play in enumerate(book.plays):
        where = f"play[{i}]"
        try:
            hosts = select_hosts(inv, play.hosts)
        except (PatternError, ValueError) as exc:
            problems.append(Problem(book.path, play.line, f"{where}.hosts", str(exc)))
            continue
        targets = [h for h in hosts if allowed is None or h in allowed]
        shared = memo if len(targets) > 1 else None   # one host: nothing to share, skip the keys
        for host in targets:
            r = resolvers.setdefault(host, _HostResolver(book, host, {**magic, **inv.host_vars(host)}, extra,
                                                             problems))
            r.plan.become = r.plan.become or play.become
            variables = r.play_vars(play, where)
            for j, task in enumerate(play.tasks):
                twhere = f"{where}.tasks[{j}]"
                selected = _selected(set(play.tags) | set(task.tags), only, skip)
                reads = _registered_reads(task, r.registered, variables)
                if task.register:
                    r.registered.setdefault(task.register, task.line)
                for fld, name in reads:
                    problems.append(Problem(
                        book.path, task.line_of(fld), f"{twhere}.{fld}",
                        f"'{name}' is the result registered at line {r.registered[name]}: it exists only on the "
                        f"host during the run, and nsprov settles templates and `when` before the run (decide "
                        f"it in the task itself, e.g. exec's `creates`/`changed_when`, or in a second playbook)"))
                if reads or (not selected and task.module not in ("netns", "namespace")):
                    continue
                items: list = [None]
                if task.loop is not None:
                    try:
                        items = render(plain(task.loop), variables)
                    except TemplateError as exc:
                        problems.append(Problem(book.path, task.line_of("loop"), f"{twhere}.loop",
                                                f"{exc} (host {host})"))
                        continue
                    if not isinstance(items, list):
                        problems.append(Problem(book.path, task.line_of("loop"), f"{twhere}.loop",
                                                f"loop must give a list, not {type(items).__name__}"))
                        continue
                for item in items:
                    tv = variables if task.loop is None else {**variables, "item": item}
                    if not selected:   # not run now, but what it declares counts for the others
                        r.declare(task, tv)
                        continue
                    label = "" if task.loop is None else f" (item={item})"
                    named_by_item = task.name is not None and "item" in str(task.name)
                    r.add_task(play, task, tv, twhere, label if task.name is not None and not named_by_item else "",
                               shared)
    plans = {h: r.finish() for h, r in resolvers.items()}
    if problems:
        # the same problem on many hosts is reported once
        unique = {}
        for p in problems:
            key = (p.file, p.line, p.field, p.message.rsplit(" (host ", 1)[0])
            unique.setdefault(key, p)
        raise InputError(list(unique.values()))
    return plans
