"""What the kernel holds, as plain data, and actions as plain data.

`Observed` is filled lazily from the kernel (one dump per namespace when first needed) and
then kept in step by `Observed.simulate(action)`, which is also how check mode sees the
effect of earlier tasks without touching anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

NEW_NETNS_DEFAULT = "(new netns default)"


@dataclass
class Link:
    name: str
    kind: str
    up: bool = False
    mtu: Optional[int] = None
    master: Optional[str] = None
    alias: Optional[str] = None
    addresses: list = field(default_factory=list)   # "10.0.0.1/24", in kernel order
    index: int = 0
    peer_netns: Optional[str] = None                # veth: where the other end lives, when known
    peer: Optional[str] = None

    def summary(self) -> dict:
        return {"kind": self.kind, "up": self.up, "mtu": self.mtu, "master": self.master,
                "addresses": list(self.addresses)}


@dataclass
class Route:
    dst: str            # "default" or "10.0.0.0/24"
    via: Optional[str]
    dev: Optional[str]
    metric: Optional[int]
    proto: str = "static"   # "kernel" for connected routes

    def summary(self) -> dict:
        return {"to": self.dst, "via": self.via, "dev": self.dev, "metric": self.metric}


@dataclass
class Namespace:
    links: dict = field(default_factory=dict)    # name -> Link
    routes: dict = field(default_factory=dict)   # dst -> Route (main table, IPv4 and IPv6)


@dataclass(frozen=True)
class Action:
    """One kernel change. `op` picks the primitive; `reason` is what a person reads."""
    op: str
    ns: str
    name: str
    args: dict
    reason: str


class Observed:
    def __init__(self, netns: set, load_ns: Callable[[str], Namespace],
                 load_sysctl: Callable[[str, str], Optional[str]],
                 load_rules: Callable[[str, str], dict],
                 load_set: Callable[[str], Optional[dict]] = lambda name: None,
                 load_process: Callable[[str], Optional[dict]] = lambda name: None,
                 placeholders: Optional[set] = None):
        self.netns = set(netns)          # named network namespaces
        self.placeholders = set(placeholders or ())   # names in /run/netns with no namespace behind
        self.created: set = set()        # ... of which this plan creates (nothing to read there yet)
        self._ns: dict = {}
        self._sysctl: dict = {}
        self._rules: dict = {}           # (ns, table) -> {key: spec}; None when the table is absent
        self._load_ns, self._load_sysctl, self._load_rules = load_ns, load_sysctl, load_rules
        self._load_set, self._load_process = load_set, load_process
        self._sets: dict = {}
        self._procs: dict = {}

    # ------------------------------------------------------------ reading (lazily)
    def exists(self, ns: str) -> bool:
        return ns == "" or ns in self.netns

    def ns(self, name: str) -> Namespace:
        if name not in self._ns:
            self._ns[name] = self._load_ns(name) if self.exists(name) else Namespace()
        return self._ns[name]

    def link(self, ns: str, name: str) -> Optional[Link]:
        return self.ns(ns).links.get(name) if self.exists(ns) else None

    def sysctl(self, ns: str, key: str) -> Optional[str]:
        """The value, None if there is no such sysctl, NEW_NETNS_DEFAULT in a netns not made yet."""
        if (ns, key) not in self._sysctl:
            if ns in self.created:
                return NEW_NETNS_DEFAULT
            self._sysctl[(ns, key)] = self._load_sysctl(ns, key) if self.exists(ns) else None
        return self._sysctl[(ns, key)]

    def rules(self, ns: str, table: str) -> Optional[dict]:
        if (ns, table) not in self._rules:
            loadable = self.exists(ns) and ns not in self.created
            self._rules[(ns, table)] = self._load_rules(ns, table) if loadable else None
        return self._rules[(ns, table)]

    def nsset(self, name: str) -> Optional[dict]:
        """A namespace set: {kinds, alive, hostname, domainname, uid_map, gid_map}, or None."""
        if name not in self._sets:
            self._sets[name] = self._load_set(name)
        return self._sets[name]

    def process(self, name: str) -> Optional[dict]:
        """A process nsprov started: {alive, pid, argv, target}, or None."""
        if name not in self._procs:
            self._procs[name] = self._load_process(name)
        return self._procs[name]

    # ------------------------------------------------------------ keeping in step
    def simulate(self, a: Action) -> None:
        """Update the model as if the kernel had carried out action `a`."""
        op, args = a.op, a.args
        if op == "netns.create":
            self.placeholders.discard(a.name)
            self.netns.add(a.name)
            self.created.add(a.name)
            self._ns[a.name] = Namespace({"lo": Link("lo", "loopback", up=True, mtu=65536,
                                                     addresses=["127.0.0.1/8", "::1/128"])})
        elif op == "netns.delete":
            self.placeholders.discard(a.name)
            self.netns.discard(a.name)
            self.created.discard(a.name)
            self._ns.pop(a.name, None)
            for key in [k for k in self._sysctl if k[0] == a.name]:
                del self._sysctl[key]
            for key in [k for k in self._rules if k[0] == a.name]:
                del self._rules[key]
        elif op == "link.add_bridge":
            self.ns(a.ns).links[a.name] = Link(a.name, "bridge", up=args.get("up", False), mtu=args.get("mtu") or 1500,
                                               alias=args.get("alias"))
        elif op == "link.add_veth":
            self.ns(a.ns).links[a.name] = Link(a.name, "veth", up=args.get("up", False), mtu=args.get("mtu") or 1500,
                                               master=args.get("master"), alias=args.get("alias"),
                                               peer_netns=args["peer_netns"], peer=args["peer"])
            self.ns(args["peer_netns"]).links[args["peer"]] = Link(
                args["peer"], "veth", up=args.get("up", False), mtu=args.get("mtu") or 1500, alias=args.get("alias"),
                peer_netns=a.ns, peer=a.name)
        elif op == "link.set":
            link = self.ns(a.ns).links[a.name]
            for k in ("up", "mtu", "master", "alias"):
                if k in args:
                    setattr(link, k, args[k])
        elif op == "link.delete":
            link = self.ns(a.ns).links.pop(a.name, None)
            if link is not None and link.kind == "veth" and link.peer is not None and self.exists(link.peer_netns or ""):
                self.ns(link.peer_netns or "").links.pop(link.peer, None)
        elif op == "addr.add":
            self.ns(a.ns).links[args["dev"]].addresses.append(args["address"])
        elif op == "addr.delete":
            link = self.ns(a.ns).links.get(args["dev"])
            if link and args["address"] in link.addresses:
                link.addresses.remove(args["address"])
        elif op in ("route.add", "route.replace"):
            self.ns(a.ns).routes[a.name] = Route(a.name, args.get("via"), args.get("dev"), args.get("metric"))
        elif op == "route.delete":
            self.ns(a.ns).routes.pop(a.name, None)
        elif op == "sysctl.set":
            self._sysctl[(a.ns, a.name)] = args["value"]
        elif op == "fw.add_rules":
            table = self._rules.get((a.ns, args["table"])) or {}
            table.update(args["rules"])
            self._rules[(a.ns, args["table"])] = table
        elif op == "fw.delete_rules":
            table = self._rules.get((a.ns, args["table"])) or {}
            for key in args["rules"]:
                table.pop(key, None)
        elif op == "fw.delete_table":
            self._rules[(a.ns, args["table"])] = None
        elif op == "nsset.create":
            spec = args["spec"]
            self._sets[a.name] = {"kinds": list(spec["kinds"]), "alive": True, "hostname": spec.get("hostname"),
                                  "domainname": spec.get("domainname") or "", "uid_map": spec.get("uid_map"),
                                  "gid_map": spec.get("gid_map"), "mounts": spec.get("mounts", [])}
            if "net" in spec["kinds"]:
                self.netns.add(a.name)
                self.created.add(a.name)
                self._ns[a.name] = Namespace({"lo": Link("lo", "loopback", up=True, mtu=65536,
                                                         addresses=["127.0.0.1/8", "::1/128"])})
        elif op == "nsset.delete":
            self._sets[a.name] = None
            if a.name in self.netns and a.name in self._ns:
                self.netns.discard(a.name)
                self.created.discard(a.name)
                self._ns.pop(a.name, None)
        elif op == "nsset.set_hostname":
            self._sets[a.name].update(hostname=args.get("hostname"), domainname=args.get("domainname") or "")
        elif op == "process.start":
            self._procs[a.name] = {"alive": True, "argv": args["argv"], "target": args["target"]}
        elif op == "process.stop":
            self._procs[a.name] = None
        elif op == "exec.run":
            pass
        else:
            raise ValueError(f"unknown action {op}")
