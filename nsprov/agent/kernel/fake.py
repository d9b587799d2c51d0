"""An in-memory kernel with the real one's primitives and observations, for tests of everything
above the kernel (the engine, destroy, prune) that should not need root. It fails where the real
kernel fails, with the same errno: tests/unit/test_kernel_contract.py runs the same steps on both
(the real one in a throwaway network and mount namespace) and compares what each then holds.

Modelled: network namespaces (lo up), bridges and veth pairs (up, mtu, master, ifalias,
addresses; a pair goes as a whole, with the namespace of either end), IPv4 routes (a connected
route per address on an up link; a gateway must be on one; routes go with their link's down or
deletion), sysctls, firewall tables and rules by key, namespace sets and processes by name.
"""

from __future__ import annotations

import copy
import errno
import ipaddress
from typing import Optional

from nsprov.agent.kernel.fake_policies import FakePolicies
from nsprov.agent.kernel.fake_sets import FakeSets, _err
from nsprov.agent.kernel.objects import Link, Namespace, Route, pack_data, resolve_links

_UNSET = object()
# the sysctls the fake knows (a network namespace's own); others do not exist, as on a kernel without them
SYSCTLS = {"net.ipv4.ip_forward": "0", "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.all.forwarding": "0",
           "net.ipv6.conf.all.forwarding": "0", "net.ipv4.conf.default.rp_filter": "0"}


