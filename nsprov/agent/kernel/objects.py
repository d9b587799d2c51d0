"""What the kernel holds, as plain data: the observed-state types the kernel layer fills and the
observer interface it serves (one `Observer` per aspect of the host). The planner's view of the
host (agent/state.Observed) is built from these; nothing here knows a module kind.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Callable, Optional

NEW_NETNS_DEFAULT = "(new netns default)"   # a sysctl's value in a netns a plan makes


class Link:
    """A link as observed. ADDRESSES: "10.0.0.1/24", in kernel order; PARENT: the link it is bound
    to (a veth's peer, a macvlan's parent: `ip link` shows it after @), its name when it is in the
    same namespace, its ifindex (an int) when it is in another; INFO: the kind's own attributes,
    {attribute type: bytes} (unpack_value reads one). (Plain classes here: see nsprov.model.kinds.base.Kind.)
    ADDRESSES may be read from the kernel only when first asked for (FILL: reads them for every
    link of the namespace): a namespace that is only deleted never needs them."""
    __slots__ = ("name", "kind", "up", "mtu", "master", "alias", "_addresses", "index", "parent", "stp", "info",
                 "altnames", "mac", "_fill")
    _DEFAULTS = (("up", False), ("mtu", None), ("master", None), ("alias", None), ("index", 0),
                 ("parent", None), ("stp", None), ("info", None), ("altnames", ()), ("mac", None))

    def __init__(self, name: str, kind: str, fill: Optional[Callable[[], None]] = None, **fields):
        self.name, self.kind, self._fill = name, kind, fill
        self._addresses = None if fill is not None and "addresses" not in fields else (
            fields.pop("addresses", None) or [])
        fields.pop("addresses", None)
        for key, default in self._DEFAULTS:
            setattr(self, key, fields.pop(key, default))
        if fields:
            raise TypeError(f"Link has no field {', '.join(fields)}")

    @property
    def addresses(self) -> list:
        if self._addresses is None:
            self._fill()
        return self._addresses

    @addresses.setter
    def addresses(self, value: list) -> None:
        self._addresses = value

    def summary(self) -> dict:
        out = {"kind": self.kind, "up": self.up, "mtu": self.mtu, "master": self.master,
               "addresses": list(self.addresses)}
        return out if self.stp is None else {**out, "stp": self.stp}


class Route:
    """A route of the main table: DST "default" or "10.0.0.0/24"; PROTO "kernel" when connected."""
    __slots__ = ("dst", "via", "dev", "metric", "proto")

    def __init__(self, dst: str, via: Optional[str], dev: Optional[str], metric: Optional[int],
                 proto: str = "static"):
        self.dst, self.via, self.dev, self.metric, self.proto = dst, via, dev, metric, proto

    def summary(self) -> dict:
        return {"to": self.dst, "via": self.via, "dev": self.dev, "metric": self.metric}


class Namespace:
    """LINKS: name -> Link; ROUTES: dst -> Route (main table, IPv4 and IPv6), given, or read when
    first asked for (LOAD_ROUTES)."""
    __slots__ = ("links", "_routes", "_load_routes")

    def __init__(self, links: Optional[dict] = None, routes: Optional[dict] = None,
                 load_routes: Optional[Callable[[], dict]] = None):
        self.links = links if links is not None else {}
        self._routes = routes if routes is not None or load_routes is not None else {}
        self._load_routes = load_routes

    @property
    def routes(self) -> dict:
        if self._routes is None:
            self._routes = self._load_routes()
        return self._routes

    @routes.setter
    def routes(self, value: dict) -> None:
        self._routes = value


def fresh_netns() -> Namespace:
    """What a network namespace holds when it is made: lo, up (nsprov brings it up at once)."""
    return Namespace({"lo": Link("lo", "loopback", up=True, mtu=65536, addresses=["127.0.0.1/8", "::1/128"])})


class Observer:
    """How one aspect of the host is read, when a plan first asks for it: READ(*key) from the
    kernel. IN_NETNS: the aspect's first key is a network namespace, so in a netns that does not
    exist or that the plan makes it holds BLANK(made, *key) (MADE: the plan makes it) without a
    read, and it is forgotten when the netns goes. Links, addresses and routes are the aspect
    "netns" (a Namespace); sysctl, firewall tables, namespace sets, processes and the survey are
    others, and a kind that needs a new one adds it to the kernel's `observers()`."""
    __slots__ = ("read", "in_netns", "blank")

    def __init__(self, read: Callable, in_netns: bool = False, blank: Callable = lambda made, *key: None):
        self.read, self.in_netns, self.blank = read, in_netns, blank


