"""The seed tutorial's isolation experiments, run for real on this host, plus reachability.

Each check reads the kernel (namespace inodes, /proc/PID/status, mountinfo, /proc/sysvipc,
uid_map, file ownership, interfaces, firewall tables, real packets) and never nsprov's ledger:
a set built wrong, or one that shares a namespace with the host, fails here.
Every check returns {check, subject, expected, observed, passed}.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import time
from typing import Optional

from nsprov.agent.kernel import netns, nsset, probes
from nsprov.agent.kernel.enter import nsenter_args
from nsprov.agent.kernel.processes import environment

REACH_GRACE = 10.0    # seconds a `reach` TCP check waits for a refused port to open
PING_GRACE = 5.0      # seconds a `reach` ping keeps trying (a neighbour entry still stale, a
                      # route just made: the first echo may be lost where the next one is not)


def _check(check: str, subject: str, expected, observed, passed: bool) -> dict:
    return {"check": check, "subject": subject, "expected": expected, "observed": observed, "passed": bool(passed)}


def _run(argv: list, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=environment({"LC_ALL": "C"}), cwd="/")


def _inode(path: str) -> Optional[int]:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _enter(name: str, kinds: list, *want: str) -> list:
    """nsenter into the wanted kinds of a set (and its user namespace, which owns the others)."""
    have = [k for k in ("user", *want) if k in kinds]
    return [*nsenter_args(name, have), "--"]


# ------------------------------------------------------------------ per kind
def check_inodes(name: str, kinds: list) -> list:
    out = []
    for kind in kinds:
        pin, host = _inode(nsset.pin_path(name, kind)), _inode(f"/proc/self/ns/{kind}")
        out.append(_check(f"{kind} namespace", name, "differs from the host's", f"{pin} vs host {host}",
                          pin is not None and pin != host))
    return out


def check_uts(name: str, kinds: list, hostname: Optional[str]) -> list:
    inside = _run([*_enter(name, kinds, "uts"), "cat", "/proc/sys/kernel/hostname"]).stdout.strip()
    host = socket.gethostname()
    out = [_check("uts: hostname inside", name, hostname or "(its own)", inside,
                  inside == hostname if hostname else inside != "")]
    out.append(_check("uts: host's hostname unchanged", name, f"not {inside}", host, host != inside))
    return out


def _queues() -> dict:
    """{key: msqid} of the SysV message queues this process's IPC namespace holds."""
    with open("/proc/sysvipc/msg") as f:
        next(f)
        return {line.split()[0]: line.split()[1] for line in f if line.strip()}


def _queues_in(prefix: list) -> dict:
    out = _run([*prefix, "cat", "/proc/sysvipc/msg"]).stdout.splitlines()[1:]
    return {line.split()[0]: line.split()[1] for line in out if line.strip()}


def check_ipc(name: str, kinds: list) -> list:
    prefix = _enter(name, kinds, "ipc")
    key_host = str(random.randint(1 << 20, 1 << 30))
    key_in = str(random.randint(1 << 20, 1 << 30))
    made_host = _run(["python3", "-c", _MSGGET, key_host])
    made_in = _run([*prefix, "python3", "-c", _MSGGET, key_in])
    try:
        inside, host = _queues_in(prefix), _queues()
        return [
            _check("ipc: host's message queue invisible inside", name, f"key {key_host} absent",
                   "absent" if key_host not in inside else "VISIBLE", made_host.returncode == 0 and key_host in host
                   and key_host not in inside),
            _check("ipc: queue made inside invisible on the host", name, f"key {key_in} absent",
                   "absent" if key_in not in host else "VISIBLE", made_in.returncode == 0 and key_in in inside
                   and key_in not in host),
        ]
    finally:
        _run(["python3", "-c", _MSGRM, key_host])
        _run([*prefix, "python3", "-c", _MSGRM, key_in])


_MSGGET = "import ctypes, sys; q = ctypes.CDLL(None).msgget(int(sys.argv[1]), 0o1600); sys.exit(q < 0)"
_MSGRM = ("import ctypes, sys; c = ctypes.CDLL(None); q = c.msgget(int(sys.argv[1]), 0); "
          "q >= 0 and c.msgctl(q, 0, None)")


