"""What the commands share: the console, options, loading the inventory and the playbook, and
driving one request per host to its reporter and its exit code. The only place that exits."""

from __future__ import annotations

import json
import sys
from typing import Optional

import click

from nsprov.cli.topologies import place_option
from nsprov.controller.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK  # noqa: F401 (re-exported)


def console(stderr: bool = False):
    """Markup off: whatever comes from users or hosts (`[usa:children]`, a name with brackets)
    is printed verbatim; styles come from rich Text objects only."""
    from rich.console import Console
    return Console(stderr=stderr, highlight=False, markup=False)


def styled(*parts):
    """A rich Text from (text, style) pairs and plain strings, never parsed as markup."""
    from rich.text import Text
    return Text.assemble(*parts)


def json_mode() -> bool:
    """Whether the running command was given --json (its output is then JSON lines only)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.params.get("as_json"))


def fail(message: str, code: int = EXIT_BAD_INPUT, problems: Optional[list] = None) -> None:
    """Stop the command: MESSAGE on stderr, or under --json one `input_error` event on stdout
    with every problem as {file, line, field, message} (PROBLEMS, else the message alone)."""
    if json_mode():
        from nsprov.model.protocol import event
        listed = [{"file": p.file, "line": p.line, "field": p.field, "message": p.message} for p in problems or []]
        click.echo(json.dumps(event("input_error", message=message, exit=code,
                                    problems=listed or [{"file": "", "line": 0, "field": "", "message": message}])))
    else:
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


class Reach:
    """How a command reaches its hosts, from its options: at most FORKS at a time, whether
    unknown host keys are remembered, whether to ask for the sudo password, the connection
    TIMEOUT in seconds."""
    __slots__ = ("forks", "accept_new_host_keys", "ask_become_pass", "timeout")

    def __init__(self, forks: int, accept_new_host_keys: bool, ask_become_pass: bool, timeout: float):
        self.forks, self.accept_new_host_keys = forks, accept_new_host_keys
        self.ask_become_pass, self.timeout = ask_become_pass, timeout


def _gathered(name: str, make, f):
    """F called with the options MAKE takes (by name) gathered into one argument NAME."""
    import functools
    import inspect
    keys = [k for k in inspect.signature(make).parameters]

    @functools.wraps(f)
    def command(*args, **kwargs):
        kwargs[name] = make(**{k: kwargs.pop(k) for k in keys})
        return f(*args, **kwargs)
    return command


def reach_options(f, forks: bool = True):
    """--forks, --accept-new-host-keys, -K, -T/--timeout, gathered into a Reach as `reach`."""
    f = _gathered("reach", Reach if forks else (lambda accept_new_host_keys, ask_become_pass, timeout:
                                                Reach(1, accept_new_host_keys, ask_become_pass, timeout)), f)
    if forks:
        f = click.option("--forks", "-f", type=click.IntRange(min=1), default=10, show_default=True,
                         help="hosts at a time")(f)
    f = click.option("--accept-new-host-keys", is_flag=True,
                     help="remember unknown host keys (like ssh accept-new); changed keys still fail")(f)
    f = click.option("-K", "--ask-become-pass", is_flag=True, help="ask for the sudo password")(f)
    f = click.option("-T", "--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
                     help="connection timeout in seconds (as ansible's -T)")(f)
    return f


def connection_options(f):
    """How hosts are reached (a Reach as `reach`), which of them (--limit), and --json."""
    f = reach_options(f)
    f = limit_option(f)
    f = click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout")(f)
    return f


def listing_options(f):
    """--list-hosts, --list-tasks, --list-tags: what a run would touch, from the input alone,
    gathered into `listing` (the set of what to list)."""
    def what(list_hosts: bool, list_tasks: bool, list_tags: bool) -> set:
        return {w for w, on in (("hosts", list_hosts), ("tasks", list_tasks), ("tags", list_tags)) if on}
    f = _gathered("listing", what, f)
    f = click.option("--list-hosts", is_flag=True, help="list the hosts each play selects, then stop; "
                                                        "no host is contacted")(f)
    f = click.option("--list-tasks", is_flag=True, help="list the tasks each play runs, then stop")(f)
    f = click.option("--list-tags", is_flag=True, help="list the tags of each play's tasks, then stop")(f)
    return f


def list_and_exit(book, plans: dict, listing: set, as_json: bool, reverse: bool = False,
                  proving: bool = False) -> None:
    """When LISTING asks for anything, print the listing and exit 0; else return."""
    if not listing:
        return
    from nsprov.controller.listing import listing as make_listing, render_listing
    data = make_listing(book, plans, reverse=reverse, proving=proving)
    if as_json:
        click.echo(json.dumps({"event": "listing", **data}))
    else:
        click.echo(render_listing(data, listing), nl=False)
    sys.exit(EXIT_OK)


def selection_options(f):
    """A playbook and what picks its tasks: for every command that resolves one."""
    f = click.argument("playbook", type=click.Path(dir_okay=False))(f)
    f = click.option("-e", "--extra-vars", "extra_vars", multiple=True, help="key=value, @file.yml or JSON")(f)
    f = click.option("--tags", "-t", "tags", default="", help="only tasks with these tags (comma separated)")(f)
    f = click.option("--skip-tags", "skip_tags", default="", help="skip tasks with these tags")(f)
    return place_option(f)


def lab_options(f):
    """Which lab a command works on, and whose it is."""
    f = click.option("--lab", "lab", default=None,
                     help="the lab's name, for a playbook whose plays name none (default: the "
                          "playbook's file name); a play's own `lab:` that differs is refused")(f)
    f = click.option("--take-over", is_flag=True,
                     help="claim the lab on its hosts for this playbook, though another playbook made it")(f)
    return f


def lab_of(book, lab: Optional[str]) -> str:
    """The lab a run builds: the plays' `lab:`, else --lab, else the playbook's stem. A --lab
    that contradicts the plays' own is refused: which of the two labs was meant is not ours to
    guess (one of them may hold objects the other would prune)."""
    from nsprov.model.types import lab_name
    if lab and book.named_lab and lab != book.named_lab:
        fail(f"--lab {lab} contradicts the plays' own `lab: {book.named_lab}` in {book.path}; "
             f"drop --lab, or change the plays' lab:")
    name = book.named_lab or lab or book.lab
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
        fail("bad inventory:\n" + "\n".join(f"  {p}" for p in exc.problems), problems=exc.problems)


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
        fail("bad inventory:\n" + "\n".join(f"  {p}" for p in exc.problems), problems=exc.problems)
    if become:
        conns = [dataclasses.replace(c, become=c.become or become.get(c.name, False)) for c in conns]
    return conns


def run_options(reach: Reach, fail_fast: bool = False):
    from nsprov.controller.runner import RunOptions
    password = None
    if reach.ask_become_pass:
        if sys.stdin.isatty():
            password = click.prompt("BECOME password", hide_input=True, err=True)
        else:   # piped in (scripts, tests): one line, never echoed anywhere
            password = sys.stdin.readline().rstrip("\n")
    return RunOptions(forks=reach.forks, accept_new_host_keys=reach.accept_new_host_keys, become_password=password,
                      connect_timeout=reach.timeout, fail_fast=fail_fast)


def extra_vars(values: tuple) -> dict:
    import shlex
    from pathlib import Path

    from nsprov.controller.yamlsrc import MAX_NESTING, InputError, load_yaml, nesting, plain
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
                data = json.loads(v)
            except (ValueError, RecursionError) as exc:
                fail(f"-e {v[:60]!r}: {exc}")
            if not isinstance(data, dict):
                fail(f"-e {v[:60]!r}: must be a JSON object")
            if nesting(data) > MAX_NESTING:
                fail(f"-e {v[:60]!r}: lists and mappings are nested more than {MAX_NESTING} levels deep; "
                     f"nsprov reads at most {MAX_NESTING}")
            out.update(data)
        else:
            for pair in shlex.split(v):
                if "=" not in pair:
                    fail(f"-e {pair!r}: expected key=value, @file.yml or JSON")
                k, val = pair.split("=", 1)
                out[k] = val
    return out


def host_settings(inv, host: str, lock_timeout: float, **more) -> dict:
    """What every request to HOST carries beside its work: the host's firewall backend
    (`nsprov_firewall`) and how long to wait for another run's lock."""
    return {"firewall": inv.host_vars(host).get("nsprov_firewall"), "lock_timeout": lock_timeout, **more}


