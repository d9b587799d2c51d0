"""The registry of module kinds: one line each, below. A kind NAME is its two files,
model/kinds/NAME.py (its `KIND`: parameters, docs, checks, drawing) and agent/resources/NAME.py
(its planning), and nothing else names it. The table here is what validation, `nsprov doc`,
`nsprov schema`, the controller's cross-task checks and `nsprov graph` read;
tests/unit/test_kinds.py fails when a kind lacks a piece, here or in agent/resources."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from nsprov.model.kinds.base import Declares, Kind, Param

REGISTRY = (         # in the order `nsprov doc` lists them
    "netns",
    "bridge",
    "veth",
    "macvlan",
    "ipvlan",
    "vlan",
    "vxlan",
    "dummy",
    "interface",
    "netem",
    "address",
    "route",
    "sysctl",
    "firewall",
    "nat",
    "port_forward",
    "namespace",
    "process",
    "exec",
    "verify",
)
KINDS: tuple = tuple(import_module(f"{__name__}.{name}").KIND for name in REGISTRY)
MODULES: dict = {k.name: k for k in KINDS}

__all__ = ["KINDS", "MODULES", "REGISTRY", "Declares", "Kind", "Param", "object_name", "validate_params"]


def validate_params(module: str, params: Any) -> tuple:
    """Normalise one task's parameters: (params, [(field, message), ...])."""
    kind = MODULES.get(module)
    if kind is None:
        return {}, [("", f"unknown module {module!r}")]
    return kind.validate(params)


def object_name(module: str, params: dict) -> str:
    """A short human name for what a task manages: `veth veth0<->netns1/veth1`."""
    return MODULES[module].label(params)
