"""The wire vocabulary between controller and agent, and the events the controller adds for its
reporters: every request and event is made here, so agent, runner, console, JSON lines and
recap speak one language.

One JSON request on the agent's stdin: {"protocol": 1, "op": "facts" | ..., ...}.
JSON-lines events on its stdout, each {"event": NAME, ...}; logs go to stderr. The last event
is always "done" (with "ok": bool) or "error" (type, message, traceback tail).
"""

from __future__ import annotations

import json
from typing import Any, Optional

PROTOCOL_VERSION = 1
OPS = ("facts", "apply", "destroy", "verify", "exec", "labs", "restore")
MAX_REQUEST_BYTES = 64 * 1024 * 1024

# task statuses, as the recap counts them (Ansible's: `ok` counts every task that succeeded)
OK, CHANGED, FAILED, SKIPPED = "ok", "changed", "failed", "skipped"
# what became of a host
HOST_OK, HOST_FAILED, HOST_UNREACHABLE, HOST_INTERRUPTED = "ok", "failed", "unreachable", "interrupted"


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


# ------------------------------------------------------------------ requests (controller -> agent)
def facts_request() -> dict:
    return {"protocol": PROTOCOL_VERSION, "op": "facts"}


def phase(play: int, **what) -> dict:
    """One play's part of a request: {"play": index, ...}: tasks (apply), sets and assertions
    (verify); a destroy's phase names the play whose objects go."""
    return {"play": play, **what}


def apply_request(lab: str, phases: list, **settings) -> dict:
    """PHASES: one per play the host is in, in play order; the first runs at once, each later
    one when the controller says `go` (every host has finished the plays before it). A
    request written by hand may give "tasks" instead: one phase. SETTINGS: check, diff,
    firewall (nftables | iptables), lock_timeout (s), claim {playbook, controller, user} (the
    lab is this playbook's), take_over, prune {enabled, why} (remove what the lab made and no
    longer declares), drift (read-only: report, write nothing), persist {mode: required |
    wanted, bootstrap: its text} (keep the lab across reboots: agent/persist.py)."""
    return {"protocol": PROTOCOL_VERSION, "op": "apply", "lab": lab, "phases": phases, **settings}


def destroy_request(lab: str, phases: Optional[list] = None, **settings) -> dict:
    """PHASES: the plays in reverse order (clients go before the servers they need), each
    removing what that play made; the last phase also takes what no listed play made. None:
    everything the lab recorded, at once. SETTINGS: check, firewall, lock_timeout, claim,
    take_over, keep_logs."""
    return {"protocol": PROTOCOL_VERSION, "op": "destroy", "lab": lab, **settings,
            **({"phases": phases} if phases is not None else {})}


def labs_request() -> dict:
    """Which labs this host's ledger holds: playbook, controller, user, when, how many objects."""
    return {"protocol": PROTOCOL_VERSION, "op": "labs"}


def verify_request(phases: list) -> dict:
    """PHASES: {play, sets, assertions} per play, in play order, like apply's."""
    return {"protocol": PROTOCOL_VERSION, "op": "verify", "phases": phases}


def read_only(request: dict) -> bool:
    """Whether REQUEST only reads the host (facts, labs, drift): its run writes nothing there,
    not even the agent's cache."""
    return request.get("op") in ("facts", "labs") or (request.get("op") == "apply" and bool(request.get("drift")))


def exec_request(namespace: str, command: list) -> dict:
    return {"protocol": PROTOCOL_VERSION, "op": "exec", "namespace": namespace, "command": command}


# ------------------------------------------------------------------ control (controller -> agent, after the request)
def stop_control() -> dict:
    """Stop at the next safe point: between tasks, never inside one; the ledger stays complete."""
    return {"control": "stop"}


def go_control(play: int) -> dict:
    """Play PLAY may start: every host has finished the plays before it."""
    return {"control": "go", "play": play}


def decode_control(line: bytes) -> dict:
    """A control line, or {} for anything else (a stray line is not an order)."""
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return {}
    return message if isinstance(message, dict) else {}


