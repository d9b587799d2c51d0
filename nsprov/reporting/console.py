"""How runs look on a terminal: live per-host progress, one line per task, a recap table."""

from __future__ import annotations

import json
from typing import Optional

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text


STYLE = {"ok": "green", "changed": "yellow", "failed": "bold red", "skipped": "cyan", "unreachable": "bold red",
         "interrupted": "bold yellow"}


def _note(ev: dict) -> str:
    """What a run says beside its tasks: what it keeps, what it dropped, what it never touches."""
    if ev["event"] == "prune":
        return f"keeping {len(ev['kept'])} object(s) no longer declared ({ev['why']}): {', '.join(ev['kept'])}"
    if ev["event"] == "healed":
        verb = "dropped the records of" if ev.get("dropped") else "would drop the records of"
        return f"{verb} {len(ev['records'])} object(s) gone from the kernel: {', '.join(ev['records'])}"
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


def render_diff(ev: dict) -> Optional[Text]:
    diff = ev.get("diff")
    if not diff:
        return None
    text = Text()
    text.append(f"    --- before: {json.dumps(diff.get('before'), sort_keys=True)}\n", style="red")
    text.append(f"    +++ after:  {json.dumps(diff.get('after'), sort_keys=True)}", style="green")
    return text


def render_recap(results: dict) -> Table:
    table = Table(title="PLAY RECAP", title_justify="left", title_style="bold")
    table.add_column("host", style="bold")
    for col in ("ok", "changed", "unreachable", "failed", "skipped", "interrupted"):
        table.add_column(col, justify="right")
    for host, r in results.items():
        c = r.counts
        row = [Text(host)]
        for col in ("ok", "changed", "unreachable", "failed", "skipped", "interrupted"):
            n = int(c.get(col, 0))
            row.append(Text(str(n), style=STYLE[col] if n else "dim"))
        table.add_row(*row)
    return table


class ConsoleReporter:
    """Subscribes to runner events; prints task lines as they come, a live status per host."""

    def __init__(self, console: Console, hosts: list, totals: dict, diff: bool = False, verbose: int = 0,
                 title: str = ""):
        self.console, self.diff, self.verbose = console, diff, verbose
        self.width = max((len(h) for h in hosts), default=4)
        self.totals = totals
        self.state = {h: "waiting" for h in hosts}
        self.done = {h: 0 for h in hosts}
        self.title = title
        self.live = Live(self._status(), console=console, transient=True, refresh_per_second=8)

    def _status(self) -> Table:
        t = Table.grid(padding=(0, 1))
        for h, s in self.state.items():
            if s != "finished":
                t.add_row(Text(h, style="bold"), Text(f"{self.done[h]}/{self.totals.get(h, 0)}"), Text(s, style="dim"))
        return t

    def __enter__(self) -> "ConsoleReporter":
        if self.title:
            self.console.rule(Text(self.title, style="bold"))
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.live.__exit__(*exc)

    def __call__(self, host: str, ev: dict) -> None:
        kind = ev.get("event")
        if kind == "host_start":
            self.state[host] = "waiting for its play"
        elif kind == "locked":
            self.state[host] = "running"
        elif kind == "play":
            self.live.console.rule(Text(f"PLAY [{ev.get('name') or ev.get('play')}]", style="bold"), align="left")
        elif kind == "task":
            self._task(host, ev)
        elif kind == "rollback":
            undone = ev.get("undone", [])
            msg = f"{host:<{self.width}} rolled back {len(undone)} change(s) made by the failing play"
            if ev.get("errors"):
                msg += f"; could not undo: {'; '.join(ev['errors'])}"
            self.live.console.print(Text(msg, style="magenta"), soft_wrap=True)
        elif kind == "host_out":
            self.live.console.print(Text(f"{host:<{self.width}} not in play '{ev.get('name')}': {ev.get('reason')}",
                                         style="yellow"), soft_wrap=True)
        elif kind in ("prune", "healed", "drift"):
            self.live.console.print(Text(f"{host:<{self.width}} {_note(ev)}", style="yellow"), soft_wrap=True)
        elif kind == "error":
            self.live.console.print(Text(f"{host:<{self.width}} agent error: {ev.get('type')}: {ev.get('message')}",
                                         style="bold red"), soft_wrap=True)
            if self.verbose and ev.get("traceback"):
                self.live.console.print(Text(ev["traceback"]), soft_wrap=True)
        elif kind == "host_done":
            self._host_done(host, ev)
        self.live.update(self._status())

    def _task(self, host: str, ev: dict) -> None:
        self.done[host] += 1
        self.state[host] = f"running: {ev.get('name', '')}"
        self.live.console.print(render_task_line(host, ev, self.width), soft_wrap=True)
        diff = render_diff(ev) if self.diff else None
        if diff is not None:
            self.live.console.print(diff, soft_wrap=True)

    def _host_done(self, host: str, ev: dict) -> None:
        self.state[host] = "finished"
        status = ev.get("status")
        if status in ("unreachable", "failed", "interrupted") and ev.get("error"):
            self.live.console.print(Text(f"{host:<{self.width}} {status.upper()}  {ev.get('error')}",
                                         style="bold red" if status != "interrupted" else "bold yellow"),
                                    soft_wrap=True)
        if self.verbose:
            self.live.console.print(Text(f"{host:<{self.width}} {ev.get('seconds')} s, transport "
                                         f"{json.dumps(ev.get('transport'))}", style="dim"), soft_wrap=True)
