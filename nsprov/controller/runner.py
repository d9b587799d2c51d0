"""Fan out: one agent session per host (one connection, one command), at most --forks of them
working at a time, plays in order across hosts (plays.py).

A host's failure is a value in the result map, never an abort: the others carry on. It keeps
its error's type (Unreachable, AgentFailed, the agent's own error type) beside its text.
Every event is handed to `on_event(host, event)` as it arrives (reporters subscribe there);
events of the run itself (a play starting) come with host "".

Interrupted (Ctrl-C, SIGTERM: `Runner.interrupt`), no host starts and no play begins any more;
every running agent is told to stop at its next safe point (between tasks, the ledger whole);
each such host is `interrupted`, and the exit code is 130.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Optional

from nsprov.controller.bundle import Bundle
from nsprov.controller.exits import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, exit_code  # noqa: F401
from nsprov.controller.inventory import Connection
from nsprov.controller.plays import Barrier, Play, out_events, single_play
from nsprov.controller.transport import AgentFailed, HostSession, Unreachable
from nsprov.model import protocol

OK, FAILED, UNREACHABLE = protocol.HOST_OK, protocol.HOST_FAILED, protocol.HOST_UNREACHABLE
INTERRUPTED = protocol.HOST_INTERRUPTED


@dataclass
class HostOutcome:
    host: str
    status: str = OK
    error: Optional[str] = None
    error_type: Optional[str] = None
    events: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    seconds: float = 0.0

    def first(self, name: str) -> Optional[dict]:
        return next((e for e in self.events if e.get("event") == name), None)

    def fail(self, status: str, kind: str, error: str) -> None:
        self.status, self.error_type, self.error = status, kind, error

    @property
    def counts(self) -> dict:
        return protocol.recap_counts(self.events, self.status)


@dataclass(frozen=True)
class RunOptions:
    forks: int = 10
    accept_new_host_keys: bool = False
    become_password: Optional[str] = None
    connect_timeout: float = 10.0
    fail_fast: bool = False


def _summary(out: HostOutcome, status: int) -> None:
    """What the agent's last word means for the host, said as it happened: what was changed,
    what was rolled back, what failed."""
    last = out.events[-1] if out.events else {}
    if last.get("event") == "error":
        out.fail(FAILED, last.get("type") or "AgentError", f"{last.get('type')}: {last.get('message')}")
        return
    if last.get("event") != "done":
        out.fail(FAILED, "AgentFailed", f"agent exited {status} without finishing")
        return
    if last.get("interrupted"):
        changed = sum(e.get("status") == protocol.CHANGED for e in out.events if e.get("event") == "task")
        out.fail(INTERRUPTED, "Interrupted", f"interrupted: stopped at a safe point after {changed} change(s); "
                                             f"every object made is recorded, and a re-run converges")
        return
    if status == 0 and last.get("ok"):
        return
    tasks = [e for e in out.events if e.get("event") == "task"]
    failed = [e for e in tasks if e.get("status") == protocol.FAILED]
    rollback = out.first("rollback")
    if rollback is not None:
        what = f"{len(failed)} task(s) failed; the failing play's {len(rollback.get('undone', []))} change(s) " \
               f"were rolled back"
    else:
        changed = sum(e.get("status") == protocol.CHANGED for e in tasks)
        what = f"{len(failed)} task(s) failed; " + (f"{changed} change(s) made before stay" if changed
                                                     else "nothing was changed")
    out.fail(FAILED, "TaskFailed", what)


class Slots:
    """The --forks slots, given in inventory order: the hosts of the play that is starting
    (begin_play) get them in that order, each when it asks and a slot is free (a plain
    semaphore gives them to whichever thread the scheduler runs first, so `--forks 1` would
    not take the hosts in order). A host that will not ask any more (leave) is passed over.
    Each host waits for its own turn: one wake-up a grant, whatever the number of hosts."""

    def __init__(self, count: int):
        self.free = count
        self.expected: list = []       # hosts yet to take a slot in this play, in order
        self._turns: dict = {}         # host -> Event, while it waits
        self._lock = threading.Lock()

    def begin_play(self, hosts: list) -> None:
        with self._lock:
            self.expected = list(hosts)
            self._grant()

    @contextmanager
    def held(self, host: str):
        """HOST's slot for the block: waited for in turn, given back after."""
        self.acquire(host)
        try:
            yield
        finally:
            self.release()

    def acquire(self, host: str) -> None:
        with self._lock:
            turn = self._turns[host] = threading.Event()
            if host not in self.expected:
                self.expected.append(host)
            self._grant()
        turn.wait()

    def _grant(self) -> None:
        while self.free and self.expected and self.expected[0] in self._turns:
            self.free -= 1
            self._turns.pop(self.expected.pop(0)).set()

    def release(self) -> None:
        with self._lock:
            self.free += 1
            self._grant()

    def leave(self, host: str) -> None:
        with self._lock:
            if host in self.expected and host not in self._turns:
                self.expected.remove(host)
                self._grant()


