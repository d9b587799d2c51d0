"""The playbook argument of run, destroy, drift, verify and graph: a playbook, or a containerlab
topology compiled into one over the hosts selected (nsprov/controller/clab.py), with the
placement `--place` gave and, for `verify`, the ping matrix."""

from __future__ import annotations

from typing import Callable

import click


def remember(key: str):
    """A click callback keeping an option for the loader (ctx.meta["nsprov.KEY"]), off the
    command's signature: an option every playbook command takes and only the loader reads."""
    def keep(ctx, param, value):
        ctx.meta[f"nsprov.{key}"] = value
        return value
    return keep


def place_option(f):
    """--place PATTERN=HOST, --kind-as KIND=linux and --image-as PATTERN=ROLE, for the loader below."""
    f = click.option("--spread", is_flag=True, expose_value=False, callback=remember("spread"),
                     help="a containerlab topology: spread the nodes nothing places over the selected hosts, few "
                          "links crossing")(f)
    f = click.option("--kind-as", multiple=True, expose_value=False, callback=remember("kind_as"),
                     metavar="KIND=linux", help="a containerlab topology: run nodes of KIND as linux nodes")(f)
    f = click.option("--image-as", multiple=True, expose_value=False, callback=remember("image_as"),
                     metavar="PATTERN=ROLE", help="a containerlab topology: nodes whose image matches PATTERN "
                                                  "run ROLE's host software: frr (FRR's daemons) or tools "
                                                  "(nothing to start); before the built-in table")(f)
    return click.option("--place", multiple=True, expose_value=False, callback=remember("place"),
                        metavar="PATTERN=HOST",
                        help="a containerlab topology: put the nodes matching PATTERN on HOST (repeatable)")(f)


def load_book(path: str, inv, selected: Callable[[], list]) -> tuple:
    """(Playbook, problems) of PATH; SELECTED() gives the hosts a topology is placed on."""
    from nsprov.controller import clab
    from nsprov.controller.playbook import load_playbook_lenient
    if not clab.looks_like_topology(path):
        return load_playbook_lenient(path)
    ctx = click.get_current_context()
    options = {k: ctx.meta.get(f"nsprov.{k}") for k in ("place", "kind_as", "spread", "image_as")}
    book, problems, warnings = clab.load_for(path, inv, selected(), options, pingall=ctx.info_name == "verify")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return book, problems
