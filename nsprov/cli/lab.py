"""`nsprov lab`: local lab hosts, each a set of namespaces on this machine with a real sshd."""

from __future__ import annotations

import json
import sys
import time

import click

from nsprov.cli import cli
from nsprov.cli.common import EXIT_FAILED, console, fail


@cli.group()
def lab() -> None:
    """Local lab hosts: namespace sets on this machine, each with a real sshd."""


_dir_option = click.option("--dir", "directory", default=".nsprov-lab", show_default=True,
                           type=click.Path(file_okay=False), help="where the lab keeps its state and files")


def _lab(directory: str):
    from nsprov.lab import Lab, missing_requirements
    problems = missing_requirements()
    if problems:
        fail(problems[0])
    return Lab(directory)


@lab.command("up")
@click.option("--hosts", "count", type=int, default=3, show_default=True, help="number of hosts (lab1..labN)")
@_dir_option
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of a table")
def lab_up(count: int, directory: str, as_json: bool) -> None:
    """Start hosts lab1..labN (a no-op for hosts already up) and write DIR/inventory.yml."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nsprov.lab import LabError
    from nsprov.reporting.lab import render_status
    the_lab = _lab(directory)
    began = time.monotonic()
    out = console(stderr=as_json)
    try:
        with Progress(TextColumn("lab hosts"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=out, transient=True, disable=as_json) as progress:
            task = progress.add_task("up", total=count)
            started = the_lab.up(count, lambda done, total: progress.update(task, completed=done, total=total))
    except LabError as exc:
        fail(f"lab up: {exc}")
    elapsed = time.monotonic() - began
    hosts = the_lab.status()
    if as_json:
        click.echo(json.dumps({"event": "lab", "dir": str(the_lab.dir), "started": started,
                               "seconds": round(elapsed, 3),
                               "hosts": {h.name: {"address": h.address, "pid": h.pid, "sshd": h.sshd_listening}
                                         for h in hosts}}))
        return
    out.print(render_status(hosts, str(the_lab.dir)))
    out.print(f"started {len(started)} host(s) in {elapsed:.2f} s; "
                  f"inventory: {the_lab.dir}/inventory.yml; try: ssh -F {the_lab.dir}/ssh_config lab1 hostname")


@lab.command("down")
@_dir_option
def lab_down(directory: str) -> None:
    """Stop every lab host and remove every trace (processes, namespaces, links, nft, files)."""
    from nsprov.lab import LabError
    the_lab = _lab(directory)
    try:
        removed = the_lab.down()
    except LabError as exc:
        fail(f"lab down: {exc}")
    console().print(f"lab in {the_lab.dir}: removed {len(removed)} object(s)" +
                     "".join(f"\n  - {r}" for r in removed))


@lab.command("status")
@_dir_option
@click.option("--json", "as_json", is_flag=True)
def lab_status(directory: str, as_json: bool) -> None:
    """List the lab's hosts with address, PID and whether sshd is alive."""
    from nsprov.lab import Lab
    from nsprov.reporting.lab import render_status
    the_lab = Lab(directory)
    hosts = the_lab.status()
    if as_json:
        click.echo(json.dumps({h.name: {"address": h.address, "pid": h.pid, "alive": h.alive,
                                        "sshd": h.sshd_listening} for h in hosts}))
        return
    if not hosts:
        console().print(f"no lab in {the_lab.dir} (start one with: nsprov lab up --dir {directory})")
        return
    console().print(render_status(hosts, str(the_lab.dir)))
    if not all(h.sshd_listening for h in hosts):
        sys.exit(EXIT_FAILED)