def check_pid(name: str, kinds: list) -> list:
    info = nsset.info(name) or {}
    nspid = []
    try:
        with open(f"/proc/{info.get('pid')}/status") as f:
            nspid = next((line.split()[1:] for line in f if line.startswith("NSpid:")), [])
    except OSError:
        pass
    out = [_check("pid: the set's init is PID 1 inside", name, "1 inside, another PID on the host",
                  f"{nspid[-1] if nspid else '?'} inside, {nspid[0] if nspid else '?'} on the host",
                  len(nspid) >= 2 and nspid[-1] == "1" and nspid[0] != "1")]
    me = _run([*_enter(name, kinds, "pid", "mnt"), "sh", "-c", "echo $$"]).stdout.strip()
    out.append(_check("pid: a new process inside has a small PID", name, "< 1000", me, me.isdigit() and int(me) < 1000))
    if "mnt" in kinds:
        listed = _run([*_enter(name, kinds, "pid", "mnt"), "ls", "/proc"]).stdout.split()
        inside = sorted(int(p) for p in listed if p.isdigit())
        host = len([p for p in os.listdir("/proc") if p.isdigit()])
        out.append(_check("pid: /proc inside lists only the set's processes", name, f"fewer than the host's {host}",
                          f"{len(inside)} (pids {inside[:6]}{'...' if len(inside) > 6 else ''})",
                          inside and inside[0] == 1 and len(inside) < host))
    return out


_SCRATCH = "for b in /tmp /var/tmp /dev/shm /run; do d=$(mktemp -d $b/nsprov-verify-XXXXXX 2>/dev/null) && break; done; "


def _scratch_inside(prefix: list, then: str) -> tuple:
    """(a directory made inside the set, in the first of its /tmp, /var/tmp, /dev/shm, /run it
    may write to, whatever the set mounts there; the lines THEN printed, a shell line run there
    with $d set to it; the process)."""
    proc = _run([*prefix, "sh", "-c", _SCRATCH + '[ -n "$d" ] && echo "$d" && ' + then])
    lines = proc.stdout.splitlines()
    return (lines[0] if lines and "/nsprov-verify-" in lines[0] else None), lines[1:], proc


def check_mnt(name: str, kinds: list) -> list:
    """A tmpfs mounted inside, on a directory made inside (a set may have its own /tmp), is in the
    set's mountinfo and not in the host's. The mountinfo inside is read by the same shell, entered
    into the set's PID namespace too, so its /proc is the set's own."""
    prefix = _enter(name, kinds, "mnt", "pid")
    d, seen, made = _scratch_inside(prefix, 'mount -t tmpfs nsprov-verify "$d" && grep -c " $d " /proc/self/mountinfo')
    try:
        with open("/proc/self/mountinfo") as f:
            on_host = d is not None and any(line.split()[4] == d for line in f)
        inside = bool(seen) and seen[0].strip().isdigit() and int(seen[0]) > 0
        got = f"inside: {'yes' if inside else 'no'}, host: {'yes' if on_host else 'no'}"
        if made.returncode != 0:
            got += f" ({made.stderr.strip()[-200:] or f'exit {made.returncode}'}"
            got += "" if nsset.alive(nsset.info(name)) else "; the set's init is not running"
            got += ")"
        return [_check("mnt: a mount made inside is absent on the host", name, f"{d} mounted inside only",
                       got, made.returncode == 0 and inside and not on_host)]
    finally:
        if d is not None:
            _run([*prefix, "sh", "-c", 'umount "$1" 2>/dev/null; rmdir "$1"', "-", d])


def _uid_map(name: str) -> list:
    info = nsset.info(name) or {}
    try:
        with open(f"/proc/{info.get('pid')}/uid_map") as f:
            return [list(map(int, line.split())) for line in f if line.strip()]
    except OSError:
        return []


def check_file_owner(name: str, kinds: list, outside: Optional[int]) -> list:
    """uid 0 inside, and a file it creates (under its own /tmp) belongs to `outside` on the host:
    seen from the host through the set's root (/proc/INIT/root), whatever the set mounts."""
    prefix = _enter(name, kinds, "mnt")
    d, said, _ = _scratch_inside(prefix, 'touch "$d/made-inside" && id -u')
    info = nsset.info(name) or {}
    try:
        try:
            owner = os.stat(f"/proc/{info.get('pid')}/root{d}/made-inside").st_uid if d else None
        except OSError:
            owner = None
        first = said[0].strip() if said else "?"
        return [_check("user: uid 0 inside", name, "0", first, first == "0"),
                _check("user: a file made inside belongs to the mapped uid", name, outside, owner,
                       owner is not None and owner == outside and owner != 0)]
    finally:
        if d is not None:
            _run([*prefix, "rm", "-rf", "--", d])