def blank_namespace(made: bool, ns: str) -> "Namespace":
    return fresh_netns() if made else Namespace()


def blank_survey(made: bool, ns: str) -> dict:
    return {"tables": [], "routes": [], "rules": []}


def blank_sysctl(made: bool, ns: str, key: str) -> Optional[str]:
    return NEW_NETNS_DEFAULT if made else None


# aspect -> (the kernel's method that reads it, in a netns?, what a netns not read holds); both
# kernels (this package's and fake.py) serve every aspect through observers()
ASPECTS = {
    "netns": ("observe_ns", True, blank_namespace),
    "sysctl": ("read_sysctl", True, blank_sysctl),
    "rules": ("read_rules", True, lambda made, *key: None),
    "survey": ("survey", True, blank_survey),
    "nsset": ("read_nsset", False, lambda *key: None),
    "process": ("read_process", False, lambda *key: None),
    "file": ("read_file", False, lambda *key: None),
    "path": ("path_exists", False, lambda *key: None),       # whether anything is at this host path
    "firewall": ("read_firewall", True, lambda made, *key: None),
    "qdisc": ("read_qdisc", True, lambda made, *key: None),
    "support": ("supports", False, lambda *key: None),     # ("link_kinds" | "qdiscs", kind): has it
}


def observers(kernel) -> dict:
    """{aspect: Observer} that KERNEL serves (every method ASPECTS names)."""
    return {aspect: Observer(getattr(kernel, method), in_netns, blank)
            for aspect, (method, in_netns, blank) in ASPECTS.items()}


# a kind's own link attributes (IFLA_INFO_DATA) as data: [(attribute type, format, value)]
_FORMATS = {"u8": "=B", "u16": "=H", "u32": "=I", "be16": ">H"}


def pack_data(data) -> dict:
    """{attribute type: bytes} of DATA, [(type, format, value)] with format u8, u16, u32, be16
    (network order), str, ip (an IPv4 or IPv6 address) or flag: what the kernel reports back
    for the link (Link.info), so the plan can compare what it asks with what it finds."""
    out = {}
    for kind, fmt, value in data or ():
        if fmt == "str":
            out[kind] = value.encode() + b"\0"
        elif fmt == "ip":
            out[kind] = ipaddress.ip_address(value).packed
        elif fmt == "flag":
            out[kind] = b""
        else:
            out[kind] = struct.pack(_FORMATS[fmt], value)
    return out


def resolve_links(data, index_of) -> tuple:
    """DATA with each attribute of format `ifindex` (a link's name, such as a vxlan's underlay)
    given as the u32 index INDEX_OF(name) finds where the request goes; one it cannot find (a
    link a plan is still to make) is left out."""
    out = []
    for kind, fmt, value in data or ():
        if fmt == "ifindex":
            value, fmt = index_of(value), "u32"
            if value is None:
                continue
        out.append((kind, fmt, value))
    return tuple(out)


def unpack_value(raw: Optional[bytes], fmt: str):
    """One attribute of Link.info back as a value (None when the kernel did not report it)."""
    if raw is None:
        return None
    if fmt == "str":
        return raw.rstrip(b"\0").decode(errors="replace")
    if fmt == "ip":
        return str(ipaddress.ip_address(raw))
    if fmt == "flag":
        return True
    return struct.unpack(_FORMATS[fmt], raw[:struct.calcsize(_FORMATS[fmt])])[0]
