"""Every module kind, one entry each (a file beside this one): the table that validation,
`nsprov doc`, `nsprov schema`, the controller's cross-task checks and `nsprov graph` read.
tests/unit/test_kinds.py fails when a kind lacks a piece, here or in agent/resources."""

from __future__ import annotations

from typing import Any

from nsprov.model.kinds import (address, bridge, exec, namespace, nat, netns, port_forward, process, route,
                                sysctl, verify, veth)
from nsprov.model.kinds.base import Declares, Kind, Param

KINDS: tuple = (netns.KIND, bridge.KIND, veth.KIND, address.KIND, route.KIND, sysctl.KIND, nat.KIND,
                port_forward.KIND, namespace.KIND, process.KIND, exec.KIND, verify.KIND)
MODULES: dict = {k.name: k for k in KINDS}

__all__ = ["KINDS", "MODULES", "Declares", "Kind", "Param", "object_name", "validate_params"]


def validate_params(module: str, params: Any) -> tuple:
    """Normalise one task's parameters: (params, [(field, message), ...])."""
    kind = MODULES.get(module)
    if kind is None:
        return {}, [("", f"unknown module {module!r}")]
    return kind.validate(params)


def object_name(module: str, params: dict) -> str:
    """A short human name for what a task manages: `veth veth0<->netns1/veth1`."""
    return MODULES[module].label(params)
