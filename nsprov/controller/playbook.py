"""Playbooks, Ansible style: plays of tasks, each task exactly one module.

Two steps, both before any host is touched:
1. `load_playbook(path)` (here): the file's shape (plays, tasks, known keys, one module per task).
2. `resolve(playbook, inventory, ...)` (resolve.py): per host, variables and Jinja2 templates,
   `when`, `loop`, tags, then every module's parameters and the cross-task rules (netns
   declared, no duplicate names, no clashing addresses). Every problem comes back at once, with
   file:line and field; the result is plain data: one request body per host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

from nsprov.controller.templating import names_evaluated, names_read
from nsprov.controller.yamlsrc import InputError, MarkedDict, MarkedList, Problem, load_yaml, plain
from nsprov.model.errors import did_you_mean
from nsprov.model.kinds import MODULES
from nsprov.model.reference import PLAY_KEYWORDS, TASK_KEYWORDS
from nsprov.model.types import boolean, lab_name

PLAY_KEYS = set(PLAY_KEYWORDS)
TASK_KEYS = set(TASK_KEYWORDS)
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
    index: int = 0          # its place in the play's list, as written (tasks[INDEX] in messages)
    host: Optional[str] = None   # only this host's (a topology's play holds every host's tasks)

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
    any_errors_fatal: bool = False
    index: int = 0                  # its place in the playbook: play k waits for plays 0..k-1
    persist: bool = False           # keep the lab across reboots (agent/persist.py)


@dataclass(frozen=True)
class Playbook:
    path: str
    plays: tuple
    named_lab: Optional[str] = None     # what its plays' `lab:` say (they agree)
    crossings: tuple = ()               # a topology's links across hosts: (label, host, host)
    addresses: tuple = ()               # a topology's node addresses: (address, node's netns), for verify's matrix
    commanded: tuple = ()               # a topology's nodes its exec lines shape: what they add there is theirs
    labelled_persist: bool = False      # a topology's label nsprov.persist

    @property
    def persist(self) -> bool:
        """Whether the lab is kept across reboots: `persist: true` on any play (or the label)."""
        return self.labelled_persist or any(p.persist for p in self.plays)

    @property
    def lab(self) -> str:
        """The lab this playbook builds: what its plays name (`lab: NAME`), else its file's stem.
        Everything it makes on a host belongs to that lab (destroy removes exactly that)."""
        return self.named_lab or Path(self.path).stem

    @property
    def claim(self) -> dict:
        """Who claims the lab on a host: this playbook (its absolute path), from this controller."""
        import getpass
        import os
        import socket
        return {"playbook": os.path.abspath(self.path), "controller": socket.gethostname(), "user": getpass.getuser()}


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("yes", "true", "on", "1"))


def boolean_or_none(value: Any) -> Optional[bool]:
    """A YAML boolean as a module's boolean parameter reads one (types.boolean: yes/no,
    true/false, on/off, 1/0; an integer as its digits); None if it is not one."""
    try:
        return boolean(str(value) if isinstance(value, int) and not isinstance(value, bool) else value)
    except ValueError:
        return None


def _tags(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    if isinstance(value, list):
        return tuple(str(t) for t in value)
    raise ValueError(f"tags must be a string or a list, not {value!r}")


def _slipped(raw: dict) -> tuple:
    """(module, [its parameters found at task level]) when a task's module has no value of its
    own and keys that belong to it sit beside it, as in `netns:` over an unindented `name: red`
    (an indentation slip); else ("", [])."""
    for module in (k for k in raw if k in MODULES and raw[k] is None):
        beside = [k for k in raw if k != module and k in MODULES[module].params]
        if beside:
            return module, beside
    return "", []


def _slip_hint(module: str, keys: list) -> str:
    return (f"; {', '.join(keys)} {'is a parameter' if len(keys) == 1 else 'are parameters'} of {module}, "
            f"at task level here: indent {'it' if len(keys) == 1 else 'them'} under `{module}:`")


def duplicate_hint(mapping: dict, key: object) -> str:
    """What a duplicate key in a playbook most likely means: a module's parameter at task level
    (`name: x`, `netns:`, `name: red` is a slip, not two names)."""
    module, _ = _slipped(mapping)
    if module and key in MODULES[module].params:
        return _slip_hint(module, [key])
    return ""


def _load_task(path: str, raw: Any, line: int, where: str, index: int, problems: list) -> Optional[Task]:
    if not isinstance(raw, dict):
        problems.append(Problem(path, line, where, "a task must be a mapping with one module"))
        return None
    slipped, beside = _slipped(raw)
    modules = [k for k in raw if k not in TASK_KEYS]
    unknown = [k for k in modules if k not in MODULES]
    for k in unknown:
        hint = (_slip_hint(slipped, [k]) if k in beside else did_you_mean(k, [*MODULES, *TASK_KEYS]))
        problems.append(Problem(path, raw.line_of(k), f"{where}.{k}",
                                f"unknown module or task keyword{hint} (modules: {', '.join(sorted(MODULES))}; "
                                f"task keywords: {', '.join(sorted(TASK_KEYS))})"))
    known = [k for k in modules if k in MODULES]
    if len(known) != 1:
        if not unknown:
            problems.append(Problem(path, line, where, "a task needs exactly one module" if not known
                                    else f"a task takes one module, found {', '.join(known)}"))
        return None
    module = known[0]
    params = raw[module]
    if params is None and (unknown or slipped == module):   # what is wrong is said above, or here
        if not unknown:
            problems.append(Problem(path, raw.line_of(module), f"{where}.{module}", "has no parameters" +
                                    _slip_hint(module, beside)))
        return None
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
                key_lines=dict(raw.key_lines), index=index)


def load_playbook(path: str) -> Playbook:
    """The playbook, or InputError with every problem of its shape."""
    book, problems = load_playbook_lenient(path)
    if problems:
        raise InputError(problems)
    return book


def load_playbook_lenient(path: str) -> tuple[Playbook, list]:
    """The playbook's well-formed parts and the problems of the rest, so that resolving can
    report its own problems in the same breath. YAML syntax errors still raise."""
    data = load_yaml(Path(path), explain_duplicate=duplicate_hint)
    problems: list = []
    if not isinstance(data, list):
        raise InputError([Problem(path, getattr(data, "line", 1), "", "a playbook is a list of plays")])
    plays, labs = [], {}
    for i, raw in enumerate(data):
        where, line = f"play[{i}]", data.line_of(i)
        if not isinstance(raw, dict):
            problems.append(Problem(path, line, where, "a play must be a mapping"))
            continue
        for k in raw:
            if k not in PLAY_KEYS:
                problems.append(Problem(path, raw.line_of(k), f"{where}.{k}",
                                        f"unknown play keyword{did_you_mean(k, PLAY_KEYS)}; expected one of: "
                                        f"{', '.join(sorted(PLAY_KEYS))}" + (f" (a module belongs in a task, "
                                                                            f"under tasks:)" if k in MODULES else "")))
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
            task = _load_task(path, t, tasks_raw.line_of(j), f"{where}.tasks[{j}]", j, problems)
            if task is not None:
                tasks.append(task)
        try:
            ptags = _tags(raw.get("tags"))
        except ValueError as exc:
            problems.append(Problem(path, raw.line_of("tags"), f"{where}.tags", str(exc)))
            ptags = ()
        if raw.get("lab") is not None:
            _play_lab(path, raw, where, labs, problems)
        if raw.get("persist") is not None and boolean_or_none(raw["persist"]) is None:
            problems.append(Problem(path, raw.line_of("persist"), f"{where}.persist",
                                    f"must be true or false, not {raw['persist']!r}"))
        plays.append(Play(name=str(raw.get("name") or raw.get("hosts") or f"play {i}"),
                          hosts=str(raw.get("hosts") or ""), vars=plain(pvars), become=_truthy(raw.get("become")),
                          tags=ptags, tasks=tuple(tasks), line=line,
                          any_errors_fatal=_truthy(raw.get("any_errors_fatal")), index=i,
                          persist=bool(boolean_or_none(raw.get("persist")))))
    return Playbook(path=path, plays=tuple(plays), named_lab=next(iter(labs), None)), problems


def _play_lab(path: str, raw: MarkedDict, where: str, labs: dict, problems: list) -> None:
    """A play's `lab: NAME`: a lab name, and the same as every other play's."""
    line = raw.line_of("lab")
    try:
        name = lab_name(raw["lab"])
    except ValueError as exc:
        problems.append(Problem(path, line, f"{where}.lab", str(exc)))
        return
    for other, other_line in labs.items():
        if other != name:
            problems.append(Problem(path, line, f"{where}.lab", f"'{name}' differs from lab '{other}' at line "
                                                               f"{other_line}: all plays of a file name one lab"))
            return
    labs.setdefault(name, line)
