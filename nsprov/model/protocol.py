"""The wire protocol between controller and agent.

One JSON request on the agent's stdin: {"protocol": 1, "op": "facts" | ..., ...}.
JSON-lines events on its stdout, each {"event": NAME, ...}; logs go to stderr. The last event
is always "done" (with "ok": bool) or "error" (type, message, traceback tail).
"""

from __future__ import annotations

import json
from typing import Any

PROTOCOL_VERSION = 1
OPS = ("facts", "apply", "destroy", "verify", "exec")
MAX_REQUEST_BYTES = 64 * 1024 * 1024


class ProtocolError(ValueError):
    """A request or event that does not follow the protocol."""


def encode(message: dict) -> bytes:
    return (json.dumps(message, separators=(",", ":"), sort_keys=False) + "\n").encode()


def decode_request(raw: bytes) -> dict:
    """Parse and check a request; raises ProtocolError with a message a person can act on."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise ProtocolError(f"request of {len(raw)} bytes is over the {MAX_REQUEST_BYTES} byte limit")
    try:
        req = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"request is not valid JSON: {exc}") from None
    if not isinstance(req, dict):
        raise ProtocolError("request must be a JSON object")
    version = req.get("protocol")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r} is not supported by this agent "
                            f"(it speaks {PROTOCOL_VERSION}); upgrade the controller or the agent")
    if req.get("op") not in OPS:
        raise ProtocolError(f"unknown op {req.get('op')!r} (expected one of: {', '.join(OPS)})")
    return req


def event(kind: str, /, **fields: Any) -> dict:
    return {"event": kind, **fields}
