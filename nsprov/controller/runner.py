"""Fan out: a thread pool of --forks hosts; per host one connection and one agent request.

A host's failure is a value in the result map, never an abort: the others carry on.
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

OK, FAILED, UNREACHABLE = "ok", "failed", "unreachable"


@dataclass
class HostOutcome:
    host: str
    status: str = OK
    error: Optional[str] = None
    events: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    seconds: float = 0.0

    def first(self, name: str) -> Optional[dict]:
        return next((e for e in self.events if e.get("event") == name), None)


@dataclass(frozen=True)
class RunOptions:
    forks: int = 10
    accept_new_host_keys: bool = False
    become_password: Optional[str] = None
    connect_timeout: float = 10.0


def run_on_host(conn: Connection, bundle: Bundle, request: dict, options: RunOptions,
                on_event: Callable[[str, dict], None]) -> HostOutcome:
    out = HostOutcome(conn.name)
    began = time.monotonic()
    session = HostSession(conn, accept_new_host_keys=options.accept_new_host_keys,
                          connect_timeout=options.connect_timeout, become_password=options.become_password)

    def collect(ev: dict) -> None:
        out.events.append(ev)
        on_event(conn.name, ev)

    on_event(conn.name, {"event": "host_start"})
    try:
        session.open()
        status = session.run_agent(bundle, request, collect)
        last = out.events[-1] if out.events else {}
        if last.get("event") == "error":
            out.status, out.error = FAILED, f"{last.get('type')}: {last.get('message')}"
        elif status != 0 or last.get("event") != "done" or not last.get("ok"):
            out.status = FAILED
            if last.get("event") == "done":
                rolled = any(e.get("event") == "rollback" for e in out.events)
                out.error = "a task failed" + ("; this run's changes were rolled back" if rolled else
                                               "; nothing was changed")
            else:
                out.error = f"agent exited {status} without finishing"
    except Unreachable as exc:
        out.status, out.error = UNREACHABLE, str(exc)
    except AgentFailed as exc:
        out.status, out.error = FAILED, str(exc)
    except Exception as exc:  # a broken connection mid-run, for example
        out.status, out.error = FAILED, f"{type(exc).__name__}: {exc}"
    finally:
        session.close()
        out.stats = session.stats.as_dict()
        out.seconds = time.monotonic() - began
    on_event(conn.name, {"event": "host_done", "status": out.status, "error": out.error,
                         "transport": out.stats, "seconds": round(out.seconds, 4)})
    return out


def run_on_hosts(conns: list[Connection], bundle: Bundle, request_for: Callable[[str], dict],
                 options: RunOptions, on_event: Callable[[str, dict], None]) -> dict[str, HostOutcome]:
    """Run one request per host, at most options.forks at a time; results keep inventory order."""
    lock = threading.Lock()

    def locked(host: str, ev: dict) -> None:
        with lock:
            on_event(host, ev)

    results: dict[str, HostOutcome] = {}
    with ThreadPoolExecutor(max_workers=max(1, options.forks)) as pool:
        futures = {c.name: pool.submit(run_on_host, c, bundle, request_for(c.name), options, locked)
                   for c in conns}
        for name, fut in futures.items():
            results[name] = fut.result()
    return results
