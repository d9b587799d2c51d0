"""JSON lines for machines: one object per event, flushed as it happens."""

from __future__ import annotations

import json
import sys
from typing import IO, Optional

from nsprov.reporting.output import write


class JsonLines:
    """REGISTERS: {host: {task index: name}}: a task with `register: NAME` has its event say so."""

    def __init__(self, stream: Optional[IO[str]] = None, registers: Optional[dict] = None):
        self.stream = stream or sys.stdout
        self.registers = registers or {}

    def __call__(self, host: str, ev: dict) -> None:
        if ev.get("event") == "task":
            name = self.registers.get(host, {}).get(ev.get("index"))
            if name:
                ev = {**ev, "register": name}
        self.write({**ev, "host": host} if host else ev)   # a play starting is the run's, not a host's

    def write(self, obj: dict) -> None:
        write(self.stream, json.dumps(obj, sort_keys=False, default=str) + "\n")   # a reader gone: the run goes on
