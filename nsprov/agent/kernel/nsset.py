"""Namespace sets: a named group of namespaces of any kinds, held by a tiny init and pinned.

A set NAME lives under /run/nsprov/ns/NAME/: one bind-mounted file per kind (`nsenter
--uts=/run/nsprov/ns/NAME/uts ...` works from the host), `init.json` (the init's PID and start
time) and, with a network namespace, a pin in /run/netns/NAME so `ip netns` sees it too.

The init is this agent run again with `ns-init SPEC`: it unshares the kinds, waits while the
agent writes the user namespace's uid/gid maps, forks (a PID namespace applies to children),
and the child, PID 1 inside, sets the hostname, mounts its own /proc and the extra mounts,
brings lo up and then only reaps orphans until it is killed.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Optional

from nsprov.agent.kernel.enter import KINDS, NS_ROOT, pin_path
from nsprov.agent.kernel import netns
from nsprov.agent.kernel.statedir import ensure_private_dir

CLONE = {"mnt": 0x00020000, "uts": 0x04000000, "ipc": 0x08000000, "user": 0x10000000,
         "pid": 0x20000000, "net": 0x40000000, "cgroup": 0x02000000, "time": 0x00000080}
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 0x1000, 0x4000, 1 << 18
MS_RDONLY, MS_REMOUNT = 1, 32
MNT_DETACH = 2
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: Optional[str], target: str, fstype: Optional[str], flags: int, data: Optional[str] = None) -> None:
    _check(_libc.mount(src.encode() if src else None, target.encode(), fstype.encode() if fstype else None,
                       flags, data.encode() if data else None), f"mount {target}")


def set_dir(name: str) -> str:
    return os.path.join(NS_ROOT, name)


# ------------------------------------------------------------------ the init (a separate process)
def _lo_up() -> None:
    import fcntl
    import struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))
    finally:
        s.close()


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def _reveal_proc() -> None:
    """A user namespace may mount its own /proc only where /proc is fully visible (the kernel's
    mount_too_revealing()). Hosts that cover parts of /proc (a read-only /proc/sys, say) would
    forbid it; so first, still privileged, take a private mount namespace without those covers.
    The set's own mount namespace is copied from it; its root has no power over kernel.* anyway."""
    _check(_libc.unshare(CLONE["mnt"]), "unshare mount namespace")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    with open("/proc/self/mountinfo") as f:
        under = [line.split()[4] for line in f if line.split()[4].startswith("/proc/")]
    for target in sorted(set(under), key=len, reverse=True):
        _libc.umount2(target.encode(), MNT_DETACH)


