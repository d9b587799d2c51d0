"""Processes nsprov starts inside namespaces: long-running ones (with a pid file) and one-shot runs.

Commands are argv lists, never shell strings. A process is entered into its namespaces with
`nsenter` (by the set's pin files), in a new session, its output in a root-only log. Its pid
file records PID and start time, so a re-run restarts it only if it died and destroy never
signals a PID that now belongs to someone else.

A process also carries NSPROV_PROCESS=NAME in its environment: an agent killed between
starting it and writing its pid file leaves it findable (observe and stop look for it there),
never running on unseen, keeping its namespace alive.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Optional

from nsprov.agent.kernel.statedir import STATE_DIR, ensure_private_dir

RUN_DIR = "/run/nsprov"
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def environment(env: dict) -> dict:
    """What every command nsprov starts gets, and nothing of the login session's (documented in
    the README): PATH, HOME=/root, then the task's own `env`."""
    return {"PATH": SAFE_PATH, "HOME": "/root", **env}


def _pidfile(name: str) -> str:
    return os.path.join(RUN_DIR, "proc", f"{name}.json")


def _start_time(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode()
        if stat[stat.rindex(")") + 2:].split()[0] == "Z":
            return None
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError):
        return None


MARKER = "NSPROV_PROCESS"


def _marked(name: str) -> list:
    """PIDs of processes whose environment names them NAME (see MARKER), oldest first."""
    want = f"{MARKER}={name}".encode()
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if want in f.read().split(b"\0"):
                    out.append(int(pid))
        except OSError:
            continue
    return sorted(out)


def observe(name: str) -> Optional[dict]:
    try:
        with open(_pidfile(name)) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        # no pid file: running anyway if an agent was killed before it wrote one
        pids = [p for p in _marked(name) if _start_time(p) is not None]
        if not pids:
            return None
        return {"pid": pids[-1], "started": _start_time(pids[-1]), "argv": None, "alive": True, "orphan": pids}
    rec["alive"] = _start_time(rec["pid"]) == rec["started"]
    if rec["alive"] and rec.get("restart", "no") != "no" and not _children(rec["pid"]):
        rec["alive"], rec["idle"] = False, True      # its supervisor waits to start it again: it is dead now
    return rec


def _children(pid: int) -> list:
    """PID's living children (one that exited and waits to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [c for c in f.read().split() if _start_time(int(c)) is not None]
    except OSError:
        return []


def log_dir(lab: str) -> str:
    """Where the lab's processes write their output: /var/lib/nsprov/log/LAB, removed with the
    lab by destroy (unless --keep-logs)."""
    return os.path.join(STATE_DIR, "log", lab)


def remove_logs(lab: str) -> None:
    import shutil
    if lab and os.path.isdir(log_dir(lab)) and not os.path.islink(log_dir(lab)):
        shutil.rmtree(log_dir(lab), ignore_errors=True)


def start(name: str, command: dict, target: dict, lab: str) -> dict:
    """Start COMMAND {argv, env, cwd} as process NAME of LAB, in its own session."""
    argv, env, cwd = command["argv"], command["env"], command.get("cwd", "/")
    restart = command.get("restart", "no")
    for d in (RUN_DIR, os.path.join(RUN_DIR, "proc"), STATE_DIR, os.path.join(STATE_DIR, "log"), log_dir(lab)):
        ensure_private_dir(d)
    log_path = os.path.join(log_dir(lab), f"{name}.log")
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        from nsprov.agent.kernel.nsset import self_command
        run = argv if restart == "no" else [*self_command(), "supervise", restart, json.dumps(argv)]
        proc = subprocess.Popen(run, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                close_fds=True, env={**environment(env), MARKER: name}, cwd=cwd)
    finally:
        os.close(log)
    pid = proc.pid
    if restart == "no" and argv and argv[0] == "nsenter" and any(a.startswith("--pid=") for a in argv):
        # nsenter forks into a PID namespace and waits: the command is its child
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                    kids = f.read().split()
            except OSError:
                kids = []
            if kids:
                pid = int(kids[0])
                break
            if proc.poll() is not None:
                break
            time.sleep(0.005)
    time.sleep(0.15)
    if proc.poll() is not None or _start_time(pid) is None:
        with open(log_path, errors="replace") as f:
            tail = " ".join(f.read().strip().splitlines()[-3:])
        raise OSError(5, f"exited at once (status {proc.poll()}): {tail or 'no output'}")
    rec = {"pid": pid, "started": _start_time(pid), "wrapper": proc.pid, "argv": argv, "target": target,
           "cwd": cwd, "env": env, "log": log_path, "restart": restart}
    tmp = _pidfile(name) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.replace(tmp, _pidfile(name))
    return rec


def _end(pid: int, started: Optional[int]) -> None:
    """SIGTERM, then SIGKILL after 3 s: only while PID is still the process that started then."""
    if started is None or _start_time(pid) != started:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 3
    while _start_time(pid) == started and time.monotonic() < deadline:
        time.sleep(0.02)
    if _start_time(pid) == started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass                  # it ended between the look and the kill: what was wanted


def stop(name: str) -> None:
    rec = observe(name)
    if rec and rec.get("orphan"):
        for pid in rec["orphan"]:
            _end(pid, _start_time(pid))
    elif rec and (rec["alive"] or rec.get("idle")):
        _end(rec["pid"], rec["started"])
    try:
        os.unlink(_pidfile(name))
    except FileNotFoundError:
        pass


def run_once(argv: list, env: dict, timeout: float = 300, cwd: str = "/") -> dict:
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                          env=environment(env), cwd=cwd)
    return {"rc": proc.returncode, "stdout": proc.stdout[-4000:], "stderr": proc.stderr[-4000:]}


def stream(argv: list, on_output) -> int:
    """Run ARGV (in /, with the fixed environment), handing each piece of its output to
    on_output(stream name, text) as it comes; returns its exit status."""
    import selectors
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=environment({}), cwd="/")
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
            on_output(key.data, data.decode(errors="replace"))
    return proc.wait()
