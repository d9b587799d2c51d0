"""Labs that survive a reboot: a persisted lab's last applied request is kept on the host with
the agent bundle that applied it, and a systemd unit of its own re-applies it at boot through
the same hash-checked bootstrap a run uses. No controller is needed.

    /var/lib/nsprov/persist/LAB.json          the restore request (the last applied request inside)
    /var/lib/nsprov/persist/LAB.status.json   how the last restore went (read by `nsprov labs`)
    /var/lib/nsprov/persist/agent/SHA.pyz     the bundles persisted labs need (a run's cache is
                                              pruned to one bundle; this one is not)
    /var/lib/nsprov/persist/bootstrap.py      the bootstrap, as the controller sends it
    /etc/systemd/system/nsprov-lab-LAB.service

A restore applies the request as a run would, play by play. A task that fails is left out and
the play applied again without it (a failed play is undone whole, so nothing is left half
made): what can come back does, and each failure is said in the journal and in `nsprov labs`.
The next run from the controller repairs the rest.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Callable, Optional

from nsprov.agent.kernel import units
from nsprov.agent.ledger import stamp
from nsprov.agent.kernel.statedir import STATE_DIR, ensure_private_dir
from nsprov.model import protocol

PERSIST_DIR = os.path.join(STATE_DIR, "persist")
AGENT_DIR = os.path.join(PERSIST_DIR, "agent")
KEEPS = ("required", "wanted")       # --persist; persist: true on a play (or a topology's label)


class Unavailable(RuntimeError):
    """--persist on a host that cannot keep a lab across reboots: refused before any change."""


def unit_name(lab: str) -> str:
    return f"nsprov-lab-{lab}.service"      # a lab's name is of characters a unit name takes as they are


def _path(lab: str, suffix: str = ".json") -> str:
    return os.path.join(PERSIST_DIR, lab + suffix)


unavailable = units.unavailable


def preflight(req: dict) -> Optional[dict]:
    """Before anything changes. --persist where it cannot be: Unavailable (the run stops);
    persist: true there: a warning event, and the run goes on without it."""
    mode = (req.get("persist") or {}).get("mode")
    why = unavailable() if mode in KEEPS and not (req.get("check") or req.get("drift")) else None
    if why is None:
        return None
    if mode == "required":
        raise Unavailable(f"--persist: persistence is unavailable on this host: {why}; nothing was changed")
    return protocol.event("persist", status="unavailable", lab=req["lab"],
                          message=f"persist: lab {req['lab']} will not survive a reboot here: {why}")


def after_apply(req: dict, ok: bool, emit) -> None:
    """A real run that applied the lab whole: keep it (persist asked) or forget it (not asked).
    A run of a part (--tags, --keep-undeclared) or a failed one leaves what is kept as it was."""
    if req.get("check") or req.get("drift") or not ok or not (req.get("prune") or {}).get("enabled", True):
        return
    mode = (req.get("persist") or {}).get("mode")
    if mode in KEEPS and unavailable() is None:
        try:
            kept = keep(req)
        except OSError as exc:      # the lab stands; only its boot-time copy could not be made
            if mode == "required":
                raise Unavailable(f"--persist: the lab was applied, but could not be kept for the next boot: {exc}")
            emit(protocol.event("persist", status="failed", lab=req["lab"],
                                message=f"persist: lab {req['lab']} could not be kept for the next boot: {exc}"))
            return
        if kept:
            emit(protocol.event("persist", status="kept", lab=req["lab"],
                                message=f"lab {req['lab']} persists: {unit_name(req['lab'])} re-applies it at boot"))
    elif os.path.exists(_path(req["lab"])):
        drop(req["lab"])
        emit(protocol.event("persist", status="removed", lab=req["lab"],
                            message=f"lab {req['lab']} no longer persists (this run did not ask): its unit is gone"))


def _write(path: str, text: str, mode: int = 0o600) -> bool:
    """Write PATH whole (atomically) unless it holds TEXT already: whether it was written."""
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return True


def _stored(req: dict) -> dict:
    """The request a boot re-applies: this one as it was applied, minus the one-run settings."""
    keep_out = ("persist", "check", "diff", "drift", "take_over", "lock_timeout")
    return {k: v for k, v in req.items() if k not in keep_out}


def _unit(lab: str, sha: str, size: int) -> str:
    return (f"# Made by nsprov for lab {lab}: re-applies its last applied state at boot.\n"
            f"# `nsprov destroy` (or a run without persist) removes it.\n"
            f"[Unit]\nDescription=nsprov: restore lab {lab}\n"
            f"Wants=network-online.target\nAfter=network-online.target\n\n"
            f"[Service]\nType=oneshot\nRemainAfterExit=yes\n"
            f"# the lab's processes and namespace-set inits outlive this restore: only it is ended on stop\n"
            f"KillMode=process\nStandardInput=file:{_path(lab)}\nStandardOutput=journal\n"
            f"ExecStart={sys.executable} -I -S {os.path.join(PERSIST_DIR, 'bootstrap.py')} {sha} {size} "
            f"{AGENT_DIR} rw\n\n[Install]\nWantedBy=multi-user.target\n")


def keep(req: dict) -> bool:
    """Store the request, the bundle and the bootstrap; write and enable the unit. Whether
    anything was new."""
    lab, bundle = req["lab"], sys.argv[0]
    if not bundle.endswith(".pyz") or not os.path.isfile(bundle):
        raise OSError(f"persist: the agent runs from no bundle file ({bundle!r}) a boot could run again")
    sha, size = os.path.basename(bundle)[:-len(".pyz")], os.path.getsize(bundle)
    for d in (STATE_DIR, PERSIST_DIR, AGENT_DIR):
        ensure_private_dir(d)
    kept = os.path.join(AGENT_DIR, sha + ".pyz")
    new = not os.path.exists(kept)
    if new:
        shutil.copyfile(bundle, kept + ".tmp")
        os.chmod(kept + ".tmp", 0o600)
        os.replace(kept + ".tmp", kept)
    new |= _write(os.path.join(PERSIST_DIR, "bootstrap.py"), req["persist"]["bootstrap"])
    request = {"protocol": protocol.PROTOCOL_VERSION, "op": "restore", "lab": lab, "agent": sha,
               "request": _stored(req)}
    new |= _write(_path(lab), json.dumps(request, separators=(",", ":")) + "\n")
    new |= units.install(unit_name(lab), _unit(lab, sha, size), _write)
    _mark_repaired(lab)
    _prune_bundles()
    return new


def _mark_repaired(lab: str) -> None:
    """A whole run after a restore that was not whole: the lab stands again, and `labs` says
    so beside what the restore could not bring back."""
    try:
        with open(_path(lab, ".status.json")) as f:
            last = json.load(f)
    except (OSError, ValueError):
        return
    if last.get("result") != "restored" and "repaired" not in last:
        last["repaired"] = stamp()
        _write(_path(lab, ".status.json"), json.dumps(last) + "\n")


def drop(lab: str) -> None:
    """Remove the lab's unit and everything kept for it (destroy, or a run that no longer asks)."""
    units.remove(unit_name(lab))
    for path in (_path(lab), _path(lab, ".status.json")):
        if os.path.exists(path):
            os.unlink(path)
    _prune_bundles()