def resolve_playbook(inventories, playbook, limit, extra, tags: tuple = ("", ""), tasks: bool = True):
    """(inventory, playbook, {host: HostPlan}); every problem of the input at once, exit 2.
    TAGS: (--tags, --skip-tags). Without TASKS only the plays each host is in (a destroy: its
    work is in the ledgers)."""
    tags, skip_tags = tags
    from nsprov.controller.listing import unmatched_tags
    from nsprov.cli.topologies import load_book
    from nsprov.controller import plancache
    from nsprov.controller.resolve import resolve_hosts
    from nsprov.controller.yamlsrc import InputError, Problem
    inv = load_inventory(inventories)
    problems: list = []
    plans: dict = {}
    only, skip = tuple(t for t in tags.split(",") if t), tuple(t for t in skip_tags.split(",") if t)
    try:
        book, problems = load_book(playbook, inv, lambda: select(inv, "all", limit))
        for option, wanted in (("--tags", only), ("--skip-tags", skip)):
            message = unmatched_tags(book, wanted)
            if message:
                problems.append(Problem(option, 0, "", message))
        plans = (plancache.resolved(playbook, book, inv, limit, extra_vars(extra), (only, skip)) if tasks
                 else resolve_hosts(book, inv, limit=limit))
    except InputError as exc:
        problems = problems + exc.problems
    if problems:
        problems.sort(key=lambda p: (p.file, p.line))
        fail(f"{len(problems)} problem(s) in the input; no host was touched:\n" +
             "\n".join(f"  {p}" for p in problems), problems=problems)
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

    def __init__(self, runner):
        self.runner, self.previous = runner, {}

    def _say(self, *parts) -> None:
        """On stderr: a console there is made only when there is something to say (rich is
        not imported at all by a --json run that is never interrupted)."""
        if json_mode():
            sys.stderr.write("".join(p if isinstance(p, str) else p[0] for p in parts) + "\n")
            sys.stderr.flush()
        else:
            console(stderr=True).print(styled(*parts), soft_wrap=True)

    def _handle(self, signum, frame) -> None:
        import os
        if self.runner.interrupted:
            working = self.runner.working()
            self._say(("interrupted again: leaving now", "bold red"),
                      f"; still working: {', '.join(working)}" if working else "")
            os._exit(EXIT_INTERRUPTED)
        self._say(("interrupted", "bold red"), ": no new host starts; running hosts stop at their next "
                                               "safe point (again to leave at once)")
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
    with Interrupts(runner):
        return runner.run(conns, make_request, plays)


