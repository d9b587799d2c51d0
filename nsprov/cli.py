"""The `nsprov` command line. The only place that prints to the terminal directly and exits.

Exit codes: 0 all good, 1 a task failed or a check was violated, 2 bad input or unreachable host.
Heavy imports (fabric, pyroute2, jinja2) happen inside the commands that need them, so
`nsprov --help` and friends start fast.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

import click

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _console(stderr: bool = False):
    """Markup off: whatever comes from users or hosts (`[usa:children]`, a name with brackets)
    is printed verbatim; styles come from rich Text objects only."""
    from rich.console import Console
    return Console(stderr=stderr, highlight=False, markup=False)


def _styled(*parts):
    """A rich Text from (text, style) pairs and plain strings, never parsed as markup."""
    from rich.text import Text
    return Text.assemble(*parts)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    _console(stderr=True).print(_styled(("error:", "bold red"), " ", message), soft_wrap=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nsprov")
def cli() -> None:
    """Provision Linux namespaces on remote hosts over SSH, and prove the isolation holds."""


def main() -> None:
    """The `nsprov` command. A run is a short-lived process whose start-up (imports of paramiko,
    cryptography, jinja2, click, yaml) leaves ~66,000 objects the cyclic collector tracks, all
    alive until exit. The collector would walk them again and again while they are imported, and
    once more at exit (tens of ms; figures in the README's speed section). So collection is off during start-up,
    the start-up objects are frozen out of every later collection when the work begins
    (`_startup_done`), and everything is frozen at exit, where the interpreter frees it anyway."""
    gc.disable()
    if not sys.warnoptions:   # Python's own warnings (a SyntaxWarning from an odd literal) are not for users
        import warnings
        warnings.simplefilter("ignore")
    try:
        cli(prog_name="nsprov")
    finally:
        gc.freeze()


def _startup_done() -> None:
    """Called once a command has imported what it needs, before it talks to hosts: what exists
    now lives until exit, so later collections skip it; collection is back on for the rest."""
    gc.freeze()
    gc.enable()


# ------------------------------------------------------------------------- lab
@cli.group()
def lab() -> None:
    """Local lab hosts: namespace sets on this machine, each with a real sshd."""


_dir_option = click.option("--dir", "directory", default=".nsprov-lab", show_default=True,
                           type=click.Path(file_okay=False), help="where the lab keeps its state and files")


def _lab(directory: str):
    from nsprov.lab import Lab, missing_requirements
    problems = missing_requirements()
    if problems:
        _fail(problems[0])
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
    console = _console(stderr=as_json)
    try:
        with Progress(TextColumn("lab hosts"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True, disable=as_json) as progress:
            task = progress.add_task("up", total=count)
            started = the_lab.up(count, lambda done, total: progress.update(task, completed=done, total=total))
    except LabError as exc:
        _fail(f"lab up: {exc}")
    elapsed = time.monotonic() - began
    hosts = the_lab.status()
    if as_json:
        click.echo(json.dumps({"event": "lab", "dir": str(the_lab.dir), "started": started,
                               "seconds": round(elapsed, 3),
                               "hosts": {h.name: {"address": h.address, "pid": h.pid, "sshd": h.sshd_listening}
                                         for h in hosts}}))
        return
    console.print(render_status(hosts, str(the_lab.dir)))
    console.print(f"started {len(started)} host(s) in {elapsed:.2f} s; "
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
        _fail(f"lab down: {exc}")
    _console().print(f"lab in {the_lab.dir}: removed {len(removed)} object(s)" +
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
        _console().print(f"no lab in {the_lab.dir} (start one with: nsprov lab up --dir {directory})")
        return
    _console().print(render_status(hosts, str(the_lab.dir)))
    if not all(h.sshd_listening for h in hosts):
        sys.exit(EXIT_FAILED)


# ------------------------------------------------------------------- inventory + hosts
def _inventory_options(f):
    f = click.option("-i", "--inventory", "inventories", multiple=True, required=True,
                     help="inventory file, directory or 'host1,host2,' (repeatable)")(f)
    return f


def _load_inventory(inventories: tuple[str, ...]):
    from nsprov.controller.inventory import load_inventory
    from nsprov.controller.yamlsrc import InputError
    try:
        return load_inventory(inventories)
    except InputError as exc:
        _fail("bad inventory:\n" + "\n".join(f"  {p}" for p in exc.problems))


def _select(inv, pattern: str, limit: str | None) -> list[str]:
    from nsprov.controller.patterns import PatternError, select_hosts
    try:
        hosts = select_hosts(inv, pattern)
        if limit:
            allowed = set(select_hosts(inv, limit))
            hosts = [h for h in hosts if h in allowed]
    except (PatternError, ValueError) as exc:
        _fail(f"bad host pattern: {exc}")
    if not hosts:
        _fail(f"no hosts match {pattern!r}" + (f" with --limit {limit!r}" if limit else ""))
    return hosts


def _connections(inv, hosts: list, become: dict | None = None) -> list:
    """How to reach each host; a bad connection variable is bad input (exit 2), not a traceback."""
    import dataclasses

    from nsprov.controller.yamlsrc import InputError
    try:
        conns = [inv.connection(h) for h in hosts]
    except InputError as exc:
        _fail("bad inventory:\n" + "\n".join(f"  {p}" for p in exc.problems))
    if become:
        conns = [dataclasses.replace(c, become=c.become or become.get(c.name, False)) for c in conns]
    return conns


def _run_options(forks: int, accept_new: bool, ask_become_pass: bool):
    from nsprov.controller.runner import RunOptions
    password = None
    if ask_become_pass:
        if sys.stdin.isatty():
            password = click.prompt("BECOME password", hide_input=True, err=True)
        else:   # piped in (scripts, tests): one line, never echoed anywhere
            password = sys.stdin.readline().rstrip("\n")
    return RunOptions(forks=forks, accept_new_host_keys=accept_new, become_password=password)


_limit_option = click.option("--limit", "-l", default=None, help="further limit hosts with a pattern")


def _connection_options(f):
    f = click.option("--forks", "-f", type=int, default=10, show_default=True, help="hosts at a time")(f)
    f = click.option("--accept-new-host-keys", is_flag=True,
                     help="remember unknown host keys (like ssh accept-new); changed keys still fail")(f)
    f = click.option("-K", "--ask-become-pass", is_flag=True, help="ask for the sudo password")(f)
    f = _limit_option(f)
    f = click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout")(f)
    return f


@cli.group()
def inventory() -> None:
    """Inspect inventories the way ansible-inventory does."""


@inventory.command("list")
@_inventory_options
@click.option("--graph", "graph", is_flag=True, help="print the group tree instead of JSON")
@click.option("--json", "as_json", is_flag=True, help="JSON output (the default, as ansible-inventory --list)")
@click.argument("group", required=False, default="all")
def inventory_list(inventories, graph: bool, as_json: bool, group: str) -> None:
    """Print the inventory as `ansible-inventory --list` (or `--graph [GROUP]`) would."""
    inv = _load_inventory(inventories)
    if graph:
        if group not in inv.groups:
            _fail(f"no group named {group!r}")
        click.echo(inv.graph(group))
    else:
        click.echo(json.dumps(inv.as_ansible_list(), indent=4, sort_keys=True))


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
        _fail(str(exc))
    if output:
        with open(output, "w") as f:
            f.write(text)
        _console(stderr=True).print(f"{output}: {len(counts)} hosts ({', '.join(counts)}); host keys in "
                                    f"{os.path.abspath(known_hosts)} ({sum(counts.values())} keys)")
    else:
        click.echo(text, nl=False)


# ------------------------------------------------------------------------- facts
@cli.command()
@_inventory_options
@_connection_options
def facts(inventories, limit, forks, accept_new_host_keys, ask_become_pass, as_json) -> None:
    """Kernel capabilities, namespaces, links per netns and nsprov's objects, per host."""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.runner import run_on_hosts
    inv = _load_inventory(inventories)
    hosts = _select(inv, "all", limit)
    options = _run_options(forks, accept_new_host_keys, ask_become_pass)
    conns = _connections(inv, hosts)
    bundle = load_bundle()
    request = {"protocol": 1, "op": "facts"}
    if as_json:
        from nsprov.reporting.jsonl import JsonLines
        sink = JsonLines()
        _startup_done()
        results = run_on_hosts(conns, bundle, lambda h: request, options, sink)
        sink.write({"event": "recap", "hosts": {h: {"ok": int(r.status == "ok"), "changed": 0,
                                                    "failed": int(r.status == "failed"), "skipped": 0,
                                                    "unreachable": r.status == "unreachable"}
                                                for h, r in results.items()}})
    else:
        from nsprov.reporting.facts import render_facts
        console = _console()
        _startup_done()
        with console.status(f"gathering facts from {len(conns)} host(s)"):
            results = run_on_hosts(conns, bundle, lambda h: request, options, lambda h, e: None)
        for host, r in results.items():
            ev = r.first("facts")
            if r.status == "ok" and ev:
                console.print(render_facts(host, ev["facts"]))
            else:
                console.print(_styled((f"{host}: {r.status.upper()}", "bold red"), f": {r.error}"), soft_wrap=True)
    statuses = {r.status for r in results.values()}
    sys.exit(EXIT_BAD_INPUT if "unreachable" in statuses else EXIT_FAILED if "failed" in statuses else EXIT_OK)


# --------------------------------------------------------------------- run, destroy
def _extra_vars(values: tuple) -> dict:
    import shlex
    from pathlib import Path

    from nsprov.controller.yamlsrc import InputError, load_yaml, plain
    out: dict = {}
    for v in values:
        if v.startswith("@"):
            try:
                data = load_yaml(Path(v[1:]))
            except InputError as exc:
                _fail(f"-e {v}: " + "; ".join(str(p) for p in exc.problems))
            if not isinstance(data, dict):
                _fail(f"-e {v}: must hold a mapping")
            out.update(plain(data))
        elif v.lstrip().startswith("{"):
            try:
                out.update(json.loads(v))
            except ValueError as exc:
                _fail(f"-e {v!r}: {exc}")
        else:
            for pair in shlex.split(v):
                if "=" not in pair:
                    _fail(f"-e {pair!r}: expected key=value, @file.yml or JSON")
                k, val = pair.split("=", 1)
                out[k] = val
    return out


def _selection_options(f):
    """A playbook and what picks its tasks: for every command that resolves one."""
    f = click.argument("playbook", type=click.Path(dir_okay=False))(f)
    f = click.option("-e", "--extra-vars", "extra_vars", multiple=True, help="key=value, @file.yml or JSON")(f)
    f = click.option("--tags", "-t", "tags", default="", help="only tasks with these tags (comma separated)")(f)
    f = click.option("--skip-tags", "skip_tags", default="", help="skip tasks with these tags")(f)
    return f


def _playbook_options(f):
    f = _selection_options(f)
    f = click.option("--lock-timeout", type=float, default=60.0, show_default=True,
                     help="seconds to wait for another nsprov run on the same host to finish")(f)
    f = click.option("-v", "--verbose", count=True)(f)
    return f


def _resolve_playbook(inventories, playbook, limit, extra_vars, tags, skip_tags):
    from nsprov.controller.playbook import load_playbook_lenient, resolve
    from nsprov.controller.yamlsrc import InputError
    inv = _load_inventory(inventories)
    problems: list = []
    try:
        book, problems = load_playbook_lenient(playbook)
        plans = resolve(book, inv, limit=limit, extra_vars=_extra_vars(extra_vars),
                        tags=tuple(t for t in tags.split(",") if t), skip_tags=tuple(t for t in skip_tags.split(",") if t))
    except InputError as exc:
        problems = problems + exc.problems
    if problems:
        problems.sort(key=lambda p: (p.file, p.line))
        _fail(f"{len(problems)} problem(s) in the input; no host was touched:\n" +
              "\n".join(f"  {p}" for p in problems))
    if not plans:
        _fail(f"no hosts matched by the plays of {playbook}" + (f" with --limit {limit!r}" if limit else ""))
    return inv, book, plans


def _drive(inv, plans: dict, make_request, options, as_json: bool, diff: bool, verbose: int, title: str) -> None:
    """Run one request per host, report, print the recap, exit with the right code."""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.runner import run_on_hosts
    from nsprov.reporting.recap import recap_event
    conns = _connections(inv, list(plans), {h: p.become for h, p in plans.items()})
    bundle = load_bundle()
    if as_json:
        from nsprov.reporting.jsonl import JsonLines
        sink = JsonLines(registers={h: p.registers for h, p in plans.items()})
        _startup_done()
        results = run_on_hosts(conns, bundle, make_request, options, sink)
        sink.write(recap_event(results))
    else:
        from nsprov.reporting.console import ConsoleReporter, render_recap
        console = _console()
        totals = {h: len(plans[h].tasks) for h in plans}
        _startup_done()
        with ConsoleReporter(console, list(plans), totals, diff=diff, verbose=verbose, title=title) as reporter:
            results = run_on_hosts(conns, bundle, make_request, options, reporter)
        console.print(render_recap(results))
    statuses = {r.status for r in results.values()}
    sys.exit(EXIT_BAD_INPUT if "unreachable" in statuses else EXIT_FAILED if "failed" in statuses else EXIT_OK)


@cli.command()
@_inventory_options
@_playbook_options
@_connection_options
@click.option("--check", "-C", is_flag=True, help="change nothing; report what would change")
@click.option("--diff", "-D", is_flag=True, help="show before/after for each change")
def run(inventories, playbook, lock_timeout, extra_vars, tags, skip_tags, verbose, limit, forks,
        accept_new_host_keys, ask_become_pass, as_json, check, diff) -> None:
    """Bring hosts to the state a playbook declares (one request per host)."""
    inv, book, plans = _resolve_playbook(inventories, playbook, limit, extra_vars, tags, skip_tags)
    options = _run_options(forks, accept_new_host_keys, ask_become_pass)

    def request(host: str) -> dict:
        return {"protocol": 1, "op": "apply", "owner": book.owner, "check": check, "diff": diff,
                "tasks": plans[host].tasks, "firewall": inv.host_vars(host).get("nsprov_firewall"),
                "lock_timeout": lock_timeout}
    title = f"{'CHECK ' if check else ''}{book.path}: {', '.join(p.name for p in book.plays)}"
    _drive(inv, plans, request, options, as_json, diff, verbose, title)


@cli.command()
@_inventory_options
@_playbook_options
@_connection_options
@click.option("--check", "-C", is_flag=True, help="change nothing; report what would be removed")
def destroy(inventories, playbook, lock_timeout, extra_vars, tags, skip_tags, verbose, limit, forks,
            accept_new_host_keys, ask_become_pass, as_json, check) -> None:
    """Remove exactly what nsprov created for a playbook on its hosts, and restore sysctls."""
    inv, book, plans = _resolve_playbook(inventories, playbook, limit, extra_vars, "", "")
    options = _run_options(forks, accept_new_host_keys, ask_become_pass)

    def request(host: str) -> dict:
        return {"protocol": 1, "op": "destroy", "owner": book.owner, "check": check,
                "firewall": inv.host_vars(host).get("nsprov_firewall"), "lock_timeout": lock_timeout}
    _drive(inv, plans, request, options, as_json, False, verbose, f"DESTROY {book.path}")


# ------------------------------------------------------------------------- graph
@cli.command()
@_inventory_options
@_selection_options
@_limit_option
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
            _fail(f"-o {output}: the extension picks the format, one of {', '.join(FORMATS)}")
    inv, book, plans = _resolve_playbook(inventories, playbook, limit, extra_vars, tags, skip_tags)
    hosts = topology(plans)
    title = f"{book.path}: {', '.join(p.name for p in book.plays)}"
    if render is None:
        _console().print(to_tree(hosts, title))
        return
    with open(output, "w") as f:
        f.write(render(hosts, title))
    _console(stderr=True).print(f"{output}: {len(hosts)} host(s), {sum(len(t.nodes) for t in hosts)} namespaces "
                                f"and bridges, {sum(len(t.edges) for t in hosts)} links", soft_wrap=True)


# ------------------------------------------------------------------- verify, exec
@cli.command()
@_inventory_options
@_playbook_options
@_connection_options
def verify(inventories, playbook, lock_timeout, extra_vars, tags, skip_tags, verbose, limit, forks,
           accept_new_host_keys, ask_become_pass, as_json) -> None:
    """Prove isolation on the hosts: the seed's experiments for every namespace set the playbook
    declares, and its verify tasks' reach/no_reach matrices. Exit 1 on any violation."""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.runner import run_on_hosts
    inv, book, plans = _resolve_playbook(inventories, playbook, limit, extra_vars, tags, skip_tags)
    plans = {h: p for h, p in plans.items() if p.sets or p.assertions}
    if not plans:
        _fail(f"{playbook} declares no namespace sets and no verify tasks: nothing to verify")
    options = _run_options(forks, accept_new_host_keys, ask_become_pass)
    conns = _connections(inv, list(plans), {h: p.become for h, p in plans.items()})

    def request(host: str) -> dict:
        return {"protocol": 1, "op": "verify", "sets": plans[host].sets, "assertions": plans[host].assertions}
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
    _startup_done()
    if as_json:
        results = run_on_hosts(conns, load_bundle(), request, options, on_event)
    else:
        console = _console()
        with console.status(f"verifying {len(conns)} host(s)"):
            results = run_on_hosts(conns, load_bundle(), request, options, on_event)
    failed = [r for r in rows if not r[1]["passed"]]
    if sink:
        sink.write({"event": "recap", "checks": len(rows), "failed": len(failed),
                    "hosts": {h: {"status": r.status, "error": r.error} for h, r in results.items()}})
    else:
        from nsprov.reporting.checks import render_checks
        console.print(render_checks(rows))
        for h, r in results.items():
            if r.status != "ok" and r.error:
                console.print(_styled((f"{h}: {r.status.upper()}", "bold red"), f": {r.error}"), soft_wrap=True)
        console.print(_styled(f"{len(rows) - len(failed)} of {len(rows)} check(s) passed",
                              *([", ", (f"{len(failed)} failed", "bold red")] if failed else [])))
    statuses = {r.status for r in results.values()}
    sys.exit(EXIT_BAD_INPUT if "unreachable" in statuses else EXIT_FAILED if failed or "failed" in statuses
             else EXIT_OK)


@cli.command("exec", context_settings={"ignore_unknown_options": True})
@_inventory_options
@click.option("--accept-new-host-keys", is_flag=True)
@click.option("-K", "--ask-become-pass", is_flag=True)
@click.argument("host")
@click.argument("namespace")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(inventories, accept_new_host_keys, ask_become_pass, host, namespace, command) -> None:
    """Run COMMAND inside namespace set (or netns) NAMESPACE on HOST; its output and exit status
    are yours. Example: nsprov exec -i inv.yml lab1 box1 -- hostname"""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.runner import run_on_host
    inv = _load_inventory(inventories)
    if host not in inv.hosts:
        _fail(f"no host {host!r} in the inventory")
    status = {"rc": None}

    def on_event(h: str, ev: dict) -> None:
        if ev.get("event") == "output":
            stream = sys.stdout if ev["stream"] == "stdout" else sys.stderr
            stream.write(ev["data"])
            stream.flush()
        elif ev.get("event") == "exit":
            status["rc"] = ev["status"]
    options = _run_options(1, accept_new_host_keys, ask_become_pass)
    _startup_done()
    result = run_on_host(_connections(inv, [host])[0], load_bundle(),
                         {"protocol": 1, "op": "exec", "namespace": namespace, "command": list(command)},
                         options, on_event)
    if result.status != "ok" or status["rc"] is None:
        bad_input = result.status == "unreachable" or (result.error or "").startswith("ProtocolError")
        _fail(f"{host}: {result.error or 'the command did not run'}", EXIT_BAD_INPUT if bad_input else EXIT_FAILED)
    sys.exit(status["rc"])


if __name__ == "__main__":
    main()
