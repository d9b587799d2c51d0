"""What the commands share: the console, options, loading the inventory and the playbook, and
driving one request per host to its reporter and its exit code. The only place that exits."""

from __future__ import annotations

import json
import sys
from typing import Optional

import click

from nsprov.controller.runner import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK  # noqa: F401 (re-exported)


def console(stderr: bool = False):
    """Markup off: whatever comes from users or hosts (`[usa:children]`, a name with brackets)
    is printed verbatim; styles come from rich Text objects only."""
    from rich.console import Console
    return Console(stderr=stderr, highlight=False, markup=False)


def styled(*parts):
    """A rich Text from (text, style) pairs and plain strings, never parsed as markup."""
    from rich.text import Text
    return Text.assemble(*parts)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    console(stderr=True).print(styled(("error:", "bold red"), " ", message), soft_wrap=True)
    sys.exit(code)


def startup_done() -> None:
    """Called once a command has imported what it needs, before it talks to hosts: what exists
    now lives until exit, so later collections skip it; collection is back on for the rest."""
    import gc
    gc.freeze()
    gc.enable()


# ------------------------------------------------------------------------- options
def inventory_options(f):
    return click.option("-i", "--inventory", "inventories", multiple=True, required=True,
                        help="inventory file, directory or 'host1,host2,' (repeatable)")(f)


limit_option = click.option("--limit", "-l", default=None, help="further limit hosts with a pattern")


def connection_options(f):
    f = click.option("--forks", "-f", type=int, default=10, show_default=True, help="hosts at a time")(f)
    f = click.option("--accept-new-host-keys", is_flag=True,
                     help="remember unknown host keys (like ssh accept-new); changed keys still fail")(f)
    f = click.option("-K", "--ask-become-pass", is_flag=True, help="ask for the sudo password")(f)
    f = limit_option(f)
    f = click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout")(f)
    return f


def selection_options(f):
    """A playbook and what picks its tasks: for every command that resolves one."""
    f = click.argument("playbook", type=click.Path(dir_okay=False))(f)
    f = click.option("-e", "--extra-vars", "extra_vars", multiple=True, help="key=value, @file.yml or JSON")(f)
    f = click.option("--tags", "-t", "tags", default="", help="only tasks with these tags (comma separated)")(f)
    f = click.option("--skip-tags", "skip_tags", default="", help="skip tasks with these tags")(f)
    return f


def lab_options(f):
    """Which lab a command works on, and whose it is."""
    f = click.option("--lab", "lab", default=None,
                     help="the lab's name (default: the plays' `lab:`, else the playbook's file name)")(f)
    f = click.option("--take-over", is_flag=True,
                     help="claim the lab on its hosts for this playbook, though another playbook made it")(f)
    return f


def lab_of(book, lab: Optional[str]) -> str:
    """The lab a run builds: --lab, else the plays' `lab:`, else the playbook's stem."""
    from nsprov.model.types import lab_name
    name = lab or book.lab
    try:
        return lab_name(name)
    except ValueError as exc:
        where = "--lab" if lab else ("the plays' lab" if book.named_lab else f"the file name of {book.path}")
        fail(f"{where}: {exc}; name the lab with `lab: NAME` in the play or with --lab")


def playbook_options(f):
    f = selection_options(f)
    f = click.option("--fail-fast", is_flag=True,
                     help="stop every host at the first failure (as any_errors_fatal on every play)")(f)
    f = click.option("--lock-timeout", type=float, default=60.0, show_default=True,
                     help="seconds to wait for another nsprov run on the same host to finish")(f)
    f = click.option("-v", "--verbose", count=True)(f)
    return f


# ------------------------------------------------------------------------- loading
def load_inventory(inventories: tuple):
    from nsprov.controller.inventory_files import load_inventory as load
    from nsprov.controller.yamlsrc import InputError
    try:
        return load(inventories)
    except InputError as exc:
        fail("bad inventory:\n" + "\n".join(f"  {p}" for p in exc.problems))


def select(inv, pattern: str, limit: Optional[str]) -> list:
    from nsprov.controller.patterns import PatternError, select_hosts
    try:
        hosts = select_hosts(inv, pattern)
        if limit:
            allowed = set(select_hosts(inv, limit))
            hosts = [h for h in hosts if h in allowed]
    except (PatternError, ValueError) as exc:
        fail(f"bad host pattern: {exc}")
    if not hosts:
        fail(f"no hosts match {pattern!r}" + (f" with --limit {limit!r}" if limit else ""))
    return hosts


def connections(inv, hosts: list, become: Optional[dict] = None) -> list:
    """How to reach each host; a bad connection variable is bad input (exit 2), not a traceback."""
    import dataclasses

    from nsprov.controller.yamlsrc import InputError
    try:
        conns = [inv.connection(h) for h in hosts]
    except InputError as exc:
        fail("bad inventory:\n" + "\n".join(f"  {p}" for p in exc.problems))
    if become:
        conns = [dataclasses.replace(c, become=c.become or become.get(c.name, False)) for c in conns]
    return conns


def run_options(forks: int, accept_new: bool, ask_become_pass: bool, fail_fast: bool = False):
    from nsprov.controller.runner import RunOptions
    password = None
    if ask_become_pass:
        if sys.stdin.isatty():
            password = click.prompt("BECOME password", hide_input=True, err=True)
        else:   # piped in (scripts, tests): one line, never echoed anywhere
            password = sys.stdin.readline().rstrip("\n")
    return RunOptions(forks=forks, accept_new_host_keys=accept_new, become_password=password, fail_fast=fail_fast)


