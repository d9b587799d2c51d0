"""Reading a network namespace in three rtnetlink dumps (links, addresses, routes), fast.

Observing is what every run does, changed or not, so it gets its own small reader: a raw
NETLINK_ROUTE socket and a struct parser for the few attributes nsprov looks at. About 0.3 ms
per namespace. Writing is rtwrite.py's; pyroute2 is only the tests' oracle for both.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import Iterator

from nsprov.agent.kernel.nl import (IFA_ADDRESS, IFA_LOCAL, IFLA_ADDRESS, IFLA_BR_STP_STATE, IFLA_GROUP,
                                   IFLA_IFALIAS, IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINK,
                                   IFLA_LINK_NETNSID, IFLA_PROP_LIST, IFLA_ALT_IFNAME,
                                   IFLA_LINKINFO, IFLA_MASTER, IFLA_MTU, IFLA_OPERSTATE, NLM_F_DUMP, NLM_F_REQUEST,
                                   NLMSG_DONE, NLMSG_ERROR, OPERSTATES, PROTOS, RT_TABLE_MAIN, RTA_DST, RTA_GATEWAY,
                                   RTA_OIF, RTA_PRIORITY, RTA_TABLE, RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE,
                                   RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, RTN_UNICAST)
from nsprov.agent.kernel.rtwrite import attr

_HDR = struct.Struct("=IHHII")


SOL_NETLINK, NETLINK_GET_STRICT_CHK = 270, 12


def open_socket() -> socket.socket:
    """A NETLINK_ROUTE socket in the calling thread's current network namespace, with strict
    checking of dump requests where the kernel has it (4.20+): a route dump then returns the
    main table only, instead of every local and broadcast route for us to throw away."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    try:
        s.setsockopt(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
    except OSError:
        pass        # an older kernel dumps every table; routes() filters them as before
    s.bind((0, 0))
    return s


_TLV = struct.Struct("=HH")


def _altnames(props: bytes) -> tuple:
    """A link's alternative names (IFLA_ALT_IFNAME, each, in IFLA_PROP_LIST)."""
    out, offset = [], 0
    while offset + 4 <= len(props):
        length, kind = _TLV.unpack_from(props, offset)
        if length < 4:
            break
        if kind & 0x3FFF == IFLA_ALT_IFNAME:
            out.append(_str(props[offset + 4:offset + length]))
        offset += (length + 3) & ~3
    return tuple(out)
_LINK_ATTRS = frozenset((IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_OPERSTATE, IFLA_LINKINFO,
                         IFLA_IFALIAS, IFLA_GROUP, IFLA_LINK, IFLA_LINK_NETNSID, IFLA_PROP_LIST))
_BRIDGE_ATTRS = frozenset((IFLA_BR_STP_STATE,))
_ROUTE_ATTRS = frozenset((RTA_TABLE, RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_PRIORITY))
_KERNEL_TABLES = (253, 255)     # default, local
IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS = 29, 1 << 3


def _attrs(data: bytes, offset: int, end: int, wanted: frozenset = frozenset()) -> dict:
    """The attributes of one message (only those in WANTED when it is given: a link carries
    ~40, nsprov reads 7, and copying the rest was half of observing a namespace)."""
    out = {}
    unpack = _TLV.unpack_from
    while offset + 4 <= end:
        length, kind = unpack(data, offset)
        if length < 4:
            break
        kind &= 0x3FFF
        if not wanted or kind in wanted:
            out[kind] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return out


def _replies(sock: socket.socket, msg_type: int, flags: int, body: bytes, seq: int, what: str) -> Iterator[tuple]:
    """Send one request; yield (type, payload bytes) of each reply until the kernel is done
    (NLMSG_DONE or an ack). An error reply raises OSError naming WHAT."""
    sock.send(_HDR.pack(16 + len(body), msg_type, NLM_F_REQUEST | flags, seq, 0) + body)
    while True:
        data = sock.recv(1 << 20)
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _flags, _seq, _pid = _HDR.unpack_from(data, offset)
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                err = -struct.unpack_from("=i", data, offset + 16)[0]
                if err:
                    raise OSError(err, what)
                return
            yield kind, data[offset + 16:offset + length]
            offset += (length + 3) & ~3


def _dump(sock: socket.socket, msg_type: int, body: bytes, seq: int) -> Iterator[tuple]:
    """Yield (type, payload bytes) of every message a dump returns."""
    return _replies(sock, msg_type, NLM_F_DUMP, body, seq, f"rtnetlink dump {msg_type} failed")


def _str(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode(errors="replace")


def links(sock: socket.socket) -> list:
    """[{index, name, kind, up, state, mtu, master (index), mac, alias, group, stp, link (the
    index of the link it is bound to: a veth's peer, a macvlan's parent; None), link_elsewhere
    (that link is in another namespace), data (the kind's own attributes: {type: bytes})}]"""
    out = []
    # no statistics: the kernel need not gather them, nor the socket carry them
    body = struct.pack("=BxHiII", 0, 0, 0, 0, 0) + attr(IFLA_EXT_MASK, struct.pack("=I", RTEXT_FILTER_SKIP_STATS))
    for kind, p in _dump(sock, RTM_GETLINK, body, 1):
        if kind != RTM_NEWLINK:
            continue
        _family, _type, index, flags, _change = struct.unpack_from("=BxHiII", p, 0)
        a = _attrs(p, 16, len(p), _LINK_ATTRS)
        info = _attrs(a[IFLA_LINKINFO], 0, len(a[IFLA_LINKINFO])) if IFLA_LINKINFO in a else {}
        mac = a.get(IFLA_ADDRESS)
        stp = None
        if info.get(IFLA_INFO_KIND, b"").rstrip(b"\0") == b"bridge" and IFLA_INFO_DATA in info:
            data = _attrs(info[IFLA_INFO_DATA], 0, len(info[IFLA_INFO_DATA]), _BRIDGE_ATTRS)
            stp = bool(struct.unpack("=I", data[IFLA_BR_STP_STATE])[0]) if IFLA_BR_STP_STATE in data else None
        out.append({
            "index": index,
            "name": _str(a.get(IFLA_IFNAME, b"")),
            "kind": _str(info[IFLA_INFO_KIND]) if IFLA_INFO_KIND in info else None,
            "up": bool(flags & 1),
            "state": OPERSTATES.get(a[IFLA_OPERSTATE][0], "unknown") if IFLA_OPERSTATE in a else "unknown",
            "mtu": struct.unpack("=I", a[IFLA_MTU])[0] if IFLA_MTU in a else None,
            "master": struct.unpack("=I", a[IFLA_MASTER])[0] if IFLA_MASTER in a else None,
            "mac": ":".join(f"{b:02x}" for b in mac) if mac else None,
            "alias": _str(a[IFLA_IFALIAS]) if IFLA_IFALIAS in a else None,
            "group": struct.unpack("=I", a[IFLA_GROUP])[0] if IFLA_GROUP in a else 0,
            "stp": stp,
            "link": struct.unpack("=I", a[IFLA_LINK])[0] if IFLA_LINK in a else None,
            "link_elsewhere": IFLA_LINK_NETNSID in a,
            "altnames": _altnames(a[IFLA_PROP_LIST]) if IFLA_PROP_LIST in a else (),
            "data": _attrs(info[IFLA_INFO_DATA], 0, len(info[IFLA_INFO_DATA])) if IFLA_INFO_DATA in info else {},
        })
    return out


def link_index(sock: socket.socket, name: str) -> int:
    """The ifindex of link NAME (one RTM_GETLINK by name); OSError ENODEV if there is none."""
    body = struct.pack("=BxHiII", 0, 0, 0, 0, 0) + attr(IFLA_IFNAME, name.encode() + b"\0")
    for kind, p in _replies(sock, RTM_GETLINK, 0, body, 4, f"no interface {name!r}"):
        if kind == RTM_NEWLINK:
            return struct.unpack_from("=BxHiII", p, 0)[2]
    raise OSError(errno.ENODEV, f"no interface {name!r}")


def addresses(sock: socket.socket) -> list:
    """[(index, "10.0.0.1/24")] for IPv4 and IPv6, in kernel order."""
    out = []
    for kind, p in _dump(sock, RTM_GETADDR, struct.pack("=BBBBI", 0, 0, 0, 0, 0), 2):
        if kind != RTM_NEWADDR:
            continue
        family, prefixlen, _flags, _scope, index = struct.unpack_from("=BBBBI", p, 0)
        a = _attrs(p, 8, len(p))
        raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
        if raw is None:
            continue
        out.append((index, f"{socket.inet_ntop(family, raw)}/{prefixlen}"))
    return out


def _main_route(family: int, dst: str, a: dict, proto: int) -> dict:
    return {
        "dst": dst,
        "via": socket.inet_ntop(family, a[RTA_GATEWAY]) if RTA_GATEWAY in a else None,
        "oif": struct.unpack("=I", a[RTA_OIF])[0] if RTA_OIF in a else None,
        "metric": struct.unpack("=I", a[RTA_PRIORITY])[0] if RTA_PRIORITY in a else None,
        "proto": PROTOS.get(proto, str(proto)),
    }


def _routes(sock: socket.socket, table: int, seq: int) -> Iterator[tuple]:
    """(table, type, family, dst, attributes, proto) of each route a dump of TABLE (0: every
    table) returns, but the local and default tables' (the kernel's own)."""
    body = struct.pack("=BBBBBBBBI", 0, 0, 0, 0, table, 0, 0, 0, 0)
    for kind, p in _dump(sock, RTM_GETROUTE, body, seq):
        if kind != RTM_NEWROUTE:
            continue
        family, dst_len, _src_len, _tos, table, proto, _scope, rtype, _flags = struct.unpack_from("=BBBBBBBBI", p, 0)
        if table in _KERNEL_TABLES:     # told apart by the header: most of an every-table dump
            continue
        a = _attrs(p, 12, len(p), _ROUTE_ATTRS)
        if RTA_TABLE in a:
            table = struct.unpack("=I", a[RTA_TABLE])[0]
        if table in _KERNEL_TABLES:
            continue
        if RTA_DST in a:
            dst = f"{socket.inet_ntop(family, a[RTA_DST])}/{dst_len}"
        else:
            dst = "default" if family == socket.AF_INET else "::/0"
        yield table, rtype, family, dst, a, proto


def routes(sock: socket.socket) -> list:
    """Unicast routes of the main table: [{dst, via, oif, metric, proto}] (dst "default" / "::/0")."""
    return [_main_route(family, dst, a, proto) for table, rtype, family, dst, a, proto in
            _routes(sock, RT_TABLE_MAIN, 3) if table == RT_TABLE_MAIN and rtype == RTN_UNICAST]


def every_table(sock: socket.socket) -> tuple:
    """(routes() of the main table, [(table, dst)] of the routes in tables other than main, local
    and default) from one dump of every table."""
    main, other = [], []
    for table, rtype, family, dst, a, proto in _routes(sock, 0, 7):
        if table != RT_TABLE_MAIN:
            other.append((table, dst))
        elif rtype == RTN_UNICAST:
            main.append(_main_route(family, dst, a, proto))
    return main, sorted(other)