def check_user(name: str, kinds: list, uid_map: Optional[list]) -> list:
    seen = _uid_map(name)
    want = [[m["inside"], m["outside"], m["count"]] for m in (uid_map or [])]
    out = [_check("user: uid_map", name, want or "a mapping", seen, seen == want if want else bool(seen))]
    outside_root = next((o for i, o, c in seen if i == 0), None)
    return out + check_file_owner(name, kinds, outside_root)


def _macs(links: list) -> set:
    return {x["mac"] for x in links if x.get("mac") and x["mac"] != "00:00:00:00:00:00"}


def _nft_tables(prefix: list) -> set:
    if shutil.which("nft") is None:
        return set()
    proc = _run([*prefix, "nft", "-j", "list", "tables"])
    if proc.returncode != 0:
        return set()
    return {(t["table"]["family"], t["table"]["name"]) for t in json.loads(proc.stdout)["nftables"] if "table" in t}


def check_net(name: str, kinds: list, sockets) -> list:
    from nsprov.agent.kernel.sockets import observe_links
    inside = observe_links(sockets.raw(name))
    host = observe_links(sockets.raw(""))
    shared = _macs(inside) & _macs(host)
    out = [_check("net: none of the host's interfaces inside", name, "no shared MAC",
                  f"{len(inside)} link(s): {', '.join(x['name'] for x in inside)}", not shared)]
    if shutil.which("nft"):
        # a firewall table made on the host for this check must not show up inside
        marker = f"nsprov_verify_{random.randint(1 << 20, 1 << 30)}"
        made = _run(["nft", "add", "table", "inet", marker]).returncode == 0
        try:
            host_tables = _nft_tables([])
            in_tables = _nft_tables(_enter(name, kinds, "net"))
            seen = ("inet", marker) in in_tables
            out.append(_check("net: a firewall table made on the host is not inside", name, f"{marker} absent",
                              "VISIBLE" if seen else "absent",
                              made and ("inet", marker) in host_tables and not seen and not (host_tables & in_tables)))
        finally:
            _run(["nft", "delete", "table", "inet", marker])
    return out


# ------------------------------------------------------------------ reachability
def _ping(ns: str, address: str, grace: float = 0.0) -> bool:
    """One echo answered within 2 s; with GRACE, keep asking (one echo a second) until then."""
    prefix = ["nsenter", f"--net={netns.netns_path(ns)}", "--"] if ns else []
    flag = "-6" if ":" in address else "-4"
    deadline = time.monotonic() + grace
    while True:
        began = time.monotonic()
        if _run([*prefix, "ping", flag, "-c", "1", "-W", "1" if grace else "2", address]).returncode == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))


def _tcp(ns: str, address: str, port: int, grace: float = 0.0) -> bool:
    """Connect once; with GRACE, keep trying while the port is refused (a server the same run
    started may still be starting: Python's http.server takes seconds on a slow VM)."""
    deadline = time.monotonic() + grace
    while True:
        with netns.entered(ns):   # the socket belongs to the namespace it is created in
            s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect((address, port))
            return True
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                return False
        except OSError:
            return False
        finally:
            s.close()
        time.sleep(0.2)


def check_reach(entry: dict, expect: bool, sockets=None) -> dict:
    src, dst, port = entry["from"], entry["to"], entry.get("port")
    proto = entry.get("proto") or ("tcp" if port else "icmp")
    how = f"{proto}/{port}" if port else "ping"
    try:
        # a refused port that must be reached gets REACH_GRACE seconds; one that must not, none
        if proto == "udp":
            observed = probes.udp(src, dst, port, PING_GRACE if expect else 2.0, sockets)
            ok = observed == "reached"
        else:
            ok = _tcp(src, dst, port, REACH_GRACE if expect else 0.0) if port else _ping(src, dst, PING_GRACE
                                                                                           if expect else 0.0)
            observed = "reached" if ok else "no answer"
    except OSError as exc:
        ok, observed = False, f"error: {exc}"
    return _check("reach" if expect else "no_reach", f"{src or 'host'} -> {dst} ({how})",
                  "reached" if expect else "no answer", observed, ok == expect)


