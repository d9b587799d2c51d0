"""Commands about hosts rather than playbooks: `inventory list|from-vagrant`, `facts`, `exec`."""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from nsprov.cli import cli
from nsprov.cli.common import (EXIT_BAD_INPUT, EXIT_FAILED, connection_options, connections, console, fail,
                               inventory_options, load_inventory, reach_options, run_options, select, startup_done,
                               styled)


@cli.group()
def inventory() -> None:
    """Inspect inventories the way ansible-inventory does."""


@inventory.command("list")
@inventory_options
@click.option("--graph", "graph", is_flag=True, help="print the group tree instead of JSON")
@click.option("--json", "as_json", is_flag=True, help="JSON output (the default, as ansible-inventory --list)")
@click.argument("group", required=False, default="all")
def inventory_list(inventories, graph: bool, as_json: bool, group: str) -> None:
    """Print the inventory as `ansible-inventory --list` (or `--graph [GROUP]`) would."""
    inv = load_inventory(inventories)
    if graph:
        if group not in inv.groups:
            fail(f"no group named {group!r}")
        click.echo(inv.graph(group))
    else:
        click.echo(json.dumps(inv.as_ansible_list(), indent=4, sort_keys=True, ensure_ascii=False))


@inventory.command("from-vagrant")
@click.argument("vagrant_dir", required=False, default=".", type=click.Path(file_okay=False))
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="write the inventory here (default: stdout)")
@click.option("--known-hosts", default=None, type=click.Path(dir_okay=False),
              help="where to write the VMs' host keys (default: known_hosts next to -o, "
                   "or VAGRANT_DIR/.vagrant/nsprov_known_hosts)")
@click.option("--group", default="vagrant", show_default=True, help="group the machines go in")
@click.option("--console-dir", default=None, type=click.Path(file_okay=False),
              help="where the VMs' serial consoles are logged (default: VAGRANT_DIR/.console)")
@click.option("--trust-first-use", is_flag=True,
              help="for boxes that print no host keys: take whatever ssh-keyscan gets (trust on first use)")
def inventory_from_vagrant(vagrant_dir, output, known_hosts, group, console_dir, trust_first_use) -> None:
    """An inventory from `vagrant ssh-config`, host keys from the VMs' own consoles."""
    from nsprov.controller.vagrant import VagrantError, from_vagrant
    if known_hosts is None:
        known_hosts = (os.path.join(os.path.dirname(os.path.abspath(output)), "known_hosts") if output
                       else os.path.join(vagrant_dir, ".vagrant", "nsprov_known_hosts"))
    try:
        text, counts = from_vagrant(vagrant_dir, known_hosts, group, console_dir, trust_first_use)
    except VagrantError as exc:
        fail(str(exc))
    if output:
        with open(output, "w") as f:
            f.write(text)
        console(stderr=True).print(f"{output}: {len(counts)} hosts ({', '.join(counts)}); host keys in "
                                    f"{os.path.abspath(known_hosts)} ({sum(counts.values())} keys)")
    else:
        click.echo(text, nl=False)


@cli.command()
@inventory_options
@connection_options
def facts(inventories, limit, reach, as_json) -> None:
    """Kernel capabilities, namespaces, links per netns and nsprov's objects, per host."""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.exits import exit_code
    from nsprov.controller.runner import run_on_hosts
    from nsprov.model.protocol import facts_request, recap_event
    inv = load_inventory(inventories)
    hosts = select(inv, "all", limit)
    options = run_options(reach)
    conns = connections(inv, hosts)
    bundle = load_bundle()
    request = facts_request()
    if as_json:
        from nsprov.reporting.jsonl import JsonLines
        sink = JsonLines()
        startup_done()
        results = run_on_hosts(conns, bundle, lambda h: request, options, sink)
        sink.write(recap_event({h: r.counts for h, r in results.items()}))
    else:
        from nsprov.reporting.facts import render_facts
        out = console()
        startup_done()
        with out.status(f"gathering facts from {len(conns)} host(s)"):
            results = run_on_hosts(conns, bundle, lambda h: request, options, lambda h, e: None)
        for host, r in results.items():
            ev = r.first("facts")
            if r.status == "ok" and ev:
                out.print(render_facts(host, ev["facts"]))
            else:
                out.print(styled((f"{host}: {r.status.upper()}", "bold red"), f": {r.error}"), soft_wrap=True)
    sys.exit(exit_code(results))


@cli.command("exec", context_settings={"ignore_unknown_options": True})
@inventory_options
@functools.partial(reach_options, forks=False)
@click.argument("host")
@click.argument("namespace")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(inventories, reach, host, namespace, command) -> None:
    """Run COMMAND inside namespace set (or netns) NAMESPACE on HOST; its output and exit status
    are yours. Example: nsprov exec -i inv.yml lab1 box1 -- hostname"""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.runner import run_on_host
    from nsprov.model.protocol import exec_request
    inv = load_inventory(inventories)
    if host not in inv.hosts:
        fail(f"no host {host!r} in the inventory")
    status = {"rc": None}

    def on_event(h: str, ev: dict) -> None:
        if ev.get("event") == "output":
            stream = sys.stdout if ev["stream"] == "stdout" else sys.stderr
            stream.write(ev["data"])
            stream.flush()
        elif ev.get("event") == "exit":
            status["rc"] = ev["status"]
    options = run_options(reach)
    startup_done()
    result = run_on_host(connections(inv, [host])[0], load_bundle(), exec_request(namespace, list(command)),
                         options, on_event)
    if result.status != "ok" or status["rc"] is None:
        bad_input = result.status == "unreachable" or result.error_type == "ProtocolError"
        fail(f"{host}: {result.error or 'the command did not run'}", EXIT_BAD_INPUT if bad_input else EXIT_FAILED)
    sys.exit(status["rc"])
