"""What a network namespace holds beyond its links and main-table routes, read for drift and
for a netns about to be deleted: nftables tables, routes in tables other than main and local,
and policy routing rules other than the kernel's own. Three netlink dumps, no program started
(`nft list tables` would cost ~10 ms a namespace)."""

from __future__ import annotations

import socket
import struct

from nsprov.agent.kernel.nfnl import tables as nft_tables
from nsprov.agent.kernel.rtdump import _attrs, _dump, every_table

RTM_GETRULE, RTM_NEWRULE, FRA_PRIORITY, FRA_TABLE = 34, 32, 6, 15
RT_TABLES = {253: "default", 254: "main", 255: "local"}
RTNL_FAMILY_IPMR, RTNL_FAMILY_IP6MR = 128, 129
# the rules every namespace starts with: (family, priority, table); a kernel with multicast
# routing's multiple tables (Debian's) adds one default rule each for IPv4 and IPv6 multicast
KERNEL_RULES = {(socket.AF_INET, 0, 255), (socket.AF_INET, 32766, 254), (socket.AF_INET, 32767, 253),
                (socket.AF_INET6, 0, 255), (socket.AF_INET6, 32766, 254),
                (RTNL_FAMILY_IPMR, 32767, 253), (RTNL_FAMILY_IP6MR, 32767, 254)}   # ip6mr: RT6_TABLE_DFLT is main
VERSIONS = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6", RTNL_FAMILY_IPMR: "ipv4 multicast",
            RTNL_FAMILY_IP6MR: "ipv6 multicast"}


def other_routes(sock) -> list:
    """[(table, dst)] of routes in every table but main, local and default (nsprov uses main)."""
    return every_table(sock)[1]


def policy_rules(sock) -> list:
    """['prio P lookup T (ipv4|ipv6)'] of every policy rule the kernel did not start with."""
    out = []
    for kind, p in _dump(sock, RTM_GETRULE, struct.pack("=BBBBBBBBI", 0, 0, 0, 0, 0, 0, 0, 0, 0), 8):
        if kind != RTM_NEWRULE:
            continue
        family, _dl, _sl, _tos, table = struct.unpack_from("=BBBBB", p, 0)
        a = _attrs(p, 12, len(p), frozenset((FRA_PRIORITY, FRA_TABLE)))
        prio = struct.unpack("=I", a[FRA_PRIORITY])[0] if FRA_PRIORITY in a else 0
        if FRA_TABLE in a:
            table = struct.unpack("=I", a[FRA_TABLE])[0]
        if (family, prio, table) not in KERNEL_RULES:
            version = VERSIONS.get(family, f"family {family}")
            out.append(f"prio {prio} lookup {RT_TABLES.get(table, table)} ({version})")
    return sorted(out)


def survey(ns, sock, other=None) -> dict:
    """{tables, routes, rules} of NS: its name, or a NETLINK_NETFILTER socket inside it (None:
    the kernel has no nftables). SOCK: a NETLINK_ROUTE socket inside it; OTHER: other_routes()
    when the route dump was read already (rtdump.every_table)."""
    return {"tables": nft_tables(ns), "routes": other_routes(sock) if other is None else other,
            "rules": policy_rules(sock)}
