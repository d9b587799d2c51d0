"""What making a link can run into: a name that is there already (it must be the link asked
for), and a name taken where the request goes but free where the link lives."""

from __future__ import annotations

import errno
import os
from typing import Callable, Optional

from nsprov.agent.kernel import rtwrite


def exists_as(link: Optional[dict], kind: str, alias: Optional[str], what: str) -> None:
    """After EEXIST: the link is there; it must be the one asked for (kind and mark)."""
    if link is None:     # a vxlan's VNI and port are taken too: the kernel says EEXIST for both
        raise OSError(errno.EEXIST, f"{what}: the kernel says it exists, yet no link has its name (a vxlan: "
                                    f"another vxlan on this host has its id and port)")
    if link["kind"] != kind or link["alias"] != alias:
        raise OSError(errno.EEXIST, f"{what} exists as a {link['kind']} marked {link['alias'] or '(nothing)'}, "
                                    f"not the {kind} nsprov is making")


def make_aside(send: Callable[[bytes], None], index_of: Callable[[str], int], name: str,
               build: Callable[[str], bytes], ns_fd: int) -> None:
    """Link NAME, made where requests go (SEND, INDEX_OF) for another namespace (NS_FD), when
    NAME is taken where the request goes (a node's eth1, made from a host with an eth1 of its
    own: the kernel looks a name up there first): made under a name of its own (BUILD(name) is
    the request), then moved and renamed in one request; never left behind under that name."""
    aside = f"nsp{os.getpid()}"[:15]
    send(build(aside))
    try:
        send(rtwrite.move_link(index_of(aside), name, ns_fd))
    except OSError:
        send(rtwrite.del_link(aside))
        raise