class FakeKernel(FakeSets, FakePolicies):
    def __init__(self) -> None:
        self.namespaces: dict = {"": self._fresh(loopback=True)}   # name -> {links, routes, sysctl}
        self.rules: dict = {}        # (ns, table) -> {key: spec}
        self.sets: dict = {}         # name -> {kinds, alive, hostname, ...}
        self.procs: dict = {}        # name -> {alive, pid, argv, target, cwd}
        self.files: dict = {}        # path -> text
        self.paths: set = {"/etc/hosts", "/etc/resolv.conf", "/etc/frr/frr.conf", "/srv/www", "/run/frr", "/tmp"}
        self.fail: dict = {}         # (primitive, name) -> errno: the next such call fails
        self.calls: list = []        # (primitive, ns, name), in order
        self.sockets = None
        self._pid = 1000
        self._indexes = 1            # the last ifindex given (lo is 1)

    # ------------------------------------------------------------ state helpers
    @staticmethod
    def _fresh(loopback: bool = True) -> dict:
        links = {"lo": {"kind": "loopback", "up": True, "mtu": 65536, "master": None, "alias": None,
                        "addresses": ["127.0.0.1/8", "::1/128"], "peer": None}} if loopback else {}
        return {"links": links, "routes": {}, "sysctl": {}}

    def _ns(self, ns: str) -> dict:
        if ns not in self.namespaces:
            raise _err(errno.ENOENT, f"network namespace '{ns}' does not exist")
        return self.namespaces[ns]

    def _link(self, ns: str, name: str) -> dict:
        link = self._ns(ns)["links"].get(name)
        if link is None:
            raise _err(errno.ENODEV, f"no interface {name!r}")
        return link

    def _call(self, primitive: str, ns: str, name: str) -> None:
        self.calls.append((primitive, ns, name))
        code = self.fail.pop((primitive, name), None)
        if code is not None:
            raise _err(code)

    def _drop_routes_of(self, ns: str, dev: str) -> None:
        routes = self.namespaces[ns]["routes"]
        for dst in [d for d, r in routes.items() if r["dev"] == dev]:
            del routes[dst]

    def _delete_link(self, ns: str, name: str) -> None:
        """NAME goes, and with it what is bound to it (its veth peer, a macvlan on it)."""
        if name not in self.namespaces.get(ns, {}).get("links", {}):
            return
        self.namespaces[ns]["links"].pop(name)
        self._drop_routes_of(ns, name)
        for other in self.namespaces[ns]["links"].values():
            if other["master"] == name:
                other["master"] = None
        for other_ns, state in list(self.namespaces.items()):
            for child in [n for n, x in state["links"].items() if (ns, name) in (x.get("parent"), x.get("lower"))]:
                self._delete_link(other_ns, child)

    # ------------------------------------------------------------ observing
    def netns_names(self) -> tuple:
        return {n for n in self.namespaces if n}, set()

    def read_rules(self, ns: str, table: str) -> Optional[dict]:
        return copy.deepcopy(self.rules.get((ns, table)))

    def read_nsset(self, name: str) -> Optional[dict]:
        return copy.deepcopy(self.sets.get(name))

    def read_file(self, path: str) -> Optional[str]:
        return self.files.get(path)

    def path_exists(self, path: str) -> bool:
        """A file it holds, a directory one of them is in, or one of a Debian host's usual paths."""
        held = set(self.files) | self.paths
        return path in held or any(p.startswith(path.rstrip("/") + "/") for p in held)

    def write_file(self, ns: str, name: str, content: str) -> None:
        self._call("write_file", ns, name)
        self.files[name] = content

    def remove_file(self, ns: str, name: str) -> None:
        self._call("remove_file", ns, name)
        self.files.pop(name, None)

    def read_process(self, name: str) -> Optional[dict]:
        return copy.deepcopy(self.procs.get(name))

    def survey(self, ns: str) -> Optional[dict]:
        return None

    def look_many(self, names: list) -> dict:
        return {name: {"netns": self.observe_ns(name), "survey": self.survey(name)} for name in names
                if name in self.namespaces}

    def _connected(self, ns: str) -> dict:
        out = {}
        for name, link in self.namespaces[ns]["links"].items():
            if not link["up"] or name == "lo":
                continue
            for a in link["addresses"]:
                iface = ipaddress.ip_interface(a)
                if iface.version == 4:
                    out[str(iface.network)] = Route(str(iface.network), None, name, None, "kernel")
        return out

    def _parent(self, ns: str, link: dict):
        """As the kernel reports it: the name in the same netns, else the parent's ifindex."""
        if not link.get("parent"):
            return None
        pns, parent = link["parent"]
        return parent if pns == ns else self.namespaces.get(pns, {}).get("links", {}).get(parent, {}).get("index")

    def observe_ns(self, ns: str) -> Namespace:
        state = self._ns(ns)
        links = {n: Link(n, x["kind"], up=x["up"], mtu=x["mtu"], master=x["master"], alias=x["alias"],
                         addresses=list(x["addresses"]), stp=x.get("stp"), index=x.get("index", 0),
                         parent=self._parent(ns, x), info=dict(x.get("info") or {}),
                         altnames=tuple(x.get("altnames", ())), mac=x.get("mac"))
                 for n, x in state["links"].items()}
        routes = self._connected(ns)
        for dst, r in state["routes"].items():
            routes.setdefault(dst, Route(dst, r["via"], r["dev"], r["metric"], "static"))
        return Namespace(links, routes)

    def remove_logs(self, lab: str) -> None:
        self.calls.append(("remove_logs", "", lab))

    def links_present(self, ns: str) -> set:
        return set(self.namespaces.get(ns, {}).get("links", {}))

    def netns_inodes(self, names) -> dict:
        return {}

    def netns_holders(self, inodes: dict) -> dict:
        return {}

    def read_sysctl(self, ns: Optional[str], key: str) -> Optional[str]:
        if ns is None:
            return SYSCTLS.get(key)
        return self._ns(ns)["sysctl"].get(key, SYSCTLS.get(key))

    # ------------------------------------------------------------ network namespaces
    def ensure_netns(self, ns: str, name: str, replace_placeholder: bool = False) -> None:
        self._call("ensure_netns", ns, name)
        if name in self.namespaces:
            raise _err(errno.EEXIST)
        self.namespaces[name] = self._fresh()

    def ensure_netns_many(self, names: list, workers: int = 2) -> list:
        out = []
        for name, replace in names:
            try:
                self.ensure_netns("", name, replace)
                out.append(None)
            except OSError as exc:
                out.append(exc)
        return out

    def remove_netns(self, ns: str, name: str) -> None:
        self._call("remove_netns", ns, name)
        gone = self.namespaces.pop(name, None)
        if gone is None:
            return
        for lname, link in gone["links"].items():
            for other_ns, state in list(self.namespaces.items()):
                for child in [n for n, x in state["links"].items() if x.get("parent") == (name, lname)]:
                    self._delete_link(other_ns, child)
        for key in [k for k in self.rules if k[0] == name]:
            del self.rules[key]

    # ------------------------------------------------------------ links
    def _new_link(self, ns: str, name: str, kind: str, up: bool, mtu: Optional[int], alias: Optional[str]) -> dict:
        self._indexes += 1
        link = {"kind": kind, "up": bool(up), "mtu": mtu or 1500, "master": None, "alias": alias, "addresses": [],
                "parent": None, "index": self._indexes}
        self._ns(ns)["links"][name] = link
        return link

    def _exists_as(self, ns: str, name: str, kind: str, alias: Optional[str]) -> None:
        link = self._ns(ns)["links"][name]
        if link["kind"] != kind or link["alias"] != alias:
            raise _err(errno.EEXIST, f"link '{name}' exists as a {link['kind']} marked {link['alias'] or '(nothing)'}, "
                                     f"not the {kind} nsprov is making")

    def ensure_bridge(self, ns: str, name: str, mtu: Optional[int], stp: bool, up: bool, alias: str) -> None:
        self._call("ensure_bridge", ns, name)
        if name in self._ns(ns)["links"]:
            return self._exists_as(ns, name, "bridge", alias)
        self._new_link(ns, name, "bridge", up, mtu, alias)["stp"] = bool(stp)

    def set_bridge(self, ns: str, name: str, stp: bool) -> None:
        self._call("set_bridge", ns, name)
        link = self._link(ns, name)
        if link["kind"] != "bridge":
            raise _err(errno.EOPNOTSUPP)
        link["stp"] = bool(stp)

    def ensure_veth(self, ns: str, name: str, peer: str, peer_netns: str, link: dict) -> None:
        self._call("ensure_veth", ns, name)
        here = self._ns(ns)
        if link.get("master"):
            self._link(ns, link["master"])
        there = self._ns(peer_netns)
        if name in here["links"]:
            return self._exists_as(ns, name, "veth", link.get("alias"))
        if peer in there["links"] or (ns == peer_netns and peer == name):
            raise _err(errno.EEXIST)
        a = self._new_link(ns, name, "veth", link.get("up"), link.get("mtu"), link.get("alias"))
        b = self._new_link(peer_netns, peer, "veth", link.get("up"), link.get("mtu"), link.get("alias"))
        a["parent"], b["parent"], a["master"] = (peer_netns, peer), (ns, name), link.get("master")

    def ensure_link(self, ns: str, name: str, kind: str, link: dict, data: tuple = ()) -> None:
        self._call("ensure_link", ns, name)
        parent = link.get("parent")
        where = (link["parent_netns"] or "") if "parent_netns" in link else ns
        if parent:
            self._link(where, parent)
        if link.get("master"):
            self._link(ns, link["master"])
        lower = [v for _, f, v in data or () if f == "ifindex"]      # a vxlan's underlay: it dies with it
        data = resolve_links(data, lambda dev: self._link(where, dev)["index"])
        if name in self._ns(ns)["links"]:
            return self._exists_as(ns, name, kind, link.get("alias"))
        new = self._new_link(ns, name, kind, link.get("up"), link.get("mtu"), link.get("alias"))
        new["master"], new["info"] = link.get("master"), pack_data(data)
        new["parent"] = (where, parent) if parent else None
        new["lower"] = (where, lower[0]) if lower else None

    def set_link_data(self, ns: str, name: str, kind: str, data: tuple) -> None:
        self._call("set_link_data", ns, name)
        link = self._link(ns, name)
        if link["kind"] != kind:
            raise _err(errno.EOPNOTSUPP)
        link["info"] = {**(link.get("info") or {}), **pack_data(data)}

    def set_mac(self, ns: str, name: str, mac: str) -> None:
        self._call("set_mac", ns, name)
        self._link(ns, name)["mac"] = mac.lower()

    def set_altnames(self, ns: str, name: str, altnames: list) -> None:
        self._call("set_altnames", ns, name)
        link = self._link(ns, name)
        for other, x in self._ns(ns)["links"].items():
            if x is not link and ({other, *x.get("altnames", ())} & set(altnames)):
                raise _err(errno.EEXIST)
        link["altnames"] = list(altnames)

    def set_link(self, ns: str, name: str, up: Optional[bool] = None, mtu: Optional[int] = None,
                 master=_UNSET, alias=_UNSET) -> None:
        self._call("set_link", ns, name)
        link = self._link(ns, name)
        if master is not _UNSET and master:
            self._link(ns, master)
        if up is not None:
            link["up"] = bool(up)
            if not up:
                self._drop_routes_of(ns, name)
        if mtu:
            link["mtu"] = mtu
        if master is not _UNSET:
            link["master"] = master or None
        if alias is not _UNSET:
            link["alias"] = alias or None

    def move_link(self, ns: str, name: str, to_netns: str, new_name: str, link: dict) -> None:
        self._call("move_link", ns, name)
        there = self._ns(to_netns)["links"]
        if not (new_name in there and name not in self._ns(ns)["links"]):
            moving = self._link(ns, name)
            if new_name in there:
                raise _err(errno.EEXIST)
            self._drop_routes_of(ns, name)
            del self._ns(ns)["links"][name]
            moving.update(addresses=[], master=None, up=False)
            there[new_name] = moving
            for state in self.namespaces.values():      # what is bound to it follows it (a veth peer)
                for other in state["links"].values():
                    for key in ("parent", "lower"):
                        if other.get(key) == (ns, name):
                            other[key] = (to_netns, new_name)
        moved = there[new_name]
        moved.update(up=bool(link.get("up")), alias=link.get("alias") or None)
        if link.get("mtu"):
            moved["mtu"] = link["mtu"]

    def begin_remove_links(self, ns: str, names: list):
        """Deleted at once (the fake has no kernel to wait for)."""
        self.remove_links(ns, names)
        from nsprov.agent.kernel.unlink import Done
        return Done()

    def remove_links(self, ns: str, names: list, wait: bool = True) -> None:
        for name in [n for n in names if n in self._ns(ns)["links"]]:
            self._call("remove_links", ns, name)
            self._delete_link(ns, name)

    def remove_link(self, ns: str, name: str) -> None:
        self._call("remove_link", ns, name)
        if name in self._ns(ns)["links"]:
            self._delete_link(ns, name)

    # ------------------------------------------------------------ addresses and routes
    def ensure_address(self, ns: str, name: str, dev: str, address: str) -> None:
        self._call("ensure_address", ns, name)
        link = self._link(ns, dev)
        if address not in link["addresses"]:
            link["addresses"].append(address)

    def remove_address(self, ns: str, name: str, dev: str, address: str) -> None:
        self._call("remove_address", ns, name)
        link = self._ns(ns)["links"].get(dev)
        if link is not None and address in link["addresses"]:
            link["addresses"].remove(address)
            net = str(ipaddress.ip_interface(address).network)
            routes = self.namespaces[ns]["routes"]
            for dst in [d for d, r in routes.items() if r["dev"] == dev and r["via"]
                        and ipaddress.ip_address(r["via"]) in ipaddress.ip_network(net)]:
                del routes[dst]

    def _gateway_dev(self, ns: str, via: str) -> Optional[str]:
        gw = ipaddress.ip_address(via)
        for dst, r in self._connected(ns).items():
            if gw in ipaddress.ip_network(dst):
                return r.dev
        return None

    def ensure_route(self, ns: str, name: str, via: Optional[str], dev: Optional[str], metric: Optional[int],
                     replace: bool = False) -> None:
        self._call("ensure_route", ns, name)
        state = self._ns(ns)
        if dev:
            self._link(ns, dev)
        if name in state["routes"] and not replace:
            raise _err(errno.EEXIST)
        if via:
            through = self._gateway_dev(ns, via)
            if through is None or (dev and dev != through):
                raise _err(errno.ENETUNREACH)
            dev = dev or through
        state["routes"][name] = {"via": via, "dev": dev, "metric": metric}

    def remove_route(self, ns: str, name: str, via: Optional[str], dev: Optional[str], metric: Optional[int]) -> None:
        self._call("remove_route", ns, name)
        self._ns(ns)["routes"].pop(name, None)

    def set_sysctl(self, ns: str, name: str, value: str) -> None:
        self._call("set_sysctl", ns, name)
        state = self._ns(ns)
        if name not in SYSCTLS:
            raise _err(errno.ENOENT)
        state["sysctl"][name] = value

    # ------------------------------------------------------------ firewall
    def ensure_rules(self, ns: str, name: str, table: str, rules: dict) -> None:
        self._call("ensure_rules", ns, name)
        self._ns(ns)
        self.rules.setdefault((ns, table), {}).update({k: {} for k in rules})

    def remove_rules(self, ns: str, name: str, table: str, rules: dict) -> None:
        self._call("remove_rules", ns, name)
        for key in rules:
            self.rules.get((ns, table), {}).pop(key, None)

    def remove_table(self, ns: str, name: str, table: str, rules: Optional[dict] = None) -> None:
        self._call("remove_table", ns, name)
        self.rules.pop((ns, table), None)
