"""Commands that take a playbook: `run`, `destroy`, `verify`, `graph` (and `drift`, in labs.py)."""

from __future__ import annotations

import json
import os
import sys

import click

from nsprov.cli import cli
from typing import Optional

from nsprov.cli.common import (connection_options, connections, console, drive, fail, host_settings, inventory_options,
                               lab_of, lab_options, limit_option, list_and_exit, listing_options, load_inventory,
                               place_option, playbook_options, plays_of, resolve_playbook, run_interruptible, run_options, select,
                               selection_options, startup_done, styled)


@cli.command()
@inventory_options
@playbook_options
@lab_options
@connection_options
@listing_options
@click.option("--check", "-C", is_flag=True, help="change nothing; report what would change")
@click.option("--diff", "-D", is_flag=True, help="show before/after for each change")
@click.option("--keep-undeclared", is_flag=True,
              help="keep what this lab made on a host and the playbook no longer declares (run removes it)")
@click.option("--persist", "persist", is_flag=True,
              help="keep the lab across reboots: a systemd unit on each host re-applies it at boot (a host without "
                   "systemd fails before any change; `persist: true` on a play asks the same, and only warns there)")
def run(inventories, playbook, lock_timeout, fail_fast, extra_vars, tags, skip_tags, verbose, lab, take_over, limit,
        reach, as_json, listing, check, diff, keep_undeclared, persist) -> None:
    """Bring hosts to the state a playbook declares, and remove what its lab made there and no
    longer declares: plays in order across hosts, one connection and one command per host."""
    from nsprov.model.protocol import apply_request
    inv, book, plans = resolve_playbook(inventories, playbook, limit, extra_vars, (tags, skip_tags))
    name = lab_of(book, lab)
    list_and_exit(book, plans, listing, as_json)
    options = run_options(reach, fail_fast)
    why = ("--tags/--skip-tags select a part of the playbook" if tags or skip_tags else
           "--keep-undeclared" if keep_undeclared else "")
    prune = {"enabled": not why, "why": why}
    kept = _persist("required" if persist else "wanted" if book.persist else None)

    def request(host: str) -> dict:
        return apply_request(name, plans[host].phases("tasks"), **host_settings(
            inv, host, lock_timeout, check=check, diff=diff, claim=book.claim, take_over=take_over, prune=prune,
            commanded=list(book.commanded), **kept))
    title = f"{'CHECK ' if check else ''}{book.path} (lab {name})"
    drive(inv, plans, request, options, {"as_json": as_json, "diff": diff, "verbose": verbose, "title": title,
                                         "plays": plays_of(book, plans), "crossings": book.crossings})


def _persist(mode: Optional[str]) -> dict:
    """A request's persist setting: MODE (required: --persist; wanted: persist: true), and the
    bootstrap the host's boot unit runs the kept agent with."""
    from nsprov.controller.bundle import bootstrap_code
    return {"persist": {"mode": mode, "bootstrap": bootstrap_code()}} if mode else {}


@cli.command()
@inventory_options
@lab_options
@click.argument("playbook", required=False, type=click.Path(dir_okay=False))
@place_option
@click.option("-e", "--extra-vars", "extra_vars", multiple=True, help="key=value, @file.yml or JSON")
@click.option("--lock-timeout", type=float, default=60.0, show_default=True,
              help="seconds to wait for another nsprov run on the same host to finish")
@click.option("--fail-fast", is_flag=True, help="stop every host at the first failure")
@click.option("-v", "--verbose", count=True)
@click.option("--keep-logs", is_flag=True, help="keep the lab's process logs (/var/lib/nsprov/log/LAB)")
@connection_options
@listing_options
@click.option("--check", "-C", is_flag=True, help="change nothing; report what would be removed")
def destroy(inventories, lab, take_over, playbook, extra_vars, lock_timeout, fail_fast, verbose, keep_logs, limit,
            reach, as_json, listing, check) -> None:
    """Remove exactly what nsprov made for a lab on its hosts, and restore sysctls. With a
    PLAYBOOK: its lab, the plays in reverse order across hosts (clients go before the servers
    they need). Without one: `--lab NAME` on every host of the inventory (or --limit), from their
    ledgers."""
    from nsprov.model.protocol import destroy_request, phase
    if playbook is None:
        _destroy_lab(inventories, lab, limit, {"as_json": as_json, "verbose": verbose, "check": check,
                                               "keep_logs": keep_logs, "lock_timeout": lock_timeout,
                                               "listing": listing}, (reach, fail_fast))
        return
    # what to remove comes from the hosts' ledgers: the tasks are rendered only to be listed
    inv, book, plans = resolve_playbook(inventories, playbook, limit, extra_vars, tasks=bool(listing))
    name = lab_of(book, lab)
    list_and_exit(book, plans, listing, as_json, reverse=True)
    options = run_options(reach, fail_fast)

    def request(host: str) -> dict:
        return destroy_request(name, [phase(k) for k in reversed(plans[host].plays)], **host_settings(
            inv, host, lock_timeout, check=check, claim=book.claim, take_over=take_over, keep_logs=keep_logs))
    drive(inv, plans, request, options, {"as_json": as_json, "diff": False, "verbose": verbose,
                                         "title": f"DESTROY lab {name} ({book.path})", "fold_modules": True,
                                         "plays": plays_of(book, plans, reverse=True)})