def drive(inv, plans: dict, make_request, options, report: dict) -> None:
    """Run one session per host, plays in order (report["plays"]), report, print the recap,
    exit with the right code. REPORT: as_json, diff, verbose, title, plays."""
    from nsprov.controller.bundle import load_bundle
    from nsprov.controller.clab_links import dangling
    from nsprov.controller.exits import exit_code
    from nsprov.model.protocol import object_counts, recap_event
    conns = connections(inv, list(plans), {h: p.become for h, p in plans.items()})
    bundle = load_bundle()
    if report["as_json"]:
        from nsprov.reporting.jsonl import JsonLines
        sink = JsonLines(registers={h: p.registers for h, p in plans.items()})
        startup_done()
        results = run_interruptible(conns, bundle, make_request, options, sink, report.get("plays"))
        for line in dangling(report.get("crossings", ()), {h: r.status for h, r in results.items()}):
            sink.write({"event": "dangling", "message": line})
        sink.write(recap_event({h: r.counts for h, r in results.items()},
                               objects={h: object_counts(r.events) for h, r in results.items()}))
    else:
        from nsprov.reporting.deferred import Deferred
        totals = {h: len(plans[h].tasks) for h in plans}

        def reporter():
            from nsprov.reporting.ansi import Console
            from nsprov.reporting.console import ConsoleReporter, loop_keys
            return ConsoleReporter(Console(), list(plans), totals, report, loops=loop_keys(plans)).__enter__()
        startup_done()
        with Deferred(reporter) as sink:
            results = run_interruptible(conns, bundle, make_request, options, sink, report.get("plays"))
        from nsprov.reporting.ansi import Console
        from nsprov.reporting.console import render_recap
        Console().print(*render_recap(results))
        for line in dangling(report.get("crossings", ()), {h: r.status for h, r in results.items()}):
            click.echo(f"warning: {line}", err=True)
    sys.exit(exit_code(results))