# ------------------------------------------------------------------ events (agent -> controller)
def task_event(index: int, name: str, module: str, status: str, reason: str, **extra) -> dict:
    """One task's outcome. EXTRA: check (True in check mode), diff {before, after}, output,
    checks (a verify task's), register (added by the JSON reporter)."""
    return event("task", index=index, name=name, module=module, status=status, reason=reason, **extra)


def rollback_event(undone: list, errors: list) -> dict:
    return event("rollback", undone=undone, errors=errors)


def check_event(check: dict) -> dict:
    """One isolation or reachability check: {check, subject, expected, observed, passed}."""
    return event("check", **check)


def phase_done_event(play: int, ok: bool, interrupted: bool = False) -> dict:
    """The host has finished play PLAY (its tasks reported before): the controller's barrier
    counts these."""
    return event("phase_done", play=play, ok=ok, **({"interrupted": True} if interrupted else {}))


def ledger_event(recorded: int, removed: int) -> dict:
    """What a plan's apply did to the host's ledger: objects recorded (made), objects removed."""
    return event("ledger", recorded=recorded, removed=removed)


def done_event(ok: bool, seconds: float, timings: dict, interrupted: bool = False) -> dict:
    return event("done", ok=ok, seconds=seconds, timings=timings, **({"interrupted": True} if interrupted else {}))


def error_event(kind: str, message: str, traceback: str = "") -> dict:
    return event("error", type=kind, message=message, **({"traceback": traceback} if traceback else {}))


# ------------------------------------------------------------------ events the controller adds
def host_start_event() -> dict:
    return event("host_start")


def host_done_event(status: str, error: Optional[str], error_type: Optional[str], transport: dict,
                    seconds: float) -> dict:
    return event("host_done", status=status, error=error, error_type=error_type, transport=transport,
                 seconds=seconds)


def play_event(play: int, name: str, hosts: list) -> dict:
    """Play PLAY starts on HOSTS (every host has finished the plays before it)."""
    return event("play", play=play, name=name, hosts=hosts)


def host_out_event(play: int, name: str, reason: str) -> dict:
    """The host takes no part in play PLAY (it failed, or was unreachable or interrupted, before)."""
    return event("host_out", play=play, name=name, reason=reason)


def recap_counts(events: list, host_status: str) -> dict:
    """Per host, one shape for every command: how many of its items were ok / changed / failed
    / skipped, and whether it was unreachable (and `interrupted: true` when it was). The items
    are tasks (run, destroy, drift: Ansible's way, `ok` counts every task that succeeded,
    changed or not), checks (verify: passed is ok), or the one answer of facts and labs. A host
    whose agent failed without a failed item (bootstrap, lock, protocol) counts one failure."""
    counts = {OK: 0, CHANGED: 0, FAILED: 0, SKIPPED: 0, "unreachable": host_status == HOST_UNREACHABLE}
    if host_status == HOST_INTERRUPTED:
        counts["interrupted"] = True
    for ev in events:
        kind = ev.get("event")
        if kind == "check":
            counts[OK if ev.get("passed") else FAILED] += 1
        elif kind in ("facts", "labs"):
            counts[OK] += 1
        if kind != "task":
            continue
        status = ev.get("status")
        if status in (OK, CHANGED):
            counts[OK] += 1
        if status in (CHANGED, FAILED, SKIPPED):
            counts[status] += 1
    if host_status == HOST_FAILED and counts[FAILED] == 0:
        counts[FAILED] = 1
    return counts


def recap_event(hosts: dict, **extra) -> dict:
    """The last line of --json: {"event": "recap", "hosts": {host: counts}, ...}."""
    return event("recap", hosts=hosts, **extra)


def object_counts(events: list) -> dict:
    """Objects a host's run recorded and removed (beside its task counts: destroy counts tasks
    as run does, one a task, and its objects here)."""
    out = {"recorded": 0, "removed": 0}
    for ev in events:
        if ev.get("event") == "ledger":
            out["recorded"] += ev["recorded"]
            out["removed"] += ev["removed"]
    return out