def _mount_inside(m: dict) -> None:
    """One of a set's mounts, made by its init: a tmpfs, or a bind (a file over a file: /etc/hosts;
    a file mount is a bind of the file nsprov keeps). A missing target is made only where the
    plan allowed it: inside one of the set's own tmpfs mounts, or a tmpfs's mount point; `ro`
    binds read-only."""
    if m["type"] != "tmpfs" and os.path.isfile(m["source"]):
        if not os.path.exists(m["target"]):
            os.makedirs(os.path.dirname(m["target"]), exist_ok=True)
            os.close(os.open(m["target"], os.O_WRONLY | os.O_CREAT, 0o644))
    else:
        os.makedirs(m["target"], exist_ok=True)
    if m["type"] == "tmpfs":
        _mount("nsprov", m["target"], "tmpfs", MS_NOSUID | MS_NODEV, m.get("options") or None)
        return       # (bind and file options are nsprov's own: ro, optional)
    _mount(m["source"], m["target"], None, MS_BIND | MS_REC)
    if "ro" in (m.get("options") or "").split(","):
        _mount(None, m["target"], None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def init_main(spec_json: str) -> int:
    """Entry point of `ns-init`: never returns while the set lives."""
    spec = json.loads(spec_json)
    kinds = spec["kinds"]
    try:
        if {"user", "mnt", "pid"} <= set(kinds):
            _reveal_proc()
        flags = 0
        for k in kinds:
            flags |= CLONE[k]
        _check(_libc.unshare(flags), "unshare")
        if spec.get("cpus"):
            os.sched_setaffinity(0, set(spec["cpus"]))   # we may have been held to one CPU to unshare
        _say("unshared")
        if "user" in kinds:
            if os.read(0, 3) != b"go\n":          # the agent writes our uid/gid maps meanwhile
                return 1
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        if "mnt" in kinds:
            _mount(None, "/", None, MS_REC | MS_PRIVATE)   # nothing we mount leaks to the host
        if "pid" in kinds or "time" in kinds:
            child = os.fork()                              # PID and time namespaces apply to children
            if child:
                _say(f"init {child}")
                os._exit(0)
        if "uts" in kinds:
            if spec.get("hostname"):
                socket.sethostname(spec["hostname"])
            if spec.get("domainname"):
                dn = spec["domainname"].encode()
                _check(_libc.setdomainname(dn, len(dn)), "setdomainname")
        if "mnt" in kinds and "pid" in kinds:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        for m in spec.get("mounts", []):
            _mount_inside(m)
        if "net" in kinds:
            _lo_up()
        _say("ready")
    except OSError as exc:
        _say(f"error {exc}")
        return 1
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:   # PID 1 of the set: reap whatever gets orphaned inside
        try:
            os.wait()
        except ChildProcessError:
            signal.pause()
        except InterruptedError:
            pass


# ------------------------------------------------------------------ the agent's side
def self_command() -> list:
    """How to run this agent again: the bundle it runs from, or the installed package."""
    candidates = [sys.argv[0] if sys.argv else "", getattr(sys.modules.get("__main__"), "__file__", "") or ""]
    for path in candidates:
        if ".pyz" in path:
            return [sys.executable, "-I", "-S", path[:path.index(".pyz") + 4]]
    return [sys.executable, "-m", "nsprov.agent"]


def _start_time(pid: int) -> Optional[int]:
    """When PID started (to tell it from a later process with its number), or None when there is
    no such process or it has exited and waits to be reaped (a zombie: its init is killed, and
    whoever reaps orphans on the host may take its time)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode()
        fields = stat[stat.rindex(")") + 2:].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _ensure_private_root() -> None:
    """/run/nsprov/ns as a private bind mount: mount namespaces can only be pinned there."""
    ensure_private_dir(os.path.dirname(NS_ROOT))
    ensure_private_dir(NS_ROOT)
    with open("/proc/self/mountinfo") as f:
        if any(line.split()[4] == NS_ROOT for line in f):
            return
    _mount(NS_ROOT, NS_ROOT, None, MS_BIND)
    _mount(None, NS_ROOT, None, MS_PRIVATE)


def _read_line(stream, proc: subprocess.Popen, what: str, timeout: float = 20.0) -> str:
    import select
    deadline = time.monotonic() + timeout
    while True:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            line = stream.readline().decode().strip()
            if line.startswith("error "):
                raise OSError(errno.EIO, f"namespace init: {line[6:]}")
            if not line:
                raise OSError(errno.EIO, f"namespace init exited ({proc.poll()}) before {what}")
            return line
        if time.monotonic() > deadline:
            proc.kill()
            raise OSError(errno.ETIMEDOUT, f"namespace init gave no '{what}' in {timeout:.0f} s")


class _MountIdOrder(Exception):
    """The kernel refused to pin a mount namespace whose id is not newer than ours."""


def create(name: str, spec: dict) -> dict:
    """Start the init, write maps, pin every kind; returns {pid, started}.

    Pinning a mount namespace is refused (EINVAL, the kernel's mnt_ns_loop()) unless its id is
    newer than the pinning process's. Since Linux 6.x those ids come from per-CPU batches, so a
    namespace made on another CPU can be "older" than ours. If that happens the set is made
    again on each CPU in turn: on the CPU that made our own namespace, ids only grow.
    """
    cpus = sorted(os.sched_getaffinity(0))
    for cpu in [None, *cpus]:
        try:
            return _create_once(name, spec, cpu, cpus)
        except _MountIdOrder:
            continue
    raise OSError(errno.EINVAL, "the kernel refused to pin the mount namespace on every CPU")


def _create_once(name: str, spec: dict, cpu: Optional[int], cpus: list) -> dict:
    _ensure_private_root()
    d = set_dir(name)
    if os.path.isdir(d):     # half made by a run that was killed: clear it first
        delete(name)
    os.makedirs(d, mode=0o700)
    spec = {**spec, "cpus": cpus}
    # unbuffered: a line is read to its end and no further, so select() sees what is left
    proc = subprocess.Popen([*self_command(), "ns-init", json.dumps(spec)], stdin=subprocess.PIPE, bufsize=0,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)
    try:
        _read_line(proc.stdout, proc, "unshared")
        if "user" in spec["kinds"]:
            for fname, maps in (("uid_map", spec["uid_map"]), ("gid_map", spec["gid_map"])):
                with open(f"/proc/{proc.pid}/{fname}", "w") as f:
                    f.write("".join(f"{m['inside']} {m['outside']} {m['count']}\n" for m in maps))
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        # with a PID or time namespace the init is a child, which may say "ready" before its
        # parent says "init PID": both lines are awaited, in either order
        pid, ready, forks = proc.pid, False, bool({"pid", "time"} & set(spec["kinds"]))
        while not ready or (forks and pid == proc.pid):
            line = _read_line(proc.stdout, proc, "ready")
            if line.startswith("init "):
                pid = int(line.split()[1])
                proc.wait()
            elif line == "ready":
                ready = True
            else:
                raise OSError(errno.EIO, f"namespace init said {line!r}")
        info = {"pid": pid, "started": _start_time(pid), "kinds": spec["kinds"], "mounts": spec.get("mounts") or []}
        with open(os.path.join(d, "init.json"), "w") as f:   # first: a killed agent leaves a findable init
            json.dump(info, f)
        for kind in spec["kinds"]:
            target = pin_path(name, kind)
            os.close(os.open(target, os.O_RDONLY | os.O_CREAT, 0o600))
            try:
                _mount(f"/proc/{pid}/ns/{kind}", target, None, MS_BIND)
            except OSError as exc:
                if kind == "mnt" and exc.errno == errno.EINVAL:
                    raise _MountIdOrder() from None
                raise
        if "net" in spec["kinds"]:
            path = netns.netns_path(name)
            os.makedirs(netns.NETNS_DIR, exist_ok=True)
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
            _mount(f"/proc/{pid}/ns/net", path, None, MS_BIND)
        with open(os.path.join(d, "init.json"), "w") as f:
            json.dump(info, f)
        return info
    except BaseException:
        delete(name)
        if proc.poll() is None:
            proc.kill()
        raise
    finally:
        for s in (proc.stdin, proc.stdout):
            if s:
                s.close()


def replace(name: str, spec: dict) -> None:
    """Set NAME made again with SPEC, make before break: the new set is made in full first (its
    maps written, its mounts made) under a name no task can give, so a spec the kernel refuses
    leaves the old set, what lives in it and its pins as they were; then the old one goes and
    the new one is pinned under NAME."""
    staged = f".{name}.new"
    new = create(staged, spec)
    delete(name)
    try:
        os.makedirs(set_dir(name), mode=0o700)
        for kind in spec["kinds"]:
            target = pin_path(name, kind)
            os.close(os.open(target, os.O_RDONLY | os.O_CREAT, 0o600))
            _mount(pin_path(staged, kind), target, None, MS_BIND)
        if "net" in spec["kinds"]:
            path = netns.netns_path(name)
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
            _mount(pin_path(staged, "net"), path, None, MS_BIND)
        with open(os.path.join(set_dir(name), "init.json"), "w") as f:
            json.dump(new, f)
    finally:
        _unpin(staged)


def _unpin(name: str) -> None:
    """Unpin set NAME without stopping its init (its namespaces live on in the pins made from them)."""
    for path in [netns.netns_path(name)] + [pin_path(name, k) for k in KINDS]:
        if os.path.exists(path):
            _libc.umount2(path.encode(), MNT_DETACH)
            os.unlink(path)
    for leftover in ("init.json",):
        try:
            os.unlink(os.path.join(set_dir(name), leftover))
        except FileNotFoundError:
            pass
    try:
        os.rmdir(set_dir(name))
    except FileNotFoundError:
        pass


def info(name: str) -> Optional[dict]:
    try:
        with open(os.path.join(set_dir(name), "init.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def alive(i: Optional[dict]) -> bool:
    return bool(i) and _start_time(i["pid"]) == i["started"]


def delete(name: str) -> None:
    """Stop the init (only if it is still the one we started) and unpin everything."""
    i = info(name)
    if alive(i):
        os.kill(i["pid"], signal.SIGKILL)   # PID 1 of a PID namespace: everything inside goes too
        deadline = time.monotonic() + 5
        while _start_time(i["pid"]) == i["started"] and time.monotonic() < deadline:
            time.sleep(0.01)
    _unpin(name)


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def names() -> list:
    try:
        return sorted(n for n in os.listdir(NS_ROOT) if os.path.isdir(set_dir(n)))
    except FileNotFoundError:
        return []


def observe(name: str) -> Optional[dict]:
    """What the kernel says about set NAME: kinds pinned, init, hostname, maps."""
    i = info(name)
    if i is None:
        if not os.path.isdir(set_dir(name)):
            return None
        # half made by a killed run: report it dead, so it is made again (or destroyed)
        return {"kinds": [k for k in KINDS if os.path.exists(pin_path(name, k))], "alive": False, "pid": None,
                "hostname": None, "domainname": None, "uid_map": None, "gid_map": None}
    kinds = [k for k in KINDS if os.path.exists(pin_path(name, k))]
    out = {"kinds": kinds, "alive": alive(i), "pid": i["pid"], "hostname": None, "domainname": None,
           "uid_map": None, "gid_map": None, "mounts": i.get("mounts")}
    if "uts" in kinds:
        proc = subprocess.run(["nsenter", f"--uts={pin_path(name, 'uts')}", "--", "cat",
                               "/proc/sys/kernel/hostname", "/proc/sys/kernel/domainname"],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            lines = proc.stdout.splitlines()
            out["hostname"], out["domainname"] = lines[0], (lines[1] if lines[1] != "(none)" else "")
    if "user" in kinds and out["alive"]:
        for fname in ("uid_map", "gid_map"):
            with open(f"/proc/{i['pid']}/{fname}") as f:
                out[fname] = [dict(zip(("inside", "outside", "count"), map(int, line.split())))
                              for line in f if line.strip()]
    return out
