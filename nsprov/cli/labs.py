"""Commands about labs as they stand on their hosts: `drift` (read-only: in sync, or what
differs) and `labs` (which labs each host holds)."""

from __future__ import annotations

import os
import socket
import sys

import click

from nsprov.cli import cli
from nsprov.cli.common import (connection_options, connections, console, host_settings, inventory_options, lab_of,
                               lab_options, list_and_exit, listing_options, load_inventory, playbook_options, plays_of,
                               resolve_playbook, run_interruptible, run_options, select, startup_done, styled)


def _differences(events: list) -> list:
    """What differs on one host: tasks that would change, objects the lab would remove, records
    whose object is gone, and what its namespaces hold that nsprov did not make."""
    out = []
    for e in events:
        if e.get("event") == "task" and e.get("status") == "changed":
            out.append(("remove" if e.get("pruned") else "change", f"{e['name']}: {e['reason']}"))
        elif e.get("event") == "task" and e.get("status") == "failed":
            out.append(("error", f"{e['name']}: {e['reason']}"))
        elif e.get("event") == "drift":
            out.append(("undeclared", e["what"]))
        elif e.get("event") == "healed":
            out += [("gone", f"{r}: recorded, but gone from the kernel") for r in e["records"]]
    return out


@cli.command()
@inventory_options
@playbook_options
@lab_options
@connection_options
@listing_options
def drift(inventories, playbook, lock_timeout, fail_fast, extra_vars, tags, skip_tags, verbose, lab, take_over, limit,
          reach, as_json, listing) -> None:
    """Read-only: does each host hold what PLAYBOOK declares? Lists what is missing or
    changed, what the lab made and no longer declares, and what the lab's namespaces hold that
    nsprov did not make. Exit 0 in sync, 1 drift, 2 bad input or unreachable."""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.exits import exit_code
    from nsprov.model.protocol import apply_request, recap_event
    inv, book, plans = resolve_playbook(inventories, playbook, limit, extra_vars, (tags, skip_tags))
    name = lab_of(book, lab)
    list_and_exit(book, plans, listing, as_json)
    options = run_options(reach, fail_fast)
    conns = connections(inv, list(plans), {h: p.become for h, p in plans.items()})
    prune = {"enabled": not (tags or skip_tags), "why": "--tags/--skip-tags select a part of the playbook"}

    def request(host: str) -> dict:
        return apply_request(name, plans[host].phases("tasks"), **host_settings(
            inv, host, lock_timeout, drift=True, claim=book.claim, take_over=take_over, prune=prune,
            commanded=list(book.commanded)))
    sink = None
    if as_json:
        from nsprov.reporting.jsonl import JsonLines
        sink = JsonLines()
    startup_done()
    results = run_interruptible(conns, load_bundle(), request, options, sink or (lambda h, e: None),
                                plays_of(book, plans))
    found = {h: _differences(r.events) for h, r in results.items()}
    if sink:
        sink.write(recap_event({h: r.counts for h, r in results.items()}, drift={h: len(d) for h, d in found.items()}))
    else:
        _print_drift(results, found, name)
    sys.exit(exit_code(results, violated=any(found.values())))


def _print_drift(results: dict, found: dict, lab: str) -> None:
    out = console()
    for host, r in results.items():
        if r.status != "ok":
            out.print(styled((f"{host}: {r.status.upper()}", "bold red"), f": {r.error}"), soft_wrap=True)
            continue
        if not found[host]:
            out.print(styled((f"{host}", "bold"), ": ", ("in sync", "green"), f" with lab {lab}"))
            continue
        out.print(styled((f"{host}", "bold"), f": {len(found[host])} difference(s) from lab {lab}"))
        for kind, what in found[host]:
            out.print(styled(("  ", ""), (f"{kind:<10}", "yellow"), " ", what), soft_wrap=True)


@cli.command()
@inventory_options
@connection_options
@click.option("--nodes", is_flag=True, help="list each lab's namespaces (a topology's nodes) with their interfaces "
                                            "and addresses, as `containerlab inspect` does")
def labs(inventories, limit, reach, as_json, nodes) -> None:
    """Which labs live on each host: the playbook that made each (marked when it is gone from
    this controller), by whom and when, and how many objects it holds there; with --nodes, its
    namespaces as the kernel holds them."""
    import json

    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.exits import exit_code
    from nsprov.controller.runner import run_on_hosts
    from nsprov.model.protocol import labs_request, recap_event
    inv = load_inventory(inventories)
    conns = connections(inv, select(inv, "all", limit))
    options = run_options(reach)
    startup_done()
    results = run_on_hosts(conns, load_bundle(), lambda h: labs_request(), options, lambda h, e: None)
    rows = {h: _labs_of(r) for h, r in results.items()}
    if as_json:
        for h, r in results.items():
            click.echo(json.dumps({"event": "labs", "host": h, "labs": rows[h]}))
        click.echo(json.dumps(recap_event({h: r.counts for h, r in results.items()})))
    else:
        from nsprov.reporting.labs import render_labs, render_nodes
        console().print(render_nodes(rows, results) if nodes else render_labs(rows, results))
    sys.exit(exit_code(results))


def _labs_of(r) -> dict:
    ev = r.first("labs")
    out = dict(ev["labs"]) if ev else {}
    here = socket.gethostname()
    for meta in out.values():
        path = meta.get("playbook")
        meta["playbook_exists"] = (os.path.exists(path) if path and meta.get("controller") == here else None)
    return out
