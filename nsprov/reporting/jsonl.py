"""JSON lines for machines: one object per event, flushed as it happens."""

from __future__ import annotations

import json
import sys
from typing import IO, Optional


class JsonLines:
    def __init__(self, stream: Optional[IO[str]] = None):
        self.stream = stream or sys.stdout

    def __call__(self, host: str, ev: dict) -> None:
        self.write({**ev, "host": host})

    def write(self, obj: dict) -> None:
        self.stream.write(json.dumps(obj, sort_keys=False, default=str) + "\n")
        self.stream.flush()
