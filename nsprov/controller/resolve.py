"""Per host: variables and Jinja2 templates, `when`, `loop`, tags, then every module's
parameters and the rules across a host's tasks (a netns or set a task uses is declared, no
object is made twice, no address is declared twice). What each task declares comes from its
kind (`Kind.declares`); what `nsprov verify` checks, from `Kind.proves`. Every problem comes
back at once, with file:line and field; the result is plain data, one HostPlan per host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from nsprov.controller.inventory import Inventory
from nsprov.controller.outcomes import LazyHostvars, Outcomes, task_outcome
from nsprov.controller.patterns import PatternError, select_hosts
from nsprov.controller.playbook import Play, Playbook, Task
from nsprov.controller.templating import TemplateError, render
from nsprov.controller.yamlsrc import InputError, Problem, plain
from nsprov.model.kinds import MODULES, validate_params


@dataclass
class HostPlan:
    """What one host gets: the tasks of every play that targets it, in order, as plain data."""
    host: str
    become: bool = False
    tasks: list = field(default_factory=list)     # request task dicts
    labels: list = field(default_factory=list)    # (play name, task name) per task index
    origins: list = field(default_factory=list)   # (play index, task's place in the play) per task index
    sets: list = field(default_factory=list)      # declared namespace sets (for `nsprov verify`)
    assertions: list = field(default_factory=list)  # verify tasks' checks (for `nsprov verify`)
    registers: dict = field(default_factory=dict)   # task index -> its `register` name (--json shows it)
    plays: list = field(default_factory=list)       # the plays that select this host, in order
    proofs: dict = field(default_factory=dict)      # play -> {sets, assertions} (for `nsprov verify`)

    def phases(self, what: str) -> list:
        """The host's part of each of its plays, for a request: its tasks ("tasks") or what
        `nsprov verify` checks ("checks")."""
        from nsprov.model.protocol import phase
        if what == "tasks":
            return [phase(k, tasks=[t for t in self.tasks if t["play"] == k]) for k in self.plays]
        return [phase(k, **self.proofs.get(k, {"sets": [], "assertions": []})) for k in self.plays]


def selected(tags: set, only: set, skip: set) -> bool:
    if "always" in tags and "always" not in skip:
        return True
    if only and not (tags & only) and "all" not in only:
        return False
    return not (tags & skip)


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


class HostResolver:
    def __init__(self, book: Playbook, host: str, hostvars: dict, extra_vars: dict, problems: list):
        self.book, self.host, self.problems = book, host, problems
        self.base = {**hostvars, "inventory_hostname": host}
        self.extra = extra_vars
        self.plan = HostPlan(host)
        self.declared_netns: dict = {}                       # name -> line
        self.declared_sets: dict = {}
        self.objects: dict = {}                              # (what, ns, name) -> line
        self.addrs: dict = {}                                # (ns, ip) -> ((iface, cidr), line)
        self.pending: list = []                              # ("netns"|"set", name, line, where): check at the end
        self.registered: dict = {}                           # register name -> line of its task

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
                 memo: Optional[Outcomes]) -> None:
        problems, entry = (memo.outcome(task, variables, where, item_label) if memo is not None
                           else task_outcome(task, variables, where, item_label)[:2])
        for line, fld, message in problems:
            self.problem(line, fld, message)
        if entry is None:
            return
        entry = {"index": len(self.plan.tasks), "play": play.index, **entry}
        self.plan.tasks.append(entry)
        self.plan.labels.append((play.name, entry["name"]))
        self.plan.origins.append((play.index, task.index))
        if task.register:
            self.plan.registers[entry["index"]] = task.register
        if "skip" in entry:
            return
        proofs = MODULES[task.module].proves(entry["params"])
        self.plan.sets += proofs.get("sets", [])
        self.plan.assertions += proofs.get("assertions", [])
        mine = self.plan.proofs.setdefault(play.index, {"sets": [], "assertions": []})
        for key in mine:
            mine[key] += proofs.get(key, [])
        self.check_cross(task, entry["params"], where)

    def declare(self, task: Task, variables: dict) -> None:
        """Record the namespaces a task not selected by --tags makes (its own problems surface
        when it is selected)."""
        try:
            params, problems = validate_params(task.module, render(plain(task.params), variables))
        except TemplateError:
            return
        if not problems:
            d = MODULES[task.module].declares(params)
            for name in d.netns_made:
                self.declared_netns.setdefault(name, task.line)
            for name in d.sets_made:
                self.declared_sets.setdefault(name, task.line)

    def check_cross(self, task: Task, p: dict, where: str) -> None:
        line = task.line
        d = MODULES[task.module].declares(p)
        for name in d.netns_made:
            self.declared_netns.setdefault(name, line)
        for name in d.sets_made:
            self.declared_sets.setdefault(name, line)
        for what, uses in (("netns", d.netns_used), ("set", d.sets_used)):
            for fld, name in uses:
                self.pending.append((what, name, task.param_lines.get(fld.split(".")[0], line),
                                     f"{where}.{task.module}.{fld}"))
        for obj in d.objects:
            if obj in self.objects:
                kind, ns, name = obj
                self.problem(line, f"{where}.{task.module}",
                             f"duplicate {kind} '{name}'" + (f" in netns '{ns}'" if ns else "") +
                             f": already declared at {self.book.path}:{self.objects[obj]}")
            else:
                self.objects[obj] = line
        for ns, iface, cidr in d.addresses:
            key = (ns, _ip_of(cidr))
            if key in self.addrs:
                other, other_line = self.addrs[key]
                what = "is declared twice: also" if other == (iface, cidr) else "clashes with"
                self.problem(line, f"{where}.{task.module}",
                             f"address {cidr} {what} {other[1]} on {other[0]}" + (f" in netns '{ns}'" if ns else "") +
                             f" ({self.book.path}:{other_line})")
            else:
                self.addrs[key] = ((iface, cidr), line)

    def finish(self) -> HostPlan:
        for what, name, line, where in self.pending:
            if what == "netns" and name not in self.declared_netns:
                self.problem(line, where, f"netns '{name}' is not declared in this playbook (add a netns task)")
            elif what == "set" and name not in self.declared_sets:
                self.problem(line, where, f"namespace set '{name}' is not declared in this playbook "
                                          f"(add a namespace task)")
        return self.plan


@dataclass
class _Selection:
    """What picks tasks for every host: tags, and the outcome cache a play shares."""
    only: set
    skip: set
    memo: Optional[Outcomes] = None


MAX_LOOP_ITEMS = 10_000      # items of one task's loop (README: "What input is refused")


def _items(r: HostResolver, task: Task, variables: dict, where: str, quiet: bool) -> Optional[list]:
    """The loop's items ([None] without a loop); None when it does not give a list (a problem,
    unless QUIET: a task not selected by --tags reports nothing)."""
    if task.loop is None:
        return [None]
    try:
        items = render(plain(task.loop), variables)
    except TemplateError as exc:
        if not quiet:
            r.problems.append(Problem(r.book.path, task.line_of("loop"), f"{where}.loop", f"{exc} (host {r.host})"))
        return None
    if not isinstance(items, list):
        if not quiet:
            r.problems.append(Problem(r.book.path, task.line_of("loop"), f"{where}.loop",
                                      f"loop must give a list, not {type(items).__name__}"))
        return None
    if len(items) > MAX_LOOP_ITEMS:
        if not quiet:
            r.problems.append(Problem(r.book.path, task.line_of("loop"), f"{where}.loop",
                                      f"loop gives {len(items)} items; nsprov takes at most {MAX_LOOP_ITEMS} "
                                      f"in one loop (split it into several tasks)"))
        return None
    return items


def _resolve_task(r: HostResolver, play: Play, task: Task, variables: dict, where: str, sel: _Selection) -> None:
    chosen = selected(set(play.tags) | set(task.tags), sel.only, sel.skip)
    reads = _registered_reads(task, r.registered, variables)
    if task.register:
        r.registered.setdefault(task.register, task.line)
    for fld, name in reads:
        r.problems.append(Problem(
            r.book.path, task.line_of(fld), f"{where}.{fld}",
            f"'{name}' is the result registered at line {r.registered[name]}: it exists only on the host during the "
            f"run, and nsprov settles templates and `when` before the run (decide it in the task itself, e.g. exec's "
            f"`creates`/`changed_when`, or in a second playbook)"))
    items = None if reads else _items(r, task, variables, where, quiet=not chosen)
    for item in items or []:
        tv = variables if task.loop is None else {**variables, "item": item}
        if not chosen:   # not run now, but what it declares counts for the others
            r.declare(task, tv)
            continue
        label = "" if task.loop is None else f" (item={item})"
        named_by_item = task.name is not None and "item" in str(task.name)
        r.add_task(play, task, tv, where, label if task.name is not None and not named_by_item else "", sel.memo)


def _hosts_of(play: Play, inv: Inventory, allowed: Optional[set], where: str, book: Playbook,
              problems: list) -> list:
    try:
        hosts = select_hosts(inv, play.hosts)
    except (PatternError, ValueError) as exc:
        problems.append(Problem(book.path, play.line, f"{where}.hosts", str(exc)))
        return []
    return [h for h in hosts if allowed is None or h in allowed]


def _unique(problems: list) -> list:
    """The same problem on many hosts is reported once."""
    unique: dict = {}
    for p in problems:
        unique.setdefault((p.file, p.line, p.field, p.message.rsplit(" (host ", 1)[0]), p)
    return list(unique.values())


def resolve(book: Playbook, inv: Inventory, limit: Optional[str] = None, extra_vars: Optional[dict] = None,
            tags: tuple = (), skip_tags: tuple = ()) -> dict:
    """{host: HostPlan} for every host a play targets (after --limit); InputError with every problem."""
    problems: list = []
    extra = extra_vars or {}
    try:
        allowed = set(select_hosts(inv, limit)) if limit else None
    except (PatternError, ValueError) as exc:
        raise InputError([Problem("--limit", 0, "", str(exc))]) from None
    resolvers: dict = {}
    magic = {"hostvars": LazyHostvars(inv), "groups": {g: inv.group_hosts(g) for g in inv.groups}}
    sel = _Selection(set(tags), set(skip_tags), Outcomes())
    for i, play in enumerate(book.plays):
        where = f"play[{i}]"
        targets = _hosts_of(play, inv, allowed, where, book, problems)
        play_sel = _Selection(sel.only, sel.skip, sel.memo if len(targets) > 1 else None)   # one host: no keys
        for host in targets:
            r = resolvers.setdefault(host, HostResolver(book, host, {**magic, **inv.host_vars(host)}, extra,
                                                            problems))
            r.plan.become = r.plan.become or play.become
            r.plan.plays.append(i)
            variables = r.play_vars(play, where)
            for task in play.tasks:
                if task.host is None or task.host == host:
                    _resolve_task(r, play, task, variables, f"{where}.tasks[{task.index}]", play_sel)
    plans = {h: r.finish() for h, r in resolvers.items()}
    if problems:
        raise InputError(_unique(problems))
    return plans


def resolve_hosts(book: Playbook, inv: Inventory, limit: Optional[str] = None) -> dict:
    """{host: HostPlan} with only the plays each host is in (and whether it becomes root): what
    a destroy needs, whose work comes from the hosts' ledgers. The playbook's shape and its
    host patterns are checked; its tasks are not rendered (a destroy must not depend on them)."""
    problems: list = []
    try:
        allowed = set(select_hosts(inv, limit)) if limit else None
    except (PatternError, ValueError) as exc:
        raise InputError([Problem("--limit", 0, "", str(exc))]) from None
    plans: dict = {}
    for i, play in enumerate(book.plays):
        for host in _hosts_of(play, inv, allowed, f"play[{i}]", book, problems):
            plan = plans.setdefault(host, HostPlan(host))
            plan.become = plan.become or play.become
            plan.plays.append(i)
    if problems:
        raise InputError(_unique(problems))
    return plans
