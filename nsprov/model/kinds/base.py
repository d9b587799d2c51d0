"""What every module kind is made of: its parameters (with their docs), its object's name, its
cross-field rules, what it declares for the controller's checks, what it adds to the topology
picture, and its reference text. One `Kind` per module, in a file of its own beside this one;
`nsprov.model.kinds` lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from nsprov.model.topology import HostTopology
from nsprov.model.types import Type


@dataclass(frozen=True)
class Param:
    type: Type
    doc: str
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Declares:
    """What one present task declares, for the checks across a host's tasks."""
    objects: tuple = ()       # (what, netns, name): two tasks may not make the same object
    addresses: tuple = ()     # (netns, interface, cidr): the same address may not be declared twice
    netns_used: tuple = ()    # (field, netns): a netns the playbook must declare
    sets_used: tuple = ()     # (field, set name): a namespace set the playbook must declare
    netns_made: tuple = ()    # netns names this task makes, for other tasks to use
    sets_made: tuple = ()


def _no_rules(p: dict) -> list:
    return []


def _declares_nothing(p: dict) -> Declares:
    return Declares()


def _draws_nothing(p: dict, t: HostTopology) -> None:
    return None


def _proves_nothing(p: dict) -> dict:
    return {}


@dataclass(frozen=True)
class Kind:
    name: str
    summary: str                  # one line for `nsprov doc`
    doc: str                      # what it manages
    absent: str                   # what `state: absent` does ("" when the kind has no state)
    example: str                  # a task, as YAML
    params: dict                  # name -> Param, in the order the reference lists them
    label: Callable[[dict], str]  # a short name for the object a task manages: `veth a<->red/b`
    rules: Callable[[dict], list] = _no_rules               # cross-field rules: [(field, message)]
    declares: Callable[[dict], Declares] = _declares_nothing
    draw: Callable[[dict, HostTopology], None] = _draws_nothing
    proves: Callable[[dict], dict] = _proves_nothing       # what `nsprov verify` checks: {sets, assertions}

    def validate(self, params: Any) -> tuple:
        """(normalised params, [(field, message), ...])."""
        if not isinstance(params, dict):
            return {}, [("", f"{self.name} takes a mapping of parameters, not {type(params).__name__}")]
        problems = [(str(key), f"unknown parameter for {self.name} (expected one of: {', '.join(sorted(self.params))})")
                    for key in params if key not in self.params]
        out: dict = {}
        for key, spec in self.params.items():
            out[key] = list(spec.default) if isinstance(spec.default, list) else (
                dict(spec.default) if isinstance(spec.default, dict) else spec.default)
            if key not in params or params[key] is None:
                if spec.required:
                    problems.append((key, "is required"))
                continue
            try:
                out[key] = spec.type.check(params[key])
            except (ValueError, TypeError) as exc:   # the rules below see the default instead
                problems.append((key, str(exc)))
        bad = {f for f, _ in problems}
        problems += [(f, m) for f, m in self.rules(out) if f not in bad]
        return out, problems


def in_ns(ns: Optional[str]) -> str:
    """`red/` for a name in netns red, nothing for the host's own namespace."""
    return f"{ns}/" if ns else ""


STATE_DOC = "present: make or keep it as declared; absent: remove what nsprov made"
