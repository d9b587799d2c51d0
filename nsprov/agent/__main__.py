"""The agent's one I/O edge: a JSON request on stdin, JSON-lines events on stdout.

Run by hand on a host:  python3 /var/lib/nsprov/agent/<sha256>.pyz < request.json
with request.json holding e.g. {"protocol": 1, "op": "facts"}.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

from nsprov.model.protocol import ProtocolError, decode_request, encode, event


def _read_stdin() -> bytes:
    chunks = []
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _error_event(exc: BaseException) -> dict:
    tail = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return event("error", type=type(exc).__name__, message=str(exc),
                 traceback="".join(tail)[-2000:])


def dispatch(request: dict, emit) -> bool:
    """Run one request; emits events; returns whether everything succeeded."""
    op = request["op"]
    if op == "facts":
        from nsprov.agent.facts import observe_facts
        from nsprov.agent.ledger import Ledger
        emit(event("facts", facts=observe_facts(Ledger.open_readonly().objects)))
        return True
    if op in ("apply", "destroy"):
        from nsprov.agent.engine import apply_request, destroy_request
        from nsprov.agent.kernel import Kernel
        from nsprov.agent.ledger import Ledger
        if not isinstance(request.get("owner"), str) or not request["owner"]:
            raise ProtocolError("apply and destroy need an owner (the playbook's name)")
        if op == "apply" and not isinstance(request.get("tasks"), list):
            raise ProtocolError("apply needs a list of tasks")
        kernel = Kernel(request.get("firewall"))
        try:
            with Ledger.open(timeout=float(request.get("lock_timeout", 60))) as ledger:
                emit(event("locked"))
                run = apply_request if op == "apply" else destroy_request
                return run(request, emit, ledger, kernel)
        finally:
            kernel.close()
    raise ProtocolError(f"op {op!r} is not handled by this agent")


def main() -> int:
    began = time.monotonic()
    out = sys.stdout.buffer

    def emit(message: dict) -> None:
        out.write(encode(message))
        out.flush()

    try:
        request = decode_request(_read_stdin())
    except ProtocolError as exc:
        emit(event("error", type="ProtocolError", message=str(exc)))
        return 2
    try:
        ok = dispatch(request, emit)
    except Exception as exc:  # travels back as data, with its type and traceback tail
        emit(_error_event(exc))
        return 1
    emit(event("done", ok=ok, seconds=round(time.monotonic() - began, 4)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
