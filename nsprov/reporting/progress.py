"""Live per-host progress on a terminal (rich's progress display): tasks done out of the total,
the current task, elapsed time; a host's row shows while its agent works, one more row counts
every host. It starts only once a run has lasted DELAY seconds: a short run (the common small
lab) neither imports rich nor redraws anything. Off a terminal it never starts."""

from __future__ import annotations

import time
from typing import Optional

DELAY = 0.5      # seconds a run lasts before it is worth a live display


class LiveProgress:
    """FLEET: one row for every host together (hosts done, changed, failed), none per host."""

    def __init__(self, console, hosts: list, totals: dict, fleet: bool = False):
        self.plain, self.hosts, self.totals, self.fleet = console, list(hosts), totals, fleet
        self.said = ""
        self.enabled = console.is_terminal
        self.began = time.monotonic()
        self.state = {h: ["waiting", 0, False, None] for h in hosts}   # description, done, shown, since
        self.live = None
        self.rows: dict = {}

    @property
    def console(self):
        """Where lines go: above the live display while it is up."""
        return self.live.console if self.live is not None else self.plain

    def update(self, host: str, state: str, advance: int = 0, visible: Optional[bool] = None) -> None:
        if host not in self.state:
            return
        mine = self.state[host]
        mine[0], mine[1] = state, mine[1] + advance
        if visible is not None:
            mine[2] = visible
            if visible and mine[3] is None:
                mine[3] = time.monotonic()
                if self.live is not None and host in self.rows:
                    self.live.update(self.rows[host], since=mine[3])
        if self.live is not None:
            if host in self.rows:
                self.live.update(self.rows[host], description=state, advance=advance,
                                 **({"visible": visible} if visible is not None else {}))
            if advance:
                self.live.update(self.all, advance=advance)

    def summary(self, text: str) -> None:
        """What the fleet's row says beside its bar."""
        self.said = text
        if self.live is not None and self.fleet:
            self.live.update(self.all, description=text)

    def maybe_start(self) -> None:
        if self.live is None and self.enabled and time.monotonic() - self.began >= DELAY:
            self.start()

    def start(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
        from rich.text import Text

        class Elapsed(ProgressColumn):
            """Time since the row's host began (the whole run's for the first row)."""
            def render(self, task):
                since = task.fields.get("since")
                return Text("" if since is None else f"{time.monotonic() - since:5.1f}s", style="progress.elapsed")
        console = self.plain
        if getattr(console, "lite", False):    # the run's own lines were written without rich so far
            from rich.console import Console
            console = Console(file=self.plain.file, highlight=False, markup=False)
        live = Progress(TextColumn("[bold]{task.fields[host]}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                        Elapsed(), TextColumn("{task.description}", markup=False),
                        console=console, transient=True, refresh_per_second=8)
        done = sum(s[1] for s in self.state.values())
        self.all = live.add_task(self.said if self.fleet else "", total=sum(self.totals.values()) or 1,
                                 completed=done, host=f"{len(self.hosts)} host(s)", since=self.began)
        self.rows = {} if self.fleet else {
            h: live.add_task(s[0], total=self.totals.get(h, 0) or 1, completed=s[1], host=h, visible=s[2], since=s[3])
            for h, s in self.state.items()}
        live.__enter__()
        self.live = live

    def stop(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None
