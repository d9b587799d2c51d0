"""The host as a plan sees it, and actions as plain data.

`Observed` is filled lazily through the kernel's observers (kernel/objects.py: one dump per
namespace when first needed) and then kept in step by each planned action's simulated effect
(ops.py), which is also how check mode sees the effect of earlier tasks without touching anything.
"""

from __future__ import annotations

from typing import Callable, Optional

from nsprov.agent.kernel.objects import NEW_NETNS_DEFAULT, Link, Namespace, Observer, Route, blank_survey, observers

__all__ = ["NEW_NETNS_DEFAULT", "Action", "Link", "Namespace", "Observed", "Route", "observed"]


class Action:
    """One kernel change: OP (an ops.Op) on NAME in netns NS, with ARGS; REASON is what a
    person reads. TAKES: (netns, name) of the links the kernel deletes with it (what dies with
    the object: resources/_lifetimes.links_going_with), for the simulated effect."""
    __slots__ = ("op", "ns", "name", "args", "reason", "takes")

    def __init__(self, op, ns: str, name: str, args: dict, reason: str, takes: tuple = ()):
        self.op, self.ns, self.name, self.args, self.reason, self.takes = op, ns, name, args, reason, takes

    def __repr__(self) -> str:
        return f"Action({self.op.name}, {self.ns!r}, {self.name!r}, {self.args!r})"


class Observed:
    """The host as the plan sees it: the named network namespaces, and every other aspect read
    through the kernel's observers (kernel/objects.Observer) when a plan first asks, then cached.
    The setters below are what an action's simulated effect (ops.py) uses to keep it in step."""

    def __init__(self, netns: set, observers: dict, placeholders: Optional[set] = None):
        self.netns = set(netns)          # named network namespaces
        self.placeholders = set(placeholders or ())   # names in /run/netns with no namespace behind
        self.created: set = set()        # ... of which this plan creates (nothing to read there yet)
        self.removed: set = set()        # ... and those it deletes
        self.remade: set = set()         # namespace sets this plan makes again (what ran inside must restart)
        self.taken: dict = {}            # (netns, link) -> what this plan deletes that takes it ("netns 'red'")
        self.observers = observers       # aspect -> Observer
        self._seen: dict = {}            # (aspect, *key) -> what it holds
        self._in: dict = {}              # netns -> the keys of _seen read in it (forgotten with it)
        self.look_many: Optional[Callable] = None    # the kernel's look into many namespaces at once

    # ------------------------------------------------------------ reading (lazily)
    def exists(self, ns: str) -> bool:
        return ns == "" or ns in self.netns

    def read(self, aspect: str, *key):
        """What ASPECT holds at KEY, read from the kernel the first time."""
        k = (aspect, *key)
        if k not in self._seen:
            o: Observer = self.observers[aspect]
            if o.in_netns and (not self.exists(key[0]) or key[0] in self.created):
                self._seen[k] = o.blank(key[0] in self.created, *key)
            else:
                self._seen[k] = o.read(*key)
            if o.in_netns:
                self._in.setdefault(key[0], set()).add(k)
        return self._seen[k]

    def put(self, aspect: str, *key, value) -> None:
        """ASPECT at KEY holds VALUE now (a simulated effect)."""
        k = (aspect, *key)
        self._seen[k] = value
        if self.observers[aspect].in_netns:
            self._in.setdefault(key[0], set()).add(k)

    def ns(self, name: str) -> Namespace:
        return self.read("netns", name)

    def link(self, ns: str, name: str) -> Optional[Link]:
        return self.ns(ns).links.get(name) if self.exists(ns) else None

    def sysctl(self, ns: str, key: str) -> Optional[str]:
        """The value, None if there is no such sysctl, NEW_NETNS_DEFAULT in a netns not made yet."""
        return self.read("sysctl", ns, key)

    def sysctl_in_new_netns(self, key: str) -> Optional[str]:
        """What KEY is in a network namespace made now (what one made by a run started with)."""
        return self.observers["sysctl"].read(None, key)

    def rules(self, ns: str, table: str) -> Optional[dict]:
        return self.read("rules", ns, table)

    def look_ahead(self, names) -> None:
        """Read what a plan asks of each namespace NAMES (links, routes, the survey) in one pass
        (kernel/looks.py), before the plan asks namespace by namespace: a teardown and a deep
        drift ask of every one. Namespaces not there, made by this plan or read already are
        left out."""
        todo = [n for n in dict.fromkeys(names) if n in self.netns and n not in self.created
                and ("netns", n) not in self._seen]
        if len(todo) < 2 or self.look_many is None:
            return
        for name, found in self.look_many(todo).items():
            self.put("netns", name, value=found["netns"])
            self.put("survey", name, value=found["survey"])

    def survey(self, ns: str) -> dict:
        """What NS holds beyond links and main-table routes: {tables: [(family, name)], routes:
        [(table, dst)], rules: [text]}; empty for a netns this plan makes or none (not cached:
        it is read once, for drift or a netns about to go)."""
        found = self.read("survey", ns)
        self._seen.pop(("survey", ns), None)
        return found or blank_survey(False, ns)

    def nsset(self, name: str) -> Optional[dict]:
        """A namespace set: {kinds, alive, hostname, domainname, uid_map, gid_map}, or None."""
        return self.read("nsset", name)

    def file(self, path: str) -> Optional[str]:
        """A file's text (one nsprov may write: /etc/netns/NAME/hosts), or None."""
        return self.read("file", path)

    def path_exists(self, path: str) -> bool:
        """Whether anything (a file, a directory, a link) is at PATH on the host."""
        return bool(self.read("path", path))

    def process(self, name: str) -> Optional[dict]:
        """A process nsprov started: {alive, pid, argv, target}, or None."""
        return self.read("process", name)

    # ------------------------------------------------------------ keeping in step
    def add_netns(self, name: str) -> None:
        self.placeholders.discard(name)
        self.removed.discard(name)
        self._forget_netns(name)
        self.netns.add(name)
        self.created.add(name)

    def drop_netns(self, name: str) -> None:
        self.placeholders.discard(name)
        if name in self.netns:
            self.removed.add(name)
        self.netns.discard(name)
        self.created.discard(name)
        self._forget_netns(name)

    def _forget_netns(self, name: str) -> None:
        for k in self._in.pop(name, ()):
            self._seen.pop(k, None)

    def set_sysctl(self, ns: str, key: str, value: str) -> None:
        self.put("sysctl", ns, key, value=value)

    def set_rules(self, ns: str, table: str, rules: Optional[dict]) -> None:
        self.put("rules", ns, table, value=rules)

    def set_nsset(self, name: str, value: Optional[dict]) -> None:
        self.put("nsset", name, value=value)

    def set_process(self, name: str, value: Optional[dict]) -> None:
        self.put("process", name, value=value)


def observed(kernel) -> Observed:
    """The host as a plan starts from it: KERNEL's named network namespaces and its observers."""
    netns, placeholders = kernel.netns_names()
    obs = Observed(netns, observers(kernel), placeholders)
    obs.look_many = getattr(kernel, "look_many", None)
    return obs
