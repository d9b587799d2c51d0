"""Fan out: a thread pool of --forks hosts; per host one connection and one agent request.

A host's failure is a value in the result map, never an abort: the others carry on. It keeps
its error's type (Unreachable, AgentFailed, the agent's own error type) beside its text.
Every event is handed to `on_event(host, event)` as it arrives (reporters subscribe there).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

from nsprov.controller.bundle import Bundle
from nsprov.controller.inventory import Connection
from nsprov.controller.transport import AgentFailed, HostSession, Unreachable
from nsprov.model import protocol

OK, FAILED, UNREACHABLE = protocol.HOST_OK, protocol.HOST_FAILED, protocol.HOST_UNREACHABLE
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


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


def _summary(out: HostOutcome, status: int) -> None:
    """What the agent's last word means for the host, said as it happened: what was changed,
    what was rolled back, what failed."""
    last = out.events[-1] if out.events else {}
    if last.get("event") == "error":
        out.fail(FAILED, last.get("type") or "AgentError", f"{last.get('type')}: {last.get('message')}")
    elif status != 0 or last.get("event") != "done" or not last.get("ok"):
        if last.get("event") != "done":
            out.fail(FAILED, "AgentFailed", f"agent exited {status} without finishing")
            return
        tasks = [e for e in out.events if e.get("event") == "task"]
        failed = [e for e in tasks if e.get("status") == protocol.FAILED]
        rollback = out.first("rollback")
        if rollback is not None:
            what = f"{len(failed)} task(s) failed; this run's {len(rollback.get('undone', []))} change(s) were rolled back"
        else:
            changed = sum(e.get("status") == protocol.CHANGED for e in tasks)
            what = f"{len(failed)} task(s) failed; " + (f"{changed} change(s) made before stay" if changed
                                                         else "nothing was changed")
        out.fail(FAILED, "TaskFailed", what)


def run_on_host(conn: Connection, bundle: Bundle, request: dict, options: RunOptions,
                on_event: Callable[[str, dict], None]) -> HostOutcome:
    out = HostOutcome(conn.name)
    began = time.monotonic()
    session = HostSession(conn, accept_new_host_keys=options.accept_new_host_keys,
                          connect_timeout=options.connect_timeout, become_password=options.become_password)

    def collect(ev: dict) -> None:
        out.events.append(ev)
        on_event(conn.name, ev)

    on_event(conn.name, protocol.host_start_event())
    try:
        session.open()
        _summary(out, session.run_agent(bundle, request, collect))
    except Unreachable as exc:
        out.fail(UNREACHABLE, "Unreachable", str(exc))
    except AgentFailed as exc:
        out.fail(FAILED, "AgentFailed", str(exc))
    except Exception as exc:  # a broken connection mid-run, for example
        out.fail(FAILED, type(exc).__name__, f"{type(exc).__name__}: {exc}")
    finally:
        session.close()
        out.stats = session.stats.as_dict()
        out.seconds = time.monotonic() - began
    on_event(conn.name, protocol.host_done_event(out.status, out.error, out.error_type, out.stats,
                                                 round(out.seconds, 4)))
    return out


def run_on_hosts(conns: list, bundle: Bundle, request_for: Callable[[str], dict],
                 options: RunOptions, on_event: Callable[[str, dict], None]) -> dict:
    """Run one request per host, at most options.forks at a time; results keep inventory order."""
    lock = threading.Lock()

    def locked(host: str, ev: dict) -> None:
        with lock:
            on_event(host, ev)

    results: dict = {}
    with ThreadPoolExecutor(max_workers=max(1, options.forks)) as pool:
        futures = {c.name: pool.submit(run_on_host, c, bundle, request_for(c.name), options, locked)
                   for c in conns}
        for name, fut in futures.items():
            results[name] = fut.result()
    return results


def exit_code(results: dict, violated: bool = False) -> int:
    """2 when a host was unreachable (or bad input), 1 when one failed or a check was
    violated, else 0: the one place that says so."""
    statuses = {r.status for r in results.values()}
    if UNREACHABLE in statuses:
        return EXIT_BAD_INPUT
    if FAILED in statuses or violated:
        return EXIT_FAILED
    return EXIT_OK