def extra_vars(values: tuple) -> dict:
    import shlex
    from pathlib import Path

    from nsprov.controller.yamlsrc import InputError, load_yaml, plain
    out: dict = {}
    for v in values:
        if v.startswith("@"):
            try:
                data = load_yaml(Path(v[1:]))
            except InputError as exc:
                fail(f"-e {v}: " + "; ".join(str(p) for p in exc.problems))
            if not isinstance(data, dict):
                fail(f"-e {v}: must hold a mapping")
            out.update(plain(data))
        elif v.lstrip().startswith("{"):
            try:
                out.update(json.loads(v))
            except ValueError as exc:
                fail(f"-e {v!r}: {exc}")
        else:
            for pair in shlex.split(v):
                if "=" not in pair:
                    fail(f"-e {pair!r}: expected key=value, @file.yml or JSON")
                k, val = pair.split("=", 1)
                out[k] = val
    return out


def resolve_playbook(inventories, playbook, limit, extra, tags, skip_tags):
    """(inventory, playbook, {host: HostPlan}); every problem of the input at once, exit 2."""
    from nsprov.controller.playbook import load_playbook_lenient
    from nsprov.controller.resolve import resolve
    from nsprov.controller.yamlsrc import InputError
    inv = load_inventory(inventories)
    problems: list = []
    plans: dict = {}
    try:
        book, problems = load_playbook_lenient(playbook)
        plans = resolve(book, inv, limit=limit, extra_vars=extra_vars(extra),
                        tags=tuple(t for t in tags.split(",") if t),
                        skip_tags=tuple(t for t in skip_tags.split(",") if t))
    except InputError as exc:
        problems = problems + exc.problems
    if problems:
        problems.sort(key=lambda p: (p.file, p.line))
        fail(f"{len(problems)} problem(s) in the input; no host was touched:\n" +
             "\n".join(f"  {p}" for p in problems))
    if not plans:
        fail(f"no hosts matched by the plays of {playbook}" + (f" with --limit {limit!r}" if limit else ""))
    return inv, book, plans


# ------------------------------------------------------------------------- driving
def plays_of(book, plans: dict, reverse: bool = False) -> list:
    """The playbook's plays with the hosts each selects (after --limit), in the order they run:
    as written, or reversed (destroy: clients go before the servers they need)."""
    from nsprov.controller.plays import Play
    out = [Play(p.index, p.name, [h for h, plan in plans.items() if p.index in plan.plays], p.any_errors_fatal)
           for p in book.plays]
    out = [p for p in out if p.hosts]
    return out[::-1] if reverse else out


class Interrupts:
    """Ctrl-C and SIGTERM during a run, as in Terraform: the first stops the run at the next
    safe point (runner.interrupt); the second leaves at once, saying which hosts may still be
    working. The previous handlers come back afterwards."""

    def __init__(self, runner, err):
        self.runner, self.err, self.previous = runner, err, {}

    def _handle(self, signum, frame) -> None:
        import os
        if self.runner.interrupted:
            working = self.runner.working()
            self.err.print(styled(("interrupted again: leaving now", "bold red"),
                                  f"; still working: {', '.join(working)}" if working else ""), soft_wrap=True)
            os._exit(130)
        self.err.print(styled(("interrupted", "bold red"), ": no new host starts; running hosts stop at their next "
                                                          "safe point (again to leave at once)"), soft_wrap=True)
        self.runner.interrupt()

    def __enter__(self) -> "Interrupts":
        import signal
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        import signal
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def run_interruptible(conns, bundle, make_request, options, sink, plays) -> dict:
    from nsprov.controller.runner import Runner
    runner = Runner(bundle, options, sink)
    with Interrupts(runner, console(stderr=True)):
        return runner.run(conns, make_request, plays)


def drive(inv, plans: dict, make_request, options, report: dict) -> None:
    """Run one session per host, plays in order (report["plays"]), report, print the recap,
    exit with the right code. REPORT: as_json, diff, verbose, title, plays."""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.runner import exit_code
    from nsprov.model.protocol import object_counts, recap_event
    conns = connections(inv, list(plans), {h: p.become for h, p in plans.items()})
    bundle = load_bundle()
    if report["as_json"]:
        from nsprov.reporting.jsonl import JsonLines
        sink = JsonLines(registers={h: p.registers for h, p in plans.items()})
        startup_done()
        results = run_interruptible(conns, bundle, make_request, options, sink, report.get("plays"))
        sink.write(recap_event({h: r.counts for h, r in results.items()},
                               objects={h: object_counts(r.events) for h, r in results.items()}))
    else:
        from nsprov.reporting.console import ConsoleReporter, render_recap
        out = console()
        totals = {h: len(plans[h].tasks) for h in plans}
        startup_done()
        with ConsoleReporter(out, list(plans), totals, diff=report["diff"], verbose=report["verbose"],
                             title=report["title"]) as reporter:
            results = run_interruptible(conns, bundle, make_request, options, reporter, report.get("plays"))
        out.print(render_recap(results))
    sys.exit(exit_code(results))
