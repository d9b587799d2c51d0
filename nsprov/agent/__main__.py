"""The agent's one I/O edge: a JSON request on stdin, JSON-lines events on stdout.

Run by hand on a host:  python3 /var/lib/nsprov/agent/<sha256>.pyz < request.json
with request.json holding e.g. {"protocol": 1, "op": "facts"}.

The request is the first line (a file holding one JSON object, on several lines, works too).
The controller keeps stdin open after it and may send control lines (model/protocol.py): stop
at the next safe point (Ctrl-C on the controller), or go on to the next play.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Optional

from nsprov.model import protocol
from nsprov.model.protocol import ProtocolError, decode_request, encode, event

HEARTBEAT_SECONDS = 2.0
# Events are written at once and sent at most this late: one SSH packet for a burst of task
# events instead of one each (a 20-namespace run sends ~65), which the controller decrypts
# and wakes up for one by one. Errors and the final `done` go at once.
FLUSH_SECONDS = 0.05


class Events:
    """JSON-lines events on stdout, flushed in bursts, with a heartbeat. If the controller went
    away (connection cut), the run goes on: the host ends in the planned state, or rolled back,
    never half-way because a report could not be sent."""

    def __init__(self, out):
        self.out, self.dead, self.lock = out, False, threading.Lock()
        self.flushed = time.monotonic()   # when events last left; written ones wait at most FLUSH_SECONDS
        threading.Thread(target=self._beat, daemon=True).start()

    def _flush(self) -> None:
        try:
            self.out.flush()
        except OSError:
            self.dead = True
        self.flushed = time.monotonic()

    def __call__(self, message: dict) -> None:
        with self.lock:
            if self.dead:
                return
            try:
                self.out.write(encode(message))
            except OSError:
                self.dead = True
                return
            if message["event"] in ("done", "error") or time.monotonic() - self.flushed >= FLUSH_SECONDS:
                self._flush()

    def _beat(self) -> None:
        """Sends what was left in the buffer; every HEARTBEAT_SECONDS an `alive` event lets the
        controller tell a long task from a lost session."""
        beat = time.monotonic()
        while not self.dead:
            time.sleep(FLUSH_SECONDS)
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                beat = time.monotonic()
                self(event("alive"))
            with self.lock:
                if not self.dead:
                    self._flush()


class Lines:
    """Lines of a file descriptor, read with os.read: a thread blocked here holds no lock of
    Python's (a thread blocked in sys.stdin's reader makes the interpreter abort at exit)."""

    def __init__(self, fd: int):
        self.fd, self.buf, self.eof = fd, b"", False

    def readline(self, limit: int) -> bytes:
        while b"\n" not in self.buf and not self.eof and len(self.buf) <= limit:
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                self.eof = True
            self.buf += chunk
        if b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            return line + b"\n"
        line, self.buf = self.buf, b""
        return line

    def rest(self, limit: int) -> bytes:
        while not self.eof and len(self.buf) <= limit:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                self.eof = True
            self.buf += chunk
        out, self.buf = self.buf, b""
        return out


class Control:
    """What the controller says after the request, read on a thread: `stop` (the run ends at
    its next safe point), `go` (the next play may start). End of input means the controller is
    gone: a run in progress finishes, and no further play starts."""

    def __init__(self, lines: Optional[Lines]):
        self.stop = threading.Event()
        self.ended = threading.Event()
        self._go: set = set()
        self._changed = threading.Condition()
        if lines is not None:
            threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        else:
            self.ended.set()

    def _read(self, lines: Lines) -> None:
        while True:
            line = lines.readline(protocol.MAX_REQUEST_BYTES)
            if not line:
                break
            message = protocol.decode_control(line)
            with self._changed:
                if message.get("control") == "stop":
                    self.stop.set()
                elif message.get("control") == "go":
                    self._go.add(message.get("play"))
                self._changed.notify_all()
        with self._changed:
            self.ended.set()
            self._changed.notify_all()

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    def wait_go(self, play: int) -> bool:
        """Wait until play PLAY may start: True, or False when told to stop or left alone."""
        with self._changed:
            while play not in self._go:
                if self.stop.is_set() or self.ended.is_set():
                    return False
                self._changed.wait(1.0)
            return True


def read_request(lines: Lines) -> tuple:
    """(request bytes, the lines left for control, or None when the input ended)."""
    import json
    first = lines.readline(protocol.MAX_REQUEST_BYTES)
    try:
        json.loads(first)
        return first, lines
    except ValueError:     # a file holding a request on several lines: read it whole
        return first + lines.rest(protocol.MAX_REQUEST_BYTES - len(first)), None


def _error_event(exc: BaseException) -> dict:
    import traceback   # ~5 ms to import: only a run that fails pays it
    tail = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return protocol.error_event(type(exc).__name__, str(exc), "".join(tail)[-2000:])


def dispatch(request: dict, emit, control: Control) -> bool:
    """Run one request; emits events; returns whether everything succeeded."""
    op = request["op"]
    if op == "facts":
        from nsprov.agent.kernel.facts import observe_facts
        from nsprov.agent.ledger import Ledger
        emit(event("facts", facts=observe_facts(Ledger.open_readonly().objects)))
        return True
    if op in ("apply", "destroy"):
        return _change(request, emit, control)
    if op == "verify":
        return _verify(request, emit, control)
    if op == "exec":
        return _exec(request, emit)
    if op == "labs":
        from nsprov.agent.ledger import Ledger
        ledger = Ledger.open_readonly()
        emit(event("labs", labs={lab: {**meta, "objects": len(ledger.owned_by(lab)), "nodes": _nodes(ledger, lab),
                                       **_lifetime(meta, lab)}
                                 for lab, meta in sorted(ledger.labs.items())}))
        return True
    raise ProtocolError(f"op {op!r} is not handled by this agent")


def _lifetime(meta: dict, lab: str) -> dict:
    """Whether the lab persists (and how its last restore went), and whether the host booted
    since its last run (then what it made is gone, unless it persists)."""
    import calendar
    from nsprov.agent import persist
    from nsprov.agent.ledger import STAMP
    updated = meta.get("updated")
    since = bool(updated) and calendar.timegm(time.strptime(updated, STAMP)) < persist.booted_at()
    return {"persist": persist.status(lab), "rebooted_since": since}


def _nodes(ledger, lab: str) -> list:
    """The lab's namespaces as the kernel holds them now, as `containerlab inspect` lists nodes:
    [{name, kind, state, interfaces: [{name, addresses}]}] (loopback and link-local aside)."""
    from nsprov.agent.kernel import netns, rtdump
    from nsprov.agent.kernel.sockets import observe_links
    out = []
    for e in ledger.owned_by(lab):
        if e["kind"] not in ("netns", "nsset") or e["kind"] == "nsset" and "net" not in (e.get("kinds") or []):
            continue
        node = {"name": e["name"], "kind": "namespace set" if e["kind"] == "nsset" else "netns", "state": "missing",
                "interfaces": []}
        try:
            with netns.entered(e["name"]):
                sock = rtdump.open_socket()
            try:
                node["interfaces"] = [{"name": x["name"], "addresses": [a for a in x.get("addresses", [])
                                                                        if not a.startswith("fe80:")]}
                                      for x in observe_links(sock) if x["name"] != "lo"]
            finally:
                sock.close()
            node["state"] = "present"
        except OSError:
            pass
        out.append(node)
    return out


def _change(request: dict, emit, control: Control) -> bool:
    """apply or destroy, under the host's lock."""
    from nsprov.agent.requests import apply_request, destroy_request
    from nsprov.agent.kernel import Kernel
    from nsprov.agent.ledger import Ledger
    if not isinstance(request.get("lab"), str) or not request["lab"]:
        raise ProtocolError("apply and destroy need a lab (its name)")
    if request["op"] == "apply" and not (isinstance(request.get("phases"), list) and
                                         all(isinstance(p, dict) and isinstance(p.get("tasks"), list)
                                             for p in request["phases"]) or isinstance(request.get("tasks"), list)):
        raise ProtocolError("apply needs phases, each with its list of tasks (or one list of tasks)")
    from nsprov.agent import persist
    warning = persist.preflight(request) if request["op"] == "apply" else None   # --persist where it cannot be: stop
    if warning is not None:
        emit(warning)
    kernel = Kernel(request.get("firewall"))
    try:
        # drift reads, and writes nothing (not even the lock file): the host stays as it was
        opened = Ledger.open_readonly() if request.get("drift") else Ledger.open(
            timeout=float(request.get("lock_timeout", 60)))
        with opened as ledger:
            emit(event("locked"))
            run = apply_request if request["op"] == "apply" else destroy_request
            ok = run(request, emit, ledger, kernel, control)
            if request["op"] == "apply":
                persist.after_apply(request, ok and not control.stopping, emit)
            elif ok and not request.get("check") and not ledger.owned_by(request["lab"]):
                persist.drop(request["lab"])            # the lab is gone: so is its unit
            return ok
    finally:
        kernel.close()


