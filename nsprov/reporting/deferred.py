"""A reporter made once the hosts are at work, not before: events that come before it is
ready wait in order and are shown first; after FALLBACK seconds it is made anyway (a host slow
to connect still gets the title and the live display on time). It also gives the reporter its
clock (tick, for the live display to start on time), under the same lock as the events."""

from __future__ import annotations

import threading
from typing import Callable, Optional

FALLBACK = 0.3


class Deferred:
    """MAKE() builds the reporter, entered; this stands in for it until then."""

    def __init__(self, make: Callable[[], object]):
        self._make = make
        self._lock = threading.Lock()
        self._queue: list = []
        self._reporter: Optional[object] = None
        self._thread: Optional[threading.Thread] = None
        self._timers: list = []
        self._closed = False
        self._error: Optional[BaseException] = None

    def __enter__(self) -> "Deferred":
        self._after(FALLBACK, self._begin)
        return self

    def _after(self, seconds: float, fn) -> None:
        timer = threading.Timer(seconds, fn)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def __call__(self, host: str, ev: dict) -> None:
        with self._lock:
            if self._reporter is not None:
                self._reporter(host, ev)
                return
            self._queue.append((host, ev))
        if ev.get("event") == "locked":     # an agent is at work: the controller waits now
            self._begin()

    def _begin(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._build, daemon=True)
            self._thread.start()

    def _build(self) -> None:
        try:
            reporter = self._make()
        except BaseException as exc:      # raised again where the run ends, not lost in a thread
            self._error = exc
            return
        with self._lock:
            for host, ev in self._queue:
                reporter(host, ev)
            self._queue = []
            self._reporter = reporter
        tick = getattr(reporter, "tick", None)
        if tick is not None:
            from nsprov.reporting.progress import DELAY
            self._after(DELAY, self._tick)

    def _tick(self) -> None:
        with self._lock:
            if self._reporter is not None and not self._closed:
                self._reporter.tick()

    def __exit__(self, *exc) -> None:
        for timer in self._timers:
            timer.cancel()
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            self._build()
        else:
            thread.join()
        for timer in self._timers:
            timer.cancel()
        if self._reporter is None:
            raise self._error or RuntimeError("the console reporter was never made")
        self._reporter.__exit__(*exc)
