"""What every module kind is made of: its parameters (with their docs), its object's name, its
cross-field rules, what it declares for the controller's checks, what it adds to the topology
picture, and its reference text. One `Kind` per module, in a file of its own beside this one;
`nsprov.model.kinds` lists them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from nsprov.model.errors import did_you_mean
from nsprov.model import types as t
from nsprov.model.types import Type

if TYPE_CHECKING:
    from nsprov.model.topology import HostTopology


class Param:
    """One parameter of a module: its type, what it means, whether it is required, its default,
    and an example value (the type's, unless the parameter has a better one)."""
    __slots__ = ("type", "doc", "required", "default", "_example")

    def __init__(self, type: Type, doc: str, required: bool = False, default: Any = None, example: Any = None):
        self.type, self.doc, self.required, self.default, self._example = type, doc, required, default, example

    @property
    def example(self) -> Any:
        return self._example if self._example is not None else self.type.example

    def but(self, doc: Optional[str] = None, example: Any = None) -> "Param":
        """This parameter (its type, validation and default) with what it means for one kind."""
        return Param(self.type, doc or self.doc, self.required, self.default, example if example is not None
                     else self._example)


class Declares:
    """What one present task declares, for the checks across a host's tasks."""
    __slots__ = ("objects", "addresses", "netns_used", "sets_used", "netns_made", "sets_made")

    def __init__(self, objects: tuple = (), addresses: tuple = (), netns_used: tuple = (), sets_used: tuple = (),
                 netns_made: tuple = (), sets_made: tuple = ()):
        self.objects = objects          # (what, netns, name): two tasks may not make the same object
        self.addresses = addresses      # (netns, interface, cidr): the same address may not be declared twice
        self.netns_used = netns_used    # (field, netns): a netns the playbook must declare
        self.sets_used = sets_used      # (field, set name): a namespace set the playbook must declare
        self.netns_made = netns_made    # netns names this task makes, for other tasks to use
        self.sets_made = sets_made


OVERLAP_DOC = ("allow an address or route in the host's own namespace that would take the route to the "
               "controller (this SSH connection) elsewhere; refused otherwise, since the host would be cut off")
RULE_OVERLAP_DOC = ("allow a rule in the host's own namespace that would catch the connection the controller logs in "
                    "through (a forward of its SSH port, a masquerade of its source); refused otherwise, since the "
                    "host would be cut off")


class Kind:
    """A module kind: one subclass per kind (nsprov/model/kinds/KIND.py), its attributes the
    reference and its methods what the controller asks of a task of that kind. Plain classes
    here and in the agent, not dataclasses: the agent starts on every run, and making ~20
    dataclasses cost it ~8 ms."""
    name: str = ""
    summary: str = ""     # one line for `nsprov doc`
    doc: str = ""         # what it manages
    absent: str = ""      # what `state: absent` does ("" when the kind has no state)
    example: str = ""     # a task, as YAML
    params: dict = {}     # name -> Param, in the order the reference lists them

    def label(self, p: dict) -> str:
        """A short name for the object a task manages: `veth a<->red/b`."""
        raise NotImplementedError(self.name)

    def rules(self, p: dict) -> list:
        """Cross-field rules: [(field, message)]."""
        return []

    def declares(self, p: dict) -> Declares:
        return Declares()

    def draw(self, p: dict, topo: "HostTopology") -> None:
        return None

    def proves(self, p: dict) -> dict:
        """What `nsprov verify` checks for the task: {sets, assertions}."""
        return {}

    def validate(self, params: Any) -> tuple:
        """(normalised params, [(field, message), ...])."""
        if not isinstance(params, dict):
            return {}, [("", f"{self.name} takes a mapping of parameters, not {type(params).__name__}")]
        problems = [(str(key), f"unknown parameter for {self.name}{did_you_mean(key, self.params)}; expected one of: "
                               f"{', '.join(sorted(self.params))}") for key in params if key not in self.params]
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


# the parameters kinds share, each declared once with its type (its validation) and its default;
# a kind says what one means for it with .but(doc=...)
NETNS = Param(t.NETNS, "its netns; empty: the host's own", default="")
ADDRESSES = Param(t.CIDR_LIST, "addresses on it, exactly these", default=[])
MTU = Param(t.MTU, "its MTU; unset: the kernel's default for a new link, and left as it is after")
UP = Param(t.BOOL, "link up", default=True)
STATE = Param(t.STATE, STATE_DOC, default="present")
OVERLAP = Param(t.BOOL, OVERLAP_DOC, default=False)
RULE_OVERLAP = Param(t.BOOL, RULE_OVERLAP_DOC, default=False)


def _altname(value: Any) -> str:
    """What the kernel takes as an alternative name: 1..127 bytes, not '.' or '..', no '/', ':'
    or whitespace."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"an alternative name is a non-empty string, not {value!r}")
    if len(value.encode()) > 127:
        raise ValueError(f"alternative name {value!r} is {len(value.encode())} bytes; the kernel allows 127")
    if value in (".", "..") or any(c in value for c in "/:") or not value.isprintable() or \
            any(c.isspace() for c in value):
        raise ValueError(f"alternative name {value!r} is not allowed: no '/', ':', whitespace, '.' or '..'")
    return value


def _mac(value: Any) -> str:
    """A unicast Ethernet address, aa:bb:cc:dd:ee:ff (the kernel refuses a multicast one)."""
    text = str(value).lower()
    parts = text.split(":")
    if len(parts) != 6 or not all(len(x) == 2 and all(c in "0123456789abcdef" for c in x) for x in parts):
        raise ValueError(f"{value!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
    if int(parts[0], 16) & 1:
        raise ValueError(f"{value!r} is a multicast address: a link's own address is unicast")
    if text == "00:00:00:00:00:00":
        raise ValueError(f"{value!r} is not a usable address")
    return text


MAC = Param(Type("MAC address (aa:bb:cc:dd:ee:ff)", _mac,
                 {"type": "string", "pattern": "^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$"}, "02:00:00:00:00:01"),
            "its hardware address; unset: the kernel's (random)", example="02:00:00:00:00:01")


ALTNAME = Param(Type("alternative interface name (1-127 bytes)", _altname,
                     {"type": "string", "minLength": 1, "maxLength": 127, "pattern": r"^[^/:\s]+$"},
                     "eth1-to-the-core-router"),
                "a second name the link answers to (`ip link show ALTNAME`), up to 127 bytes: containerlab's "
                "full name of an interface whose name is shortened to the kernel's 15", example="eth1-to-the-core-router")
