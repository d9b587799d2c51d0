"""Deleting links without waiting for the kernel to free them.

An RTM_DELLINK returns only once the kernel has freed the device: first it takes the links out
of every list (their names are free again, `ip link` no longer shows them), then, with the
routing lock already released, it waits for the network stack's last references to go (RCU
barriers: tens of milliseconds, whatever the number of links deleted together). A teardown
that waited for each of those waits spent most of its time there.

So the request is sent by a short-lived child process, and the agent waits only until the
links are out of the lists (its own dump of the namespace answers once the kernel has
released the routing lock, without them): a re-run meets no half-deleted link, and nothing
of the lab is left to see. The child, which has let go of everything the agent holds (its
output, its lock), waits out the rest and exits; its exit status is the request's errno.
"""

from __future__ import annotations

import errno
import os
import time

from nsprov.agent.kernel import netns, rtdump, rtwrite


def _child(ns: str, requests: list) -> None:
    """In the forked child: nothing of the agent's, then the requests in order (one naming a
    link already gone is done); exit with the errno of the first that failed."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 65536)     # the agent's lock, its sockets, the channel to sshd: not ours
        with netns.entered(ns):
            sock = rtdump.open_socket()
        for request in requests:
            try:
                rtwrite.request(sock, request)
            except OSError as exc:
                if exc.errno != errno.ENODEV:   # gone already (its veth peer went first)
                    raise
        os._exit(0)
    except OSError as exc:
        os._exit(exc.errno or 1)
    except BaseException:
        os._exit(1)


class Done:
    """Nothing was there to delete."""

    def wait(self) -> None:
        return None


class Pending:
    """A deletion sent by a child process (begin()), until its links are out of the lists."""

    def __init__(self, sock, pid: int, names: list, timeout: float):
        self.sock, self.pid, self.names, self.timeout = sock, pid, set(names), timeout

    def wait(self) -> None:
        """Until the links are out of the kernel's lists; OSError with the kernel's errno when
        the deletion failed."""
        deadline = time.monotonic() + self.timeout
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                if code != 0:
                    raise OSError(code, os.strerror(code) if code > 0 else "deleting links failed")
                return
            if not self.names & {x["name"] for x in rtdump.links(self.sock)}:   # answers once they are unlisted
                return      # the child finishes on its own; whoever reaps orphans reaps it
            if time.monotonic() > deadline:
                raise OSError(110, f"links {', '.join(sorted(self.names))} still listed after {self.timeout:.0f} s")
            time.sleep(0.001)


def begin(sock, ns: str, requests: list, names: list, timeout: float = 30.0) -> Pending:
    """Send REQUESTS (ending in a deletion of links NAMES of NS) from a child process; wait()
    on what this returns for the links to be out of the lists. SOCK: the agent's own netlink
    socket in NS, for looking."""
    import warnings
    with warnings.catch_warnings():     # Python 3.12 warns of forking a process with threads:
        warnings.simplefilter("ignore", DeprecationWarning)   # the child only sends and exits
        pid = os.fork()
    if pid == 0:
        _child(ns, requests)
    return Pending(sock, pid, names, timeout)


def delete_begun(sock, ns: str, request: bytes, names: list, timeout: float = 30.0) -> int:
    """begin() and wait(): the links unlisted; returns the child's pid, for finish() before a
    link is made again (a veth made while the child was still in the kernel's deletion of a pair
    it shares a name with was seen to vanish)."""
    pending = begin(sock, ns, [request], names, timeout)
    pending.wait()
    return pending.pid


def finish(pids: list) -> None:
    """Wait for deleting children to be done, the kernel's freeing included (~20 ms)."""
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    pids.clear()
