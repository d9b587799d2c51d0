"""Network namespaces, in process: enter briefly with setns(2) to open a socket, then return.

A netlink socket stays bound to the namespace it was created in, so the agent's thread never
stays in another namespace; it only passes through to create the socket.
"""

from __future__ import annotations

import ctypes
import errno
import os
from contextlib import contextmanager
from typing import Iterator, Optional

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int, nstype: int) -> None:
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def netns_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def named_netns() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def placeholders(names: list[str]) -> set[str]:
    """Those of NAMES (entries of /run/netns) that are plain files, not namespace pins.

    Making a named netns is two steps (create the file, bind-mount the namespace on it); a
    process killed in between leaves an empty file that setns() refuses with EINVAL. A real pin
    lives on nsfs, which has one device number for all namespaces."""
    try:
        nsfs = os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return set()
    out = set()
    for name in names:
        try:
            if os.stat(netns_path(name)).st_dev != nsfs:
                out.add(name)
        except OSError:
            continue
    return out


def pin_inodes(names) -> dict:
    """{inode: name} of the pins of named network namespaces NAMES (those that exist)."""
    out = {}
    for name in names:
        try:
            out[os.stat(netns_path(name)).st_ino] = name
        except OSError:
            pass
    return out


def holders(inodes: dict) -> dict:
    """{name: [(pid, command)]} of processes living in the namespaces INODES (from pin_inodes)
    names: what keeps a namespace, and its links, alive once its pin is gone."""
    out: dict = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            ino = os.stat(f"/proc/{pid}/ns/net").st_ino
            if ino in inodes:
                with open(f"/proc/{pid}/comm") as f:
                    out.setdefault(inodes[ino], []).append((int(pid), f.read().strip()))
        except OSError:   # gone meanwhile, or a kernel thread
            continue
    return {ns: sorted(procs) for ns, procs in out.items()}


@contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the body in network namespace NAME ("" = the host's own); always come back."""
    if not name:
        yield
        return
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            target = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise OSError(errno.ENOENT, f"network namespace '{name}' does not exist") from None
        try:
            setns(target, CLONE_NEWNET)
        finally:
            os.close(target)
        try:
            yield
        finally:
            setns(own, CLONE_NEWNET)
    finally:
        os.close(own)


def new_netns_value(path: str) -> Optional[str]:
    """What file PATH (under /proc/sys/net) holds in a network namespace made now: read in a
    throwaway one, by a short-lived child, so no namespace of ours changes."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            if _libc.unshare(CLONE_NEWNET) != 0:
                os._exit(1)
            with open(path) as f:
                os.write(w, f.read().strip().encode())
            os._exit(0)
        except BaseException:
            os._exit(1)
    os.close(w)
    with os.fdopen(r) as f:
        value = f.read()
    _, status = os.waitpid(pid, 0)
    return value if os.waitstatus_to_exitcode(status) == 0 else None


@contextmanager
def promoting(ns: str, dev: str, ipv4: bool = True):
    """Link DEV in NS promotes secondary IPv4 addresses while in the block, and keeps what it
    did before after it (the setting put back unless the link went meanwhile)."""
    knob = f"/proc/sys/net/ipv4/conf/{dev}/promote_secondaries"
    was = None
    if ipv4:
        with entered(ns):
            with open(knob) as f:
                was = f.read().strip()
            if was == "0":
                with open(knob, "w") as f:
                    f.write("1")
    try:
        yield
    finally:
        if was == "0":
            try:
                with entered(ns):
                    with open(knob, "w") as f:
                        f.write("0")
            except OSError:
                pass
