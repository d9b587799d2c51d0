"""Small helpers over the machine: commands, processes, sockets. Linux only."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from typing import Optional, Sequence


class CommandError(RuntimeError):
    """A command failed; carries the argv and the tail of its stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str):
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        super().__init__(f"`{' '.join(argv)}` exited {returncode}: {tail}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


def run(argv: Sequence[str], input: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run argv (never a shell string); raise CommandError with its stderr when it fails."""
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stderr)
    return proc


def start_time(pid: int) -> Optional[int]:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    return int(stat[stat.rindex(")") + 2:].split()[19])


def is_same_process(pid: int, started: int) -> bool:
    """True when PID is alive and is the very process that started at `started` (no reuse)."""
    return pid > 0 and start_time(pid) == started


def kill_exact(pid: int, started: int, sig: int = signal.SIGKILL) -> bool:
    """Signal PID only if it is still the process we recorded; True if a signal was sent."""
    if not is_same_process(pid, started):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def netns_inode(pid: int | str) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def tcp_listening(pid: int, port: int) -> bool:
    """Is something listening on TCP `port` in PID's network namespace?

    Read from /proc/PID/net/tcp rather than probing with connect(): a probe sent before the
    address is configured waits about a second for ARP.
    """
    want = f":{port:04X}"
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[1].endswith(want) and fields[3] == "0A":
                        return True
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ESRCH):
                raise
    return False