def _verify(request: dict, emit, control: Control) -> bool:
    """The checks of each play in play order; a violation is reported and the checks go on."""
    from nsprov.agent.phases import phases_of, run_phases
    from nsprov.agent.kernel.sockets import Sockets
    from nsprov.agent.kernel.verify import verify_assertions, verify_set
    passed = [True]
    with Sockets() as sockets:
        def phase(ph: dict) -> bool:
            runs = [(verify_set, decl) for decl in ph.get("sets") or []]
            runs += [(verify_assertions, params) for params in ph.get("assertions") or []]
            for check_all, what in runs:
                for check in check_all(what, sockets):
                    passed[0] = passed[0] and check["passed"]
                    emit(protocol.check_event(check))
            return True
        done = run_phases(phases_of(request, ("sets", "assertions")), emit, control, phase)
    return done and passed[0]


def _exec(request: dict, emit) -> bool:
    """Run one command inside a namespace set (or netns), streaming its output."""
    from nsprov.agent.kernel.enter import NAME_FILES, enter_prefix, etc_path
    from nsprov.agent.kernel import nsset
    from nsprov.agent.kernel.netns import named_netns
    from nsprov.agent.kernel.processes import stream
    name = request.get("namespace", "")
    argv = request.get("command")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ProtocolError("exec needs a command: a non-empty list of strings")
    info = nsset.observe(name) if name else None
    if name and info is None:
        if name not in named_netns():
            raise ProtocolError(f"no namespace set or netns named {name!r} on this host")
        names = any(os.path.exists(etc_path(name, f)) for f in NAME_FILES)
        prefix = enter_prefix({"netns": name}, None, names=names)
    else:
        prefix = enter_prefix({"namespace": name}, info["kinds"]) if name else []
    rc = stream([*prefix, *argv], lambda kind, data: emit(event("output", stream=kind, data=data)))
    emit(event("exit", status=rc))
    return True