def _prune_bundles() -> None:
    """Bundles no persisted lab needs any more go (their compiled companions with them)."""
    if not os.path.isdir(AGENT_DIR):
        return
    needed = set()
    for name in os.listdir(PERSIST_DIR):
        if name.endswith(".json") and not name.endswith(".status.json"):
            try:
                with open(os.path.join(PERSIST_DIR, name)) as f:
                    needed.add(json.load(f).get("agent"))
            except (OSError, ValueError):
                continue
    for name in os.listdir(AGENT_DIR):
        if name.split(".")[0] not in needed:
            os.unlink(os.path.join(AGENT_DIR, name))
    if not needed:
        for leftover in ("bootstrap.py",):
            if os.path.exists(os.path.join(PERSIST_DIR, leftover)):
                os.unlink(os.path.join(PERSIST_DIR, leftover))


def status(lab: str) -> Optional[dict]:
    """What `nsprov labs` shows of a lab's persistence: None when it does not persist."""
    if not os.path.exists(_path(lab)):
        return None
    try:
        with open(_path(lab, ".status.json")) as f:
            last = json.load(f)
    except (OSError, ValueError):
        last = {}
    return {"unit": unit_name(lab), **last}


def booted_at() -> float:
    """When this host last booted (the epoch seconds of /proc/stat's btime)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


# ------------------------------------------------------------------ at boot
class Unattended:
    """The control of a restore: nobody to say stop, every play may start at once."""
    stopping = False

    def wait_go(self, play) -> bool:
        return True


def restore(stored: dict, ledger, kernel, say: Callable[[str], None], attempts: int = 50) -> dict:
    """Apply STORED (a kept apply request), leaving out each task that fails and applying its
    play again without it: {result: restored | partial | failed, restored: [names], failed:
    [{task, reason}], when}."""
    from nsprov.agent.converge import exists
    from nsprov.agent.requests import apply_request, object_label
    from nsprov.agent.state import observed
    req = {**stored, "check": False, "drift": False}
    obs = observed(kernel)
    gone = [object_label(e) for e in ledger.owned_by(req["lab"]) if not exists(e, obs)]
    if gone:             # recorded before the reboot, destroyed by it: made again below
        say(f"gone with the reboot: {', '.join(gone)}")
    # checks are for a person to run (`nsprov verify`): at boot, servers may still be starting
    phases = [dict(ph, tasks=[t for t in ph.get("tasks") or [] if t.get("module") != "verify"])
              for ph in req.get("phases") or []]
    failed: list = []
    events: list = []
    for _ in range(attempts):
        events = []
        if apply_request({**req, "phases": phases}, events.append, ledger, kernel, Unattended()):
            break
        bad = {e["index"]: e for e in events if e["event"] == "task" and e["status"] == protocol.FAILED}
        if not bad:
            break                 # a violation, not a failure: the lab stands, its checks said why
        failed += [{"task": e["name"], "reason": e["reason"]} for e in bad.values()]
        for ph in phases:
            ph["tasks"] = [t for t in ph["tasks"] if t["index"] not in bad]
    done = [e["name"] for e in events if e["event"] == "task" and e["status"] in (protocol.CHANGED, protocol.OK)]
    for name in done:
        say(f"restored: {name}")
    for f in failed:
        say(f"FAILED: {f['task']}: {f['reason']}")
    result = "restored" if not failed else "partial" if done else "failed"
    return {"result": result, "restored": len(done), "failed": failed,
            "when": stamp()}


def restore_main(request: dict) -> int:
    """The boot unit's run (op "restore"): plain lines for the journal, the outcome kept for
    `nsprov labs`. Exit 0 restored, 1 partial or failed."""
    from nsprov.agent.kernel import Kernel
    from nsprov.agent.ledger import Ledger
    lab = request["lab"]

    def say(line: str) -> None:
        print(f"lab {lab}: {line}", flush=True)
    kernel = Kernel(request["request"].get("firewall"))
    try:
        with Ledger.open(timeout=300) as ledger:
            outcome = restore(request["request"], ledger, kernel, say)
    except Exception as exc:     # said, and kept for `nsprov labs`
        outcome = {"result": "failed", "restored": 0, "failed": [{"task": "(restore)", "reason": f"{exc}"}],
                   "when": stamp()}
        say(f"FAILED: {exc}")
    finally:
        kernel.close()
    _write(_path(lab, ".status.json"), json.dumps(outcome) + "\n")
    say(f"outcome: {outcome['result']} ({outcome['restored']} task(s) restored, {len(outcome['failed'])} failed)")
    return 0 if outcome["result"] == "restored" else 1
