"""Commands that take a playbook: `run`, `destroy`, `verify`, `graph`."""

from __future__ import annotations

import os
import sys

import click

from nsprov.cli import cli
from nsprov.cli.common import (connection_options, connections, console, drive, fail, inventory_options,
                               limit_option, playbook_options, plays_of, resolve_playbook, run_interruptible,
                               run_options, selection_options, startup_done, styled)


@cli.command()
@inventory_options
@playbook_options
@connection_options
@click.option("--check", "-C", is_flag=True, help="change nothing; report what would change")
@click.option("--diff", "-D", is_flag=True, help="show before/after for each change")
def run(inventories, playbook, lock_timeout, fail_fast, extra_vars, tags, skip_tags, verbose, limit, forks,
        accept_new_host_keys, ask_become_pass, as_json, check, diff) -> None:
    """Bring hosts to the state a playbook declares: plays in order across hosts, one
    connection and one command per host."""
    from nsprov.model.protocol import apply_request
    inv, book, plans = resolve_playbook(inventories, playbook, limit, extra_vars, tags, skip_tags)
    options = run_options(forks, accept_new_host_keys, ask_become_pass, fail_fast)

    def request(host: str) -> dict:
        return apply_request(book.owner, plans[host].phases("tasks"), check=check, diff=diff,
                             firewall=inv.host_vars(host).get("nsprov_firewall"), lock_timeout=lock_timeout)
    title = f"{'CHECK ' if check else ''}{book.path}"
    drive(inv, plans, request, options, {"as_json": as_json, "diff": diff, "verbose": verbose, "title": title,
                                         "plays": plays_of(book, plans)})


@cli.command()
@inventory_options
@playbook_options
@connection_options
@click.option("--check", "-C", is_flag=True, help="change nothing; report what would be removed")
def destroy(inventories, playbook, lock_timeout, fail_fast, extra_vars, tags, skip_tags, verbose, limit, forks,
            accept_new_host_keys, ask_become_pass, as_json, check) -> None:
    """Remove exactly what nsprov created for a playbook on its hosts, and restore sysctls:
    the plays in reverse order across hosts (clients go before the servers they need)."""
    from nsprov.model.protocol import destroy_request, phase
    inv, book, plans = resolve_playbook(inventories, playbook, limit, extra_vars, "", "")
    options = run_options(forks, accept_new_host_keys, ask_become_pass, fail_fast)

    def request(host: str) -> dict:
        return destroy_request(book.owner, [phase(k) for k in reversed(plans[host].plays)], check=check,
                               firewall=inv.host_vars(host).get("nsprov_firewall"), lock_timeout=lock_timeout)
    drive(inv, plans, request, options, {"as_json": as_json, "diff": False, "verbose": verbose,
                                         "title": f"DESTROY {book.path}", "plays": plays_of(book, plans, reverse=True)})


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
    inv, book, plans = resolve_playbook(inventories, playbook, limit, extra_vars, tags, skip_tags)
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
def verify(inventories, playbook, lock_timeout, fail_fast, extra_vars, tags, skip_tags, verbose, limit, forks,
           accept_new_host_keys, ask_become_pass, as_json) -> None:
    """Prove isolation on the hosts: the seed's experiments for every namespace set the playbook
    declares, and its verify tasks' reach/no_reach matrices. Exit 1 on any violation."""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.runner import exit_code
    from nsprov.model.protocol import recap_event, verify_request
    inv, book, plans = resolve_playbook(inventories, playbook, limit, extra_vars, tags, skip_tags)
    plans = {h: p for h, p in plans.items() if p.sets or p.assertions}
    if not plans:
        fail(f"{playbook} declares no namespace sets and no verify tasks: nothing to verify")
    options = run_options(forks, accept_new_host_keys, ask_become_pass, fail_fast)
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
    if sink:
        sink.write(recap_event({h: {"status": r.status, "error": r.error} for h, r in results.items()},
                               checks=len(rows), failed=len(failed)))
    else:
        from nsprov.reporting.checks import render_checks
        out.print(render_checks(rows))
        for h, r in results.items():
            if r.status != "ok" and r.error:
                out.print(styled((f"{h}: {r.status.upper()}", "bold red"), f": {r.error}"), soft_wrap=True)
        out.print(styled(f"{len(rows) - len(failed)} of {len(rows)} check(s) passed",
                         *([", ", (f"{len(failed)} failed", "bold red")] if failed else [])))
    sys.exit(exit_code(results, violated=bool(failed)))
