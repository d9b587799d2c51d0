"""A request's plays, in order, each started when the controller says so: the host side of
the play barrier (the controller's side: nsprov/controller/plays.py)."""

from __future__ import annotations

from typing import Callable

from nsprov.model import protocol


def run_phases(phases: list, emit: Emit, control, do_phase: Callable[[dict], bool]) -> bool:
    """A request's plays, in order: the first at once, each later one when the controller
    says go (every host has finished the plays before it). A play that fails ends the host's
    part: it takes no part in later plays. Stopped or left alone while waiting: the end."""
    for i, phase in enumerate(phases):
        if i and not (control is not None and control.wait_go(phase["play"])):
            return False
        ok = do_phase(phase)
        emit(protocol.phase_done_event(phase["play"], ok, interrupted=control is not None and control.stopping))
        if not ok:
            return False
    return True


def phases_of(req: dict, keys: tuple) -> list:
    """The request's phases; a request written by hand may give its tasks (or checks) alone."""
    return req.get("phases") or [{"play": 0, **{k: req.get(k) for k in keys}}]
