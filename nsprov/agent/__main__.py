"""The agent's one I/O edge: a JSON request on stdin, JSON-lines events on stdout.

Run by hand on a host:  python3 /var/lib/nsprov/agent/<sha256>.pyz < request.json
with request.json holding e.g. {"protocol": 1, "op": "facts"}.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

from nsprov.model.protocol import ProtocolError, decode_request, encode, event


HEARTBEAT_SECONDS = 2.0
# Events are written at once and sent at most this late: one SSH packet for a burst of task
# events instead of one each (a 20-namespace run sends ~65), which the controller decrypts
# and wakes up for one by one. Errors and the final `done` go at once.
FLUSH_SECONDS = 0.05


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
    if op == "verify":
        from nsprov.agent.rtnl import Sockets
        from nsprov.agent.verify import verify_assertions, verify_set
        ok = True
        with Sockets() as sockets:
            for decl in request.get("sets", []):
                for check in verify_set(decl, sockets):
                    ok = ok and check["passed"]
                    emit(event("check", **check))
            for params in request.get("assertions", []):
                for check in verify_assertions(params, sockets):
                    ok = ok and check["passed"]
                    emit(event("check", **check))
        return ok
    if op == "exec":
        return _exec(request, emit)
    raise ProtocolError(f"op {op!r} is not handled by this agent")


def _exec(request: dict, emit) -> bool:
    """Run one command inside a namespace set (or netns), streaming its output."""
    import subprocess

    from nsprov.agent import nsset
    from nsprov.agent.netns import named_netns
    from nsprov.agent.processes import enter_prefix, environment
    name = request.get("namespace", "")
    argv = request.get("command")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ProtocolError("exec needs a command: a non-empty list of strings")
    info = nsset.observe(name) if name else None
    if name and info is None:
        if name not in named_netns():
            raise ProtocolError(f"no namespace set or netns named {name!r} on this host")
        prefix = enter_prefix({"netns": name}, None)
    else:
        prefix = enter_prefix({"namespace": name}, info["kinds"]) if name else []
    proc = subprocess.Popen([*prefix, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environment({}), cwd="/")
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
    sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
    open_streams = 2
    while open_streams:
        for key, _ in sel.select():
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            emit(event("output", stream=key.data, data=data.decode(errors="replace")))
    rc = proc.wait()
    emit(event("exit", status=rc))
    return True


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "ns-init":   # the init of a namespace set (see nsset.py)
        from nsprov.agent.nsset import init_main
        return init_main(sys.argv[2])
    began, began_wall = time.monotonic(), time.time()
    out = sys.stdout.buffer

    dead = []
    lock = threading.Lock()
    flushed = [time.monotonic()]   # when events last left; written ones wait at most FLUSH_SECONDS

    def flush() -> None:
        out.flush()
        flushed[0] = time.monotonic()

    def emit(message: dict) -> None:
        # if the controller went away (connection cut), finish the run anyway: the host ends in
        # the planned state, or rolled back, never half-way because a report could not be sent
        with lock:
            if dead:
                return
            try:
                out.write(encode(message))
                if message["event"] in ("done", "error") or time.monotonic() - flushed[0] >= FLUSH_SECONDS:
                    flush()
            except OSError:
                dead.append(True)

    def heartbeat() -> None:
        """Sends what emit left in the buffer; every HEARTBEAT_SECONDS an `alive` event lets the
        controller tell a long task from a lost session."""
        beat = time.monotonic()
        while not dead:
            time.sleep(FLUSH_SECONDS)
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                beat = time.monotonic()
                emit(event("alive"))
            with lock:
                try:
                    if not dead:
                        flush()
                except OSError:
                    dead.append(True)
    threading.Thread(target=heartbeat, daemon=True).start()

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
    timings = {}
    if "NSPROV_T0" in os.environ:   # set by the bootstrap: Python start-up, bundle check, imports
        timings["startup"] = round(began_wall - float(os.environ["NSPROV_T0"]), 4)
    engine = sys.modules.get("nsprov.agent.engine")
    if engine is not None:
        timings.update(engine.TIMINGS)
    emit(event("done", ok=ok, seconds=round(time.monotonic() - began, 4), timings=timings))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
