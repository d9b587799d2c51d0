"""Plays run in order across hosts, as in Ansible: play k starts (on every host it selected)
once every earlier play has finished on every host it selected. A host whose earlier play
failed (or that was unreachable, or interrupted) is out of the later plays; the other hosts go
on, unless the run is to stop at the first failure (`--fail-fast`, `any_errors_fatal`).

The barrier knows plays and hosts only; runner.py keeps one agent session per host open across
the plays it is in and waits here before each (the agent waits for `go` on its side).
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from nsprov.model import protocol


class Play:
    __slots__ = ("index", "name", "hosts", "fatal")

    def __init__(self, index: int, name: str, hosts: list, fatal: bool = False):
        self.index, self.name, self.hosts, self.fatal = index, name, list(hosts), fatal


class Barrier:
    """Which plays may start. ON_START(play) is called once per play, in order, as it starts."""

    def __init__(self, plays: list, on_start: Callable[[Play], None] = lambda play: None, fail_fast: bool = False):
        self.plays = {p.index: p for p in plays}
        self.order = [p.index for p in plays]
        self.remaining = {p.index: set(p.hosts) for p in plays}   # hosts yet to finish each play
        self.out_of: dict = {}                                    # host -> why it takes no part any more
        self.started: set = set()
        self.stopped: Optional[str] = None                        # why no play starts any more
        self.fail_fast = fail_fast
        self._on_start = on_start
        self._changed = threading.Condition()
        with self._changed:
            self._release()

    def _release(self) -> None:
        """Start every play whose earlier plays are all finished (called holding the lock)."""
        for index in self.order:
            if self.stopped is not None:
                return
            if index not in self.started:
                self.started.add(index)
                self._on_start(self.plays[index])
                self._changed.notify_all()
            if self.remaining[index]:
                return        # later plays wait for this one

    def wait(self, host: str, play: int) -> bool:
        """Until PLAY has started: True; False when the run stopped or HOST is out."""
        with self._changed:
            while play not in self.started:
                if self.stopped is not None or host in self.out_of:
                    return False
                self._changed.wait()
            return self.stopped is None and host not in self.out_of

    def done(self, host: str, play: int, ok: bool, why: str = "") -> None:
        """HOST has finished PLAY; when not OK it is out of the later plays (WHY says why)."""
        with self._changed:
            self.remaining[play].discard(host)
            if not ok:
                self._leave(host, why or f"it failed in play '{self.plays[play].name}'")
                if self.fail_fast or self.plays[play].fatal:
                    self.stopped = self.stopped or f"{host} failed in play '{self.plays[play].name}' " \
                                                   f"({'any_errors_fatal' if self.plays[play].fatal else '--fail-fast'})"
            self._release()
            self._changed.notify_all()

    def leave(self, host: str, why: str) -> None:
        """HOST takes no part in any play it has not finished (unreachable, interrupted...)."""
        with self._changed:
            self._leave(host, why)
            self._release()
            self._changed.notify_all()

    def _leave(self, host: str, why: str) -> None:
        self.out_of.setdefault(host, why)
        for index in self.order:
            self.remaining[index].discard(host)

    def stop(self, why: str) -> None:
        """No play starts any more (Ctrl-C); hosts waiting for one are told so."""
        with self._changed:
            self.stopped = self.stopped or why
            self._changed.notify_all()

    def plays_of(self, host: str) -> list:
        return [self.plays[i] for i in self.order if host in self.plays[i].hosts]


def single_play(hosts: list) -> list:
    """The one play of a request that has no play structure (facts, exec): every host at once."""
    return [Play(0, "", hosts)]


def out_events(barrier: Barrier, host: str, after: Optional[int]) -> list:
    """host_out events for the plays of HOST after play AFTER (None: all) it will not take part in."""
    plays = barrier.plays_of(host)
    if after is not None:
        plays = [p for p in plays if p.index > after]
    why = barrier.out_of.get(host) or barrier.stopped or "the run stopped"
    return [protocol.host_out_event(p.index, p.name, why) for p in plays]
