"""How runs look on a terminal: task lines in inventory order, a loop's items folded into one
line, live per-host progress, a recap table.

Hosts work at once, so their lines arrive interleaved. Within a play the lines of the first
host still working print as they come; the next host's wait until the hosts before it have
finished the play, so the output reads host by host in inventory order, the same on every run.
What each host is doing meanwhile shows in the live progress display (a terminal only: when
stdout is not one, as in CI, there are plain lines and nothing else), and only once the run
has lasted long enough to want one: a short run never draws it."""

from __future__ import annotations

import json
from collections import Counter
from typing import Optional

from nsprov.reporting.ansi import Text, rule, table
from nsprov.reporting.progress import LiveProgress

STYLE = {"ok": "green", "changed": "yellow", "failed": "bold red", "skipped": "cyan", "unreachable": "bold red",
         "interrupted": "bold yellow"}
WORST = ("failed", "changed", "ok", "skipped")   # a folded loop shows the first of these it holds


def _note(ev: dict) -> str:
    """What a run says beside its tasks: what it keeps, what it dropped, what it never touches."""
    if ev["event"] == "prune":
        return f"keeping {len(ev['kept'])} object(s) no longer declared ({ev['why']}): {', '.join(ev['kept'])}"
    if ev["event"] == "healed":
        verb = "dropped the records of" if ev.get("dropped") else "would drop the records of"
        return f"{verb} {len(ev['records'])} object(s) gone from the kernel: {', '.join(ev['records'])}"
    if ev["event"] in ("claimed", "persist"):
        return ev["message"]
    return f"not nsprov's, left alone: {ev['what']}"


def render_task_line(host: str, ev: dict, width: int) -> Text:
    status = ev["status"]
    line = Text()
    line.append(f"{host:<{width}} ", style="bold")
    line.append(f"{status:<8} ", style=STYLE.get(status, ""))
    line.append(ev.get("name", ""))
    if ev.get("reason"):
        line.append(f"  {ev['reason']}", style="dim" if status in ("ok", "skipped") else "")
    return line


def render_folded(host: str, events: list, width: int) -> list:
    """A loop's items on one host as one line (counts by status), then each failed item."""
    counts = Counter(e["status"] for e in events)
    status = next((s for s in WORST if counts[s]), events[0]["status"])
    line = Text()
    line.append(f"{host:<{width}} ", style="bold")
    line.append(f"{status:<8} ", style=STYLE.get(status, ""))
    line.append(f"{events[0].get('name', '')} ... {events[-1].get('name', '')}")
    line.append(f"  {len(events)} items: " + ", ".join(f"{counts[s]} {s}" for s in WORST if counts[s]), style="dim")
    out = [line]
    for e in events:
        if e["status"] == "failed":
            out.append(Text(f"{'':<{width}}   failed item {e.get('name', '')}: {e.get('reason', '')}",
                            style="bold red"))
    return out


def render_diff(ev: dict) -> Optional[Text]:
    diff = ev.get("diff")
    if not diff:
        return None
    text = Text()
    text.append(f"    --- before: {json.dumps(diff.get('before'), sort_keys=True)}\n", style="red")
    text.append(f"    +++ after:  {json.dumps(diff.get('after'), sort_keys=True)}", style="green")
    return text


RECAP_COLUMNS = ("ok", "changed", "unreachable", "failed", "skipped", "interrupted")
FLEET = 20      # more hosts than this: a fleet, shown by counts and failures, not a line per host and task


def _row(name: str, counts: list) -> list:
    return [Text(name)] + [Text(str(n), STYLE[col] if n else "dim") for col, n in zip(RECAP_COLUMNS, counts)]


def render_recap(results: dict) -> list:
    """The recap table's lines (ansi.Text): a host a row, its counts coloured where not 0. A
    fleet: a row for each host that did not finish well, one for the rest together, and the total."""
    counts = {h: [int(r.counts.get(col, 0)) for col in RECAP_COLUMNS] for h, r in results.items()}
    if len(results) <= FLEET:
        rows = [_row(h, c) for h, c in counts.items()]
    else:
        bad = {h: c for h, c in counts.items() if any(c[2:4]) or c[5]}
        rest = [c for h, c in counts.items() if h not in bad]
        rows = [_row(h, c) for h, c in bad.items()]
        rows.append(_row(f"{len(rest)} other host(s)", [sum(col) for col in zip(*rest)] if rest else [0] * 6))
        rows.append(_row(f"all {len(counts)} hosts", [sum(col) for col in zip(*counts.values())]))
    return table("PLAY RECAP", [("host", "left", "bold")] + [(col, "right", "") for col in RECAP_COLUMNS], rows)


