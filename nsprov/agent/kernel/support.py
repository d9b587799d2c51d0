"""Which link kinds and qdiscs this host's kernel has, asked of the kernel itself: no module
list is needed (a kernel with everything built in has none) and nothing is left behind.

The questions are asked in a throwaway network namespace: this thread's own (unshare), never
pinned, so it goes when the thread moves back. There a link of each kind is requested with its
name and kind alone, and a root qdisc of each kind on lo. The kernel answers "unknown kind"
(EOPNOTSUPP for a link, ENOENT for a qdisc) only when it has no such kind, even after trying to
load its module; any other answer (made, or refused for a missing parameter) means it has it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import threading

from nsprov.agent.kernel import netns, rtdump, rtwrite

LINK_KINDS = ("veth", "bridge", "macvlan", "ipvlan", "vlan", "vxlan", "dummy")
QDISC_KINDS = ("tbf", "netem")
RTM_NEWQDISC = 36
TCA_KIND = 1
TC_H_ROOT = 0xFFFFFFFF
_libc = ctypes.CDLL(None, use_errno=True)


def _qdisc(kind: str) -> bytes:
    body = struct.pack("=BxxxiIII", 0, 1, 0, TC_H_ROOT, 0) + rtwrite.attr(TCA_KIND, kind.encode() + b"\0")
    return rtwrite.message(RTM_NEWQDISC, rtwrite.NLM_F_CREATE | rtwrite.NLM_F_EXCL, body)


def _has(sock, request: bytes, unknown: int) -> bool:
    try:
        rtwrite.request(sock, request)
    except OSError as exc:
        return exc.errno != unknown
    return True


def _ask(out: dict) -> None:
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.unshare(netns.CLONE_NEWNET) != 0:
            out["error"] = f"unshare: {os.strerror(ctypes.get_errno())}"
            return
        try:
            sock = rtdump.open_socket()
            try:
                out["link_kinds"] = {k: _has(sock, rtwrite.new_link(f"probe{i}", k, {}, None, None, None),
                                             errno.EOPNOTSUPP) for i, k in enumerate(LINK_KINDS)}
                out["qdiscs"] = {k: _has(sock, _qdisc(k), errno.ENOENT) for k in QDISC_KINDS}
            finally:
                sock.close()
        finally:
            netns.setns(own, netns.CLONE_NEWNET)
    finally:
        os.close(own)


def probe() -> dict:
    """{link_kinds: {kind: bool}, qdiscs: {kind: bool}}, or {error} when it cannot be asked."""
    out: dict = {}
    thread = threading.Thread(target=_ask, args=(out,))      # the throwaway namespace is this thread's only
    thread.start()
    thread.join()
    return out
