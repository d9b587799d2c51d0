"""What the kernel holds, as plain data, and actions as plain data.

`Observed` is filled lazily from the kernel (one dump per namespace when first needed) and then
kept in step by each planned action's simulated effect (ops.py), which is also how check mode
sees the effect of earlier tasks without touching anything.
"""

from __future__ import annotations

from typing import Callable, Optional

NEW_NETNS_DEFAULT = "(new netns default)"


class Link:
    """A link as observed. ADDRESSES: "10.0.0.1/24", in kernel order; PEER_NETNS and PEER: a
    veth's other end, when known. (Plain classes here: see nsprov.model.kinds.base.Kind.)
    ADDRESSES may be read from the kernel only when first asked for (FILL: reads them for every
    link of the namespace): a namespace that is only deleted never needs them."""
    __slots__ = ("name", "kind", "up", "mtu", "master", "alias", "_addresses", "index", "peer_netns", "peer",
                 "stp", "_fill")
    _DEFAULTS = (("up", False), ("mtu", None), ("master", None), ("alias", None), ("index", 0),
                 ("peer_netns", None), ("peer", None), ("stp", None))

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
        return {"kind": self.kind, "up": self.up, "mtu": self.mtu, "master": self.master,
                "addresses": list(self.addresses)}


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


class Action:
    """One kernel change: OP (an ops.Op) on NAME in netns NS, with ARGS; REASON is what a
    person reads."""
    __slots__ = ("op", "ns", "name", "args", "reason")

    def __init__(self, op, ns: str, name: str, args: dict, reason: str):
        self.op, self.ns, self.name, self.args, self.reason = op, ns, name, args, reason

    def __repr__(self) -> str:
        return f"Action({self.op.name}, {self.ns!r}, {self.name!r}, {self.args!r})"


def _nothing(*key) -> None:
    return None


class Loaders:
    """How Observed reads each thing from the kernel, when a plan first asks for it: NS a
    namespace's links and routes; SYSCTL (ns, key) -> value, None if there is none; RULES (ns,
    table) -> {key: ...}, None if there is no table; NSSET a namespace set; PROCESS a process
    nsprov started; SURVEY what else a namespace holds: {tables, routes, rules} (kernel/survey.py)."""
    __slots__ = ("ns", "sysctl", "rules", "nsset", "process", "survey")

    def __init__(self, ns: Callable[[str], Namespace], sysctl: Callable[[str, str], Optional[str]],
                 rules: Callable[[str, str], Optional[dict]], nsset: Callable = _nothing, process: Callable = _nothing,
                 survey: Callable = _nothing):
        self.ns, self.sysctl, self.rules, self.nsset, self.process = ns, sysctl, rules, nsset, process
        self.survey = survey


class Observed:
    """The host as the plan sees it. Reads are lazy and cached; the setters below are what an
    action's simulated effect (ops.py) uses to keep it in step."""

    def __init__(self, netns: set, load: Loaders, placeholders: Optional[set] = None):
        self.netns = set(netns)          # named network namespaces
        self.placeholders = set(placeholders or ())   # names in /run/netns with no namespace behind
        self.created: set = set()        # ... of which this plan creates (nothing to read there yet)
        self.removed: set = set()        # ... and those it deletes
        self.remade: set = set()         # namespace sets this plan makes again (what ran inside must restart)
        self._ns: dict = {}
        self._sysctl: dict = {}
        self._rules: dict = {}           # (ns, table) -> {key: spec}; None when the table is absent
        self._load = load
        self._sets: dict = {}
        self._procs: dict = {}

    # ------------------------------------------------------------ reading (lazily)
    def exists(self, ns: str) -> bool:
        return ns == "" or ns in self.netns

    def ns(self, name: str) -> Namespace:
        if name not in self._ns:
            self._ns[name] = self._load.ns(name) if self.exists(name) else Namespace()
        return self._ns[name]

    def link(self, ns: str, name: str) -> Optional[Link]:
        return self.ns(ns).links.get(name) if self.exists(ns) else None

    def sysctl(self, ns: str, key: str) -> Optional[str]:
        """The value, None if there is no such sysctl, NEW_NETNS_DEFAULT in a netns not made yet."""
        if (ns, key) not in self._sysctl:
            if ns in self.created:
                return NEW_NETNS_DEFAULT
            self._sysctl[(ns, key)] = self._load.sysctl(ns, key) if self.exists(ns) else None
        return self._sysctl[(ns, key)]

    def sysctl_in_new_netns(self, key: str) -> Optional[str]:
        """What KEY is in a network namespace made now (what one made by a run started with)."""
        return self._load.sysctl(None, key)

    def rules(self, ns: str, table: str) -> Optional[dict]:
        if (ns, table) not in self._rules:
            loadable = self.exists(ns) and ns not in self.created
            self._rules[(ns, table)] = self._load.rules(ns, table) if loadable else None
        return self._rules[(ns, table)]

    def survey(self, ns: str) -> dict:
        """What NS holds beyond links and main-table routes: {tables: [(family, name)], routes:
        [(table, dst)], rules: [text]}; empty for a netns this plan makes or none (not cached:
        it is read once, for drift or a netns about to go)."""
        found = self._load.survey(ns) if self.exists(ns) and ns not in self.created else None
        return found or {"tables": [], "routes": [], "rules": []}

    def nsset(self, name: str) -> Optional[dict]:
        """A namespace set: {kinds, alive, hostname, domainname, uid_map, gid_map}, or None."""
        if name not in self._sets:
            self._sets[name] = self._load.nsset(name)
        return self._sets[name]

    def process(self, name: str) -> Optional[dict]:
        """A process nsprov started: {alive, pid, argv, target}, or None."""
        if name not in self._procs:
            self._procs[name] = self._load.process(name)
        return self._procs[name]

    # ------------------------------------------------------------ keeping in step
    def add_netns(self, name: str) -> None:
        self.placeholders.discard(name)
        self.removed.discard(name)
        self.netns.add(name)
        self.created.add(name)
        self._ns[name] = fresh_netns()

    def drop_netns(self, name: str) -> None:
        self.placeholders.discard(name)
        if name in self.netns:
            self.removed.add(name)
        self.netns.discard(name)
        self.created.discard(name)
        self._ns.pop(name, None)
        for key in [k for k in self._sysctl if k[0] == name]:
            del self._sysctl[key]
        for key in [k for k in self._rules if k[0] == name]:
            del self._rules[key]

    def set_sysctl(self, ns: str, key: str, value: str) -> None:
        self._sysctl[(ns, key)] = value

    def set_rules(self, ns: str, table: str, rules: Optional[dict]) -> None:
        self._rules[(ns, table)] = rules

    def set_nsset(self, name: str, value: Optional[dict]) -> None:
        self._sets[name] = value

    def set_process(self, name: str, value: Optional[dict]) -> None:
        self._procs[name] = value
