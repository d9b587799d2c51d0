"""The playbook argument of run, destroy, drift, verify and graph: a playbook, or a containerlab
topology compiled into one over the hosts selected (nsprov/controller/clab.py), with the
placement `--place` gave and, for `verify`, the ping matrix."""

from __future__ import annotations

from typing import Callable

import click


def load_book(path: str, inv, selected: Callable[[], list]) -> tuple:
    """(Playbook, problems) of PATH; SELECTED() gives the hosts a topology is placed on."""
    from nsprov.controller import clab
    from nsprov.controller.playbook import load_playbook_lenient
    if not clab.looks_like_topology(path):
        return load_playbook_lenient(path)
    ctx = click.get_current_context()
    book, problems, warnings = clab.load_for(path, inv, selected(), ctx.meta.get("nsprov.place", ()),
                                             pingall=ctx.info_name == "verify")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return book, problems