def _destroy_lab(inventories, lab: Optional[str], limit, report: dict, reach: tuple) -> None:
    """destroy --lab NAME, no playbook: every selected host removes what it recorded for NAME."""
    from nsprov.controller.resolve import HostPlan
    from nsprov.model.protocol import destroy_request, phase
    from nsprov.model.types import lab_name
    if not lab:
        fail("destroy needs a PLAYBOOK, or --lab NAME to destroy a lab from the hosts' ledgers")
    try:
        lab_name(lab)
    except ValueError as exc:
        fail(f"--lab: {exc}")
    inv = load_inventory(inventories)
    plans = {h: HostPlan(h) for h in select(inv, "all", limit)}
    if report["listing"] - {"hosts"}:
        fail("--list-tasks and --list-tags need the PLAYBOOK; destroy --lab takes what the hosts' ledgers hold")
    if report["listing"]:
        _list_lab_hosts(lab, list(plans), report["as_json"])
    options = run_options(*reach)

    def request(host: str) -> dict:
        return destroy_request(lab, [phase(0)], **host_settings(inv, host, report["lock_timeout"], check=report["check"],
                                                            keep_logs=report["keep_logs"]))
    drive(inv, plans, request, options, {"as_json": report["as_json"], "diff": False, "verbose": report["verbose"],
                                         "title": f"DESTROY lab {lab} (from the hosts' ledgers)", "fold_modules": True})


def _list_lab_hosts(lab: str, hosts: list, as_json: bool) -> None:
    """destroy --lab NAME --list-hosts: the hosts it would ask (each removes what its ledger holds)."""
    if as_json:
        click.echo(json.dumps({"event": "listing", "lab": lab, "hosts": hosts}))
    else:
        click.echo(f"lab {lab}: the hosts whose ledgers would be read\n    hosts ({len(hosts)}):\n" +
                   "".join(f"      {h}\n" for h in hosts), nl=False)
    sys.exit(0)


@cli.command()
@inventory_options
@selection_options
@limit_option
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="write a picture: .svg, .dot/.gv (Graphviz) or .mmd (Mermaid); default: a tree here")
def graph(inventories, playbook, output, extra_vars, limit, tags, skip_tags) -> None:
    """Draw the topology PLAYBOOK declares on each host: namespaces, bridges, veth pairs,
    addresses, routes, NAT, port forwards. From the playbook alone: no host is contacted."""
    from nsprov.controller.topology import topology
    from nsprov.reporting.graph import FORMATS, to_tree
    render = None
    if output:
        render = FORMATS.get(os.path.splitext(output)[1].lower())
        if render is None:
            fail(f"-o {output}: the extension picks the format, one of {', '.join(FORMATS)}")
    inv, book, plans = resolve_playbook(inventories, playbook, limit, extra_vars, (tags, skip_tags))
    hosts = topology(plans)
    title = f"{book.path}: {', '.join(p.name for p in book.plays)}"
    if render is None:
        console().print(to_tree(hosts, title))
        return
    with open(output, "w") as f:
        f.write(render(hosts, title))
    console(stderr=True).print(f"{output}: {len(hosts)} host(s), {sum(len(t.nodes) for t in hosts)} namespaces "
                               f"and bridges, {sum(len(t.edges) for t in hosts)} links", soft_wrap=True)


@cli.command()
@inventory_options
@playbook_options
@connection_options
@listing_options
def verify(inventories, playbook, lock_timeout, fail_fast, extra_vars, tags, skip_tags, verbose, limit, reach,
           as_json, listing) -> None:
    """Prove isolation on the hosts: the seed's experiments for every namespace set the playbook
    declares, and its verify tasks' reach/no_reach matrices. Exit 1 on any violation."""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.exits import exit_code
    from nsprov.model.protocol import recap_event, verify_request
    inv, book, plans = resolve_playbook(inventories, playbook, limit, extra_vars, (tags, skip_tags))
    plans = {h: p for h, p in plans.items() if p.sets or p.assertions}
    if not plans:
        fail(f"{playbook} declares no namespace sets and no verify tasks: nothing to verify")
    list_and_exit(book, plans, listing, as_json, proving=True)
    options = run_options(reach, fail_fast)
    conns = connections(inv, list(plans), {h: p.become for h, p in plans.items()})
    rows: list = []
    sink = None
    if as_json:
        from nsprov.reporting.jsonl import JsonLines
        sink = JsonLines()

    def on_event(host: str, ev: dict) -> None:
        if ev.get("event") == "check":
            rows.append((host, ev))
        if sink:
            sink(host, ev)
    startup_done()
    request = {h: verify_request(p.phases("checks")) for h, p in plans.items()}
    plays = plays_of(book, plans)
    if as_json:
        results = run_interruptible(conns, load_bundle(), request.get, options, on_event, plays)
    else:
        out = console()
        with out.status(f"verifying {len(conns)} host(s)"):
            results = run_interruptible(conns, load_bundle(), request.get, options, on_event, plays)
    failed = [r for r in rows if not r[1]["passed"]]
    from nsprov.reporting.checks import ping_matrix, render_matrix
    matrix = ping_matrix(rows, book.addresses) if book.addresses else {}
    if sink:
        if matrix:
            sink.write({"event": "matrix", "from": matrix})
        sink.write(recap_event({h: r.counts for h, r in results.items()}, checks=len(rows), failed=len(failed)))
    else:
        from nsprov.reporting.checks import render_checks
        order = {h: i for i, h in enumerate(plans)}   # inventory order; each host's checks as they came
        out.print(render_checks(sorted(rows, key=lambda row: order[row[0]])))
        if matrix:
            out.print(render_matrix(matrix))
        for h, r in results.items():
            if r.status != "ok" and r.error:
                out.print(styled((f"{h}: {r.status.upper()}", "bold red"), f": {r.error}"), soft_wrap=True)
        out.print(styled(f"{len(rows) - len(failed)} of {len(rows)} check(s) passed",
                         *([", ", (f"{len(failed)} failed", "bold red")] if failed else [])))
    sys.exit(exit_code(results, violated=bool(failed)))