def loop_keys(plans: dict) -> dict:
    """{host: {task index: fold key}} for the tasks that are items of a loop of 2 or more."""
    out: dict = {}
    for host, plan in plans.items():
        sizes = Counter(plan.origins)
        out[host] = {i: origin for i, origin in enumerate(plan.origins) if sizes[origin] > 1}
    return out


class _Fold:
    """The task events of one host that fold into one line: items of one loop in a run, or
    objects of one module in a destroy."""
    __slots__ = ("key", "events")

    def __init__(self):
        self.key, self.events = None, []


class ConsoleReporter:
    """Subscribes to runner events (one at a time: the runner serialises them). TOTALS: tasks
    per host. SHOW: diff, verbose (at -v every item prints on its own line), title,
    fold_modules (fold consecutive objects of one module: destroy, whose tasks come from the
    ledger). LOOPS: {host: {task index: fold key}} (loop_keys)."""

    def __init__(self, console, hosts: list, totals: dict, show: Optional[dict] = None,
                 loops: Optional[dict] = None):
        show = show or {}
        self.console, self.diff, self.verbose = console, show.get("diff", False), show.get("verbose", 0)
        self.title, fold_modules = show.get("title", ""), show.get("fold_modules", False)
        self.width = max((len(h) for h in hosts), default=4)
        self.order = list(hosts)
        self.loops, self.fold_modules = loops or {}, fold_modules
        self.folds = {h: _Fold() for h in hosts}
        self.buffers: dict = {h: [] for h in hosts}
        self.play_hosts, self.finished, self.cursor = list(hosts), set(), 0
        self.fleet = len(hosts) > FLEET and not self.verbose      # counts and failures only
        self.progress = LiveProgress(console, hosts, totals, fleet=self.fleet)
        self.said: set = set()              # hosts whose unreachable error is already printed
        self.tally: Counter = Counter()     # hosts done, by how
        self.changed: set = set()           # hosts that changed something

    # ------------------------------------------------------------ the order of lines
    def _out(self, host: str, *renderables) -> None:
        self.buffers.setdefault(host, []).extend(renderables)
        self._drain()

    def _drain(self) -> None:
        """Print what may print: the buffered lines of each host in play order, up to the first
        host that has not finished the play."""
        target = self.progress.console or self.console
        while self.cursor < len(self.play_hosts):
            host = self.play_hosts[self.cursor]
            for r in self.buffers.get(host, []):
                target.print(r, soft_wrap=True)
            self.buffers[host] = []
            if host not in self.finished:
                return
            self.cursor += 1

    def _finish(self, host: str) -> None:
        self._flush_fold(host)
        self.finished.add(host)
        self._drain()

    def _end_section(self) -> None:
        """Every host has finished the play: what is still held (lines a host had after it
        finished it, as its -v summary) prints, in inventory order."""
        for host in self.order:
            self._drain_host(host)
        self.cursor = len(self.play_hosts)

    def _new_play(self, ev: dict) -> None:
        self._end_section()
        rule(self.progress.console or self.console, Text(f"PLAY [{ev.get('name') or ev.get('play')}]", style="bold"),
             align="left")
        chosen = set(ev.get("hosts") or self.order)
        self.play_hosts, self.finished, self.cursor = [h for h in self.order if h in chosen], set(), 0

    def _drain_host(self, host: str) -> None:
        target = self.progress.console or self.console
        for r in self.buffers.get(host, []):
            target.print(r, soft_wrap=True)
        self.buffers[host] = []

    # ------------------------------------------------------------ folding
    def _fold_key(self, host: str, ev: dict):
        if self.verbose:
            return None
        if self.fold_modules:
            return ev.get("module")
        return self.loops.get(host, {}).get(ev.get("index"))

    def _flush_fold(self, host: str) -> None:
        fold = self.folds.get(host)
        if fold is None or not fold.events:
            return
        events, fold.events, fold.key = fold.events, [], None
        if len(events) == 1:
            self._line(host, events[0])
        else:
            self._out(host, *render_folded(host, events, self.width))
            if self.diff:
                self._out(host, *[d for d in map(render_diff, events) if d is not None])

    def _line(self, host: str, ev: dict) -> None:
        diff = render_diff(ev) if self.diff else None
        self._out(host, render_task_line(host, ev, self.width), *([diff] if diff is not None else []))

    def _task(self, host: str, ev: dict) -> None:
        self.progress.update(host, f"{ev.get('name', '')}", advance=1)
        if ev.get("status") == "changed":
            self.changed.add(host)
        if self.fleet and ev.get("status") != "failed":
            return          # a fleet shows its failures in full, the rest as counts
        key = self._fold_key(host, ev)
        fold = self.folds.setdefault(host, _Fold())
        if fold.events and key != fold.key:
            self._flush_fold(host)
        if key is None:
            self._line(host, ev)
            return
        fold.key = key
        fold.events.append(ev)

    # ------------------------------------------------------------ events
    def __enter__(self) -> "ConsoleReporter":
        if self.title:
            rule(self.console, Text(self.title, style="bold"))
        return self

    def __exit__(self, *exc) -> None:
        for host in self.order:
            self._flush_fold(host)
        self._end_section()
        self.progress.stop(*exc)

    def tick(self) -> None:
        """Time has passed (a timer calls this while the run lasts): the live display starts
        once the run has taken long enough to want one."""
        self.progress.maybe_start()

    def __call__(self, host: str, ev: dict) -> None:
        self.progress.maybe_start()
        kind = ev.get("event")
        if kind == "task":
            self._task(host, ev)
        elif kind == "play":
            self._new_play(ev)
        elif kind == "locked":
            self.progress.update(host, "running", visible=True)
        elif kind == "phase_done":
            self._finish(host)
        elif kind == "host_done":
            self._host_done(host, ev)
        else:
            self._note(host, kind, ev)

    def _note(self, host: str, kind: str, ev: dict) -> None:
        if kind == "rollback":
            self._flush_fold(host)
            undone = ev.get("undone", [])
            msg = f"{host:<{self.width}} rolled back {len(undone)} change(s) made by the failing play"
            if ev.get("errors"):
                msg += f"; could not undo: {'; '.join(ev['errors'])}"
            self._out(host, Text(msg, style="magenta"))
        elif kind == "unreachable":        # said when it happens, before what follows from it
            self._flush_fold(host)
            self.said.add(host)
            self._out(host, Text(f"{host:<{self.width}} UNREACHABLE  {ev.get('error')}", style="bold red"))
        elif kind == "host_out":
            self._out(host, Text(f"{host:<{self.width}} not in play '{ev.get('name')}': {ev.get('reason')}",
                                 style="yellow"))
            if ev.get("play") is not None and host in self.play_hosts:
                self.finished.add(host)
                self._drain()
        elif kind in ("prune", "healed", "drift", "claimed", "persist"):
            self._flush_fold(host)
            self._out(host, Text(f"{host:<{self.width}} {_note(ev)}", style="yellow"))
        elif kind == "error":
            self._flush_fold(host)
            self.said.add(host)            # the host's end (host_done) repeats it: said once
            self._out(host, Text(f"{host:<{self.width}} agent error: {ev.get('type')}: {ev.get('message')}",
                                 style="bold red"))
            if self.verbose and ev.get("traceback"):
                self._out(host, Text(ev["traceback"]))

    def _host_done(self, host: str, ev: dict) -> None:
        self._flush_fold(host)
        status = ev.get("status")
        self.progress.update(host, status or "finished", visible=False)
        self.tally["done"] += 1
        self.tally["changed"] += status == "ok" and host in self.changed
        self.tally[status if status in ("failed", "unreachable", "interrupted") else "ok"] += 1
        self.progress.summary(f"{self.tally['done']} done, {self.tally['changed']} changed, "
                              f"{self.tally['failed'] + self.tally['unreachable']} failed")
        if status in ("unreachable", "failed", "interrupted") and ev.get("error") and host not in self.said:
            self._out(host, Text(f"{host:<{self.width}} {status.upper()}  {ev.get('error')}",
                                 style="bold red" if status != "interrupted" else "bold yellow"))
        if self.verbose:
            self._out(host, Text(f"{host:<{self.width}} {ev.get('seconds')} s, transport "
                                 f"{json.dumps(ev.get('transport'))}", style="dim"))
        self._finish(host)