def _timings(began_wall: float) -> dict:
    timings = {}
    if "NSPROV_T0" in os.environ:   # set by the bootstrap: Python start-up, bundle check, imports
        timings["startup"] = round(began_wall - float(os.environ["NSPROV_T0"]), 4)
    engine = sys.modules.get("nsprov.agent.engine")
    if engine is not None:
        timings.update(engine.TIMINGS)
    return timings


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "ns-init":   # the init of a namespace set (see kernel/nsset.py)
        from nsprov.agent.kernel.nsset import init_main
        return init_main(sys.argv[2])
    if len(sys.argv) == 4 and sys.argv[1] == "supervise":   # a process's supervisor (kernel/supervise.py)
        from nsprov.agent.kernel.supervise import supervise_main
        return supervise_main(sys.argv[2], sys.argv[3])
    began, began_wall = time.monotonic(), time.time()
    raw, rest = read_request(Lines(0))
    try:
        request = decode_request(raw)
    except ProtocolError as exc:
        Events(sys.stdout.buffer)(protocol.error_event("ProtocolError", str(exc)))
        return 2
    if request["op"] == "restore":              # the boot unit's: plain lines for the journal
        from nsprov.agent.persist import restore_main
        return restore_main(request)
    emit = Events(sys.stdout.buffer)
    control = Control(rest)
    try:
        ok = dispatch(request, emit, control)
    except Exception as exc:  # travels back as data, with its type and traceback tail
        emit(_error_event(exc))
        return 1
    emit(protocol.done_event(ok, round(time.monotonic() - began, 4), _timings(began_wall),
                             interrupted=control.stopping))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
