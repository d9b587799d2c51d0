"""nftables over netlink, without the `nft` program: the tables of a namespace (for the survey
and the firewall), the chains and rules of one table as nsprov tells them apart (name, handle,
comment: never their expressions), and the deletion of tables (one nsprov made, with what it holds).

`nft` costs a process and libnftables' start, 4-7 ms here to list a table and 8-30 ms for a
one-line script, and a teardown with NAT paid it three times (its rules listed, then each of
the table's two families deleted by a script of its own). The messages are the very ones nft
sends: a dump per kind, and one batch, one transaction, for the deletion. Rules are still written
by `nft -f` (kernel/nft.py): their expressions are its language.
"""

from __future__ import annotations

import socket
import struct

from nsprov.agent.kernel import netns
from nsprov.agent.kernel.rtdump import _attrs, _replies, _str

NETLINK_NETFILTER, NFNL_SUBSYS_NFTABLES = 12, 10
NFT_MSG_GETTABLE, NFT_MSG_DELTABLE, NFT_MSG_GETCHAIN, NFT_MSG_GETRULE = 1, 2, 4, 7   # each GET answered by NEW = GET - 1
NFTA_CHAIN_TABLE, NFTA_CHAIN_HANDLE, NFTA_CHAIN_NAME = 1, 2, 3
NFTA_RULE_TABLE, NFTA_RULE_CHAIN, NFTA_RULE_HANDLE, NFTA_RULE_USERDATA = 1, 2, 3, 7
NFTNL_UDATA_RULE_COMMENT = 0      # libnftnl's user data: (type u8, length u8, value) records
NLM_F_DUMP = 0x300
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11
NFTA_TABLE_NAME = 1
NLM_F_REQUEST, NLM_F_ACK, NLMSG_ERROR = 0x1, 0x4, 0x2
FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
NUMBERS = {name: number for number, name in FAMILIES.items()}
_HDR = struct.Struct("=IHHII")
_GEN = struct.Struct("=BBH")


def open_socket():
    """A NETLINK_NETFILTER socket in the calling thread's network namespace; None where the
    kernel has no nfnetlink."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_NETFILTER)
    except OSError:
        return None
    sock.bind((0, 0))
    return sock


def _open(ns: str):
    with netns.entered(ns):
        return open_socket()


def _dump(ns, get: int, family: int, body: bytes, what: str, strict: bool = True) -> list:
    """[(family number, {attribute: bytes})] of what a dump GET answers (its NEW messages, GET - 1)
    in NS (a name, or a socket of open_socket() there, which stays open); [] where the kernel
    has no nf_tables. A failed dump raises OSError naming WHAT (unless not STRICT: then what
    came before the failure)."""
    sock = _open(ns) if isinstance(ns, str) else ns
    if sock is None:
        return []
    out = []
    try:
        kind = (NFNL_SUBSYS_NFTABLES << 8) | get
        for msg, payload in _replies(sock, kind, NLM_F_DUMP, _GEN.pack(family, 0, 0) + body, 1, what):
            if msg & 0xFF == get - 1:
                out.append((payload[0], _attrs(payload, 4, len(payload))))
    except OSError:
        if strict:
            raise
    finally:
        if isinstance(ns, str):
            sock.close()
    return out


def tables(ns) -> list:
    """[(family, name)] of every nftables table in NS (a name, or a socket of open_socket()
    there: None, as it returns where the kernel has no nf_tables, reads [])."""
    found = _dump(ns, NFT_MSG_GETTABLE, 0, b"", "nftables table dump", strict=False)
    return sorted((FAMILIES.get(f, str(f)), _str(a[NFTA_TABLE_NAME])) for f, a in found if NFTA_TABLE_NAME in a)


def chains(ns: str, family: str, table: str) -> list:
    """[(name, handle)] of the chains of table FAMILY TABLE in NS."""
    found = _dump(ns, NFT_MSG_GETCHAIN, NUMBERS[family], b"", "nftables chain dump")
    return [(_str(a[NFTA_CHAIN_NAME]), struct.unpack(">Q", a[NFTA_CHAIN_HANDLE])[0]) for _f, a in found
            if _str(a.get(NFTA_CHAIN_TABLE, b"")) == table and NFTA_CHAIN_NAME in a and NFTA_CHAIN_HANDLE in a]


def _comment(udata: bytes):
    offset = 0
    while offset + 2 <= len(udata):
        kind, length = udata[offset], udata[offset + 1]
        if kind == NFTNL_UDATA_RULE_COMMENT:
            return _str(udata[offset + 2:offset + 2 + length])
        offset += 2 + length
    return None


def rules(ns: str, family: str, table: str) -> list:
    """[(chain, handle, comment or None)] of the rules of table FAMILY TABLE in NS, in order."""
    found = _dump(ns, NFT_MSG_GETRULE, NUMBERS[family], _attr(NFTA_RULE_TABLE, table),
                  "nftables rule dump")
    return [(_str(a[NFTA_RULE_CHAIN]), struct.unpack(">Q", a[NFTA_RULE_HANDLE])[0],
             _comment(a[NFTA_RULE_USERDATA]) if NFTA_RULE_USERDATA in a else None) for _f, a in found
            if _str(a.get(NFTA_RULE_TABLE, b"")) == table and NFTA_RULE_CHAIN in a and NFTA_RULE_HANDLE in a]


def _message(kind: int, flags: int, seq: int, family: int, res_id: int, body: bytes = b"") -> bytes:
    return _HDR.pack(16 + 4 + len(body), kind, NLM_F_REQUEST | flags, seq, 0) + _GEN.pack(family, 0, res_id) + body


def _attr(kind: int, text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("=HH", 4 + len(raw), kind) + raw + b"\0" * (-len(raw) % 4)


def delete_batch(names: list) -> bytes:
    """One transaction deleting the tables NAMES ([(family, name)]), each acknowledged."""
    res = socket.htons(NFNL_SUBSYS_NFTABLES)
    body = _message(NFNL_MSG_BATCH_BEGIN, 0, 1, 0, res)
    for seq, (family, name) in enumerate(names, start=2):
        body += _message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELTABLE, NLM_F_ACK, seq, NUMBERS[family], 0,
                         _attr(NFTA_TABLE_NAME, name))
    return body + _message(NFNL_MSG_BATCH_END, 0, len(names) + 2, 0, res)


def delete_tables(ns: str, names: list, timeout: float = 30.0) -> None:
    """Delete the nftables tables NAMES ([(family, name)]) of NS, with whatever they hold, in one
    transaction: all of them or, on an error (OSError with the kernel's errno), none."""
    if not names:
        return
    sock = _open(ns)
    if sock is None:
        raise OSError(97, "this kernel has no nftables netlink")
    try:
        sock.settimeout(timeout)
        sock.send(delete_batch(names))
        waiting = set(range(2, len(names) + 2))
        while waiting:
            data = sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _flags, seq, _pid = _HDR.unpack_from(data, offset)
                if kind == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", data, offset + 16)[0]
                    if err:
                        raise OSError(err, f"deleting nftables table(s) {', '.join(f'{f} {n}' for f, n in names)}")
                    waiting.discard(seq)
                offset += (length + 3) & ~3
    finally:
        sock.close()