def check_path(entry: dict) -> dict:
    """The hops from FROM towards TO hold VIA in order, and the last is TO."""
    src, dst, via = entry["from"], entry["to"], entry["via"]
    try:
        hops = probes.trace(src, dst, entry["max_hops"])
        seen = " ".join(h or "*" for h in hops)
        left = iter(hops)
        ok = all(any(h is not None and ipaddress.ip_address(h) == ipaddress.ip_address(v) for h in left) for v in via)
        ok = ok and bool(hops) and hops[-1] is not None and ipaddress.ip_address(hops[-1]) == ipaddress.ip_address(dst)
    except OSError as exc:
        seen, ok = f"error: {exc}", False
    return _check("path", f"{src or 'host'} -> {dst}", f"via {', '.join(via)}, then {dst}", seen, ok)


# ------------------------------------------------------------------ entry points
def verify_set(decl: dict, sockets) -> list:
    """Every classic experiment for the kinds a set declares."""
    name = decl["name"]
    i = nsset.info(name)
    if i is None or not nsset.alive(i) and ("pid" in decl["kinds"] or "user" in decl["kinds"]):
        return [_check("namespace set exists", name, "present with its init", "missing or init dead", False)]
    kinds = [k for k in nsset.KINDS if os.path.exists(nsset.pin_path(name, k))]
    out = check_inodes(name, decl["kinds"])
    if "uts" in decl["kinds"]:
        out += check_uts(name, kinds, decl.get("hostname"))
    if "ipc" in decl["kinds"]:
        out += check_ipc(name, kinds)
    if "pid" in decl["kinds"]:
        out += check_pid(name, kinds)
    if "mnt" in decl["kinds"]:
        out += check_mnt(name, kinds)
    if "user" in decl["kinds"]:
        out += check_user(name, kinds, decl.get("uid_map"))
    if "net" in decl["kinds"]:
        out += check_net(name, kinds, sockets)
    return out


def _set_kinds(name: str) -> list:
    return [k for k in nsset.KINDS if os.path.exists(nsset.pin_path(name, k))]


def verify_assertions(p: dict, sockets) -> list:
    """The explicit checks of a `verify` task."""
    out = []
    for name in p.get("isolation", []):
        kinds = _set_kinds(name)
        out += verify_set({"name": name, "kinds": kinds}, sockets) if kinds else [
            _check("namespace set exists", name, "present", "missing", False)]
    for name in p.get("isolated_from_host", []):
        out += check_inodes(name, _set_kinds(name) or ["net"])
    for h in p.get("hostname", []):
        out += check_uts(h["namespace"], _set_kinds(h["namespace"]), h["equals"])[:1]
    for name in p.get("ipc_isolated", []):
        out += check_ipc(name, _set_kinds(name))
    for name in p.get("pid1", []):
        out += check_pid(name, _set_kinds(name))[:1]
    for name in p.get("mount_isolated", []):
        out += check_mnt(name, _set_kinds(name))
    for u in p.get("uid_map", []):
        kinds = _set_kinds(u["namespace"])
        seen = {i: o for i, o, c in _uid_map(u["namespace"])} if "user" in kinds else {}
        out.append(_check("user: uid_map", u["namespace"], f"{u['inside']} -> {u['outside']}",
                          f"{u['inside']} -> {seen.get(u['inside'], 'unmapped')}", seen.get(u["inside"]) == u["outside"]))
        if "user" in kinds and u["inside"] == 0:
            out += check_file_owner(u["namespace"], kinds, u["outside"])
    for r in p.get("reach", []):
        out.append(check_reach(r, True, sockets))
    for r in p.get("no_reach", []):
        out.append(check_reach(r, False, sockets))
    for entry in p.get("path", []):
        out.append(check_path(entry))
    for entry in p.get("routes", []):
        out.append(probes.check_route(entry, _check))
    for entry in p.get("link", []):
        try:
            out += probes.measure_link(entry, sockets, _check)
        except (OSError, subprocess.SubprocessError) as exc:
            out.append(_check("link", f"{entry['from'] or 'host'} -> {entry['to']}", "measured", f"error: {exc}", False))
    return out