class Runner:
    """One run over many hosts: sessions, the --forks slots, the play barrier, interrupts."""

    def __init__(self, bundle: Bundle, options: RunOptions, on_event: Callable[[str, dict], None]):
        self.bundle, self.options = bundle, options
        self._lock = threading.Lock()
        self._on_event = on_event
        self.slots = Slots(max(1, options.forks))
        self.sessions: dict = {}            # host -> HostSession while its agent runs
        self.interrupted = False
        self.barrier: Optional[Barrier] = None
        self.order: list = []

    def emit(self, host: str, ev: dict) -> None:
        with self._lock:
            self._on_event(host, ev)

    # ------------------------------------------------------------ interrupts
    def interrupt(self) -> None:
        """The first Ctrl-C: no host starts, no play begins; running agents stop at their next
        safe point."""
        self.interrupted = True
        if self.barrier is not None:
            self.barrier.stop("interrupted")
        with self._lock:
            sessions = list(self.sessions.values())
        for s in sessions:
            try:
                s.send(protocol.stop_control())
            except Exception:   # a session that just ended: nothing to stop
                pass

    def working(self) -> list:
        """Hosts whose agent may still be working."""
        with self._lock:
            return sorted(self.sessions)

    # ------------------------------------------------------------ one host
    def _read_phase(self, out: HostOutcome, session: HostSession, play: Optional[int]) -> Optional[dict]:
        """The host's events until it has finished PLAY (its phase_done) or its output ended."""
        ev = session.next_event()
        while ev is not None:
            out.events.append(ev)
            self.emit(out.host, ev)
            if ev.get("event") == "phase_done" and ev.get("play") == play:
                return ev
            ev = session.next_event()
        return None

    def _plays(self, out: HostOutcome, session: HostSession, request: dict, plays: list) -> Optional[int]:
        """Open the session and run the host's plays in order; the last play it took part in.
        A request without plays (facts, exec) is one: its input ends at once."""
        phased = "phases" in request
        attempted = None
        for n, play in enumerate(plays):
            if not self.barrier.wait(out.host, play.index):
                break
            with self.slots.held(out.host):
                if self.interrupted:
                    break
                attempted = play.index
                if n == 0:
                    session.open()
                    with self._lock:
                        self.sessions[out.host] = session
                    session.start(self.bundle, request)
                    if not phased:
                        session.end_input()
                else:
                    session.send(protocol.go_control(play.index))
                ev = self._read_phase(out, session, play.index if phased else None)
            ok = ev is not None and ev.get("ok") if phased else True
            self.barrier.done(out.host, play.index, bool(ok))
            if self.barrier.stopped and not self.interrupted:
                self.interrupt_others(out.host)
            if not ok:
                break
        return attempted

    def interrupt_others(self, host: str) -> None:
        """--fail-fast: a host failed; the others stop at their next safe point."""
        with self._lock:
            others = [s for h, s in self.sessions.items() if h != host]
        for s in others:
            try:
                s.send(protocol.stop_control())
            except Exception:
                pass

    def run_host(self, conn: Connection, request: dict) -> HostOutcome:
        out = HostOutcome(conn.name)
        began = time.monotonic()
        session = HostSession(conn, accept_new_host_keys=self.options.accept_new_host_keys,
                              connect_timeout=self.options.connect_timeout,
                              become_password=self.options.become_password)
        self.emit(conn.name, protocol.host_start_event())
        attempted = None
        try:
            attempted = self._plays(out, session, request, self.barrier.plays_of(conn.name))
            if not session.started:      # interrupted, or out before its first play
                out.fail(INTERRUPTED if self.interrupted else FAILED, "NotStarted",
                         "not started: " + (self.barrier.stopped or self.barrier.out_of.get(conn.name, "stopped")))
            else:
                session.end_input()
                self._read_phase(out, session, None)
                _summary(out, session.finish())
                if out.status == INTERRUPTED and not self.interrupted:   # stopped by another host's failure
                    out.fail(FAILED, "Stopped", f"stopped at a safe point: {self.barrier.stopped}")
        except Unreachable as exc:
            out.fail(UNREACHABLE, "Unreachable", str(exc))
        except AgentFailed as exc:
            out.fail(FAILED, "AgentFailed", str(exc))
        except Exception as exc:  # a broken connection mid-run, for example
            out.fail(FAILED, type(exc).__name__, f"{type(exc).__name__}: {exc}")
        finally:
            self.slots.leave(conn.name)      # it asks for no more slots: the next host need not wait
            with self._lock:
                self.sessions.pop(conn.name, None)
            session.close()
            out.stats = session.stats.as_dict()
            out.seconds = time.monotonic() - began
        self._leave(out, attempted)
        return out

    def run(self, conns: list, request_for: Callable[[str], dict], plays: Optional[list] = None) -> dict:
        """One session per host; PLAYS (plays.Play, in order) say which hosts each play takes
        (None: one play of every host, for requests without plays). Results keep inventory order."""
        plays = plays or single_play([c.name for c in conns])
        self.order = [c.name for c in conns]
        self.barrier = Barrier(plays, self._play_starts, fail_fast=self.options.fail_fast)
        results: dict = {}
        threads = [threading.Thread(target=lambda c=c: results.__setitem__(c.name, self.run_host(c, request_for(c.name))),
                                    daemon=True) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)   # short joins: the main thread stays free for the interrupt handlers
        return {c.name: results[c.name] for c in conns}

    def _play_starts(self, play: Play) -> None:
        """Called by the barrier (holding its lock) as PLAY starts: its hosts (those still in
        the run) take the slots in inventory order."""
        order = {h: i for i, h in enumerate(self.order)}
        out = self.barrier.out_of if self.barrier is not None else {}   # None: the barrier is being made
        self.slots.begin_play(sorted((h for h in play.hosts if h not in out), key=lambda h: order.get(h, 0)))
        if play.name:
            self.emit("", protocol.play_event(play.index, play.name, play.hosts))

    def _leave(self, out: HostOutcome, attempted: Optional[int]) -> None:
        """A host that did not finish well is out of the plays it has not had: said per play."""
        if out.status == UNREACHABLE:
            self.emit(out.host, protocol.event("unreachable", error=out.error, error_type=out.error_type))
        if out.status != OK:
            why = {UNREACHABLE: "it is unreachable", INTERRUPTED: "the run was interrupted"}
            self.barrier.leave(out.host, why.get(out.status, f"it failed before ({out.error})"))
            for ev in out_events(self.barrier, out.host, attempted):
                out.events.append(ev)
                self.emit(out.host, ev)
        self.emit(out.host, protocol.host_done_event(out.status, out.error, out.error_type, out.stats,
                                                     round(out.seconds, 4)))


def run_on_hosts(conns: list, bundle: Bundle, request_for: Callable[[str], dict], options: RunOptions,
                 on_event: Callable[[str, dict], None], plays: Optional[list] = None) -> dict:
    return Runner(bundle, options, on_event).run(conns, request_for, plays)


def run_on_host(conn: Connection, bundle: Bundle, request: dict, options: RunOptions,
                on_event: Callable[[str, dict], None]) -> HostOutcome:
    return run_on_hosts([conn], bundle, lambda h: request, options, on_event)[conn.name]
