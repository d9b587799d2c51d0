"""What the kernel holds, read for the planner: every aspect kernel/objects.ASPECTS names, and
the few reads the engine makes after a run (what links are left, what holds a namespace)."""

from __future__ import annotations

import os
from typing import Optional

from nsprov.agent.kernel import files, netns, nsset, processes, rtdump
from nsprov.agent.kernel.objects import Link, Namespace, Route
from nsprov.agent.kernel.sockets import observe_links


class Observing:
    """The reading half of the Kernel (kernel/__init__.py): SOCKETS and FW are the Kernel's."""

    def netns_names(self) -> tuple:
        """(named network namespaces, names in /run/netns with no namespace behind them)."""
        names = netns.named_netns()
        empty = netns.placeholders(names)
        return set(names) - empty, empty

    def read_rules(self, ns: str, table: str) -> Optional[dict]:
        return self.fw.list_rules(ns, table)

    def supports(self, what: str, kind: str) -> Optional[bool]:
        """Whether this kernel has link kind KIND (WHAT "link_kinds") or qdisc KIND ("qdiscs"):
        asked of the kernel once a run (kernel/support.py), None when it could not be asked."""
        if getattr(self, "_support", None) is None:
            from nsprov.agent.kernel.support import probe
            self._support = probe()
        return (self._support.get(what) or {}).get(kind)

    read_nsset = staticmethod(nsset.observe)
    read_process = staticmethod(processes.observe)
    read_file = staticmethod(files.read)
    path_exists = staticmethod(os.path.lexists)

    def survey(self, ns: str) -> dict:
        from nsprov.agent.kernel import survey
        return survey.survey(ns, self.sockets.raw(ns))

    def observe_ns(self, ns: str) -> Namespace:
        """One namespace in up to three dumps: its links now, their addresses and its routes
        when a plan first asks for them (a namespace that is only deleted needs neither)."""
        return self._namespace(ns, observe_links(self.sockets.raw(ns), addresses=False))

    def look_many(self, names: list) -> dict:
        """{name: {"netns": Namespace, "survey": survey}} of the namespaces NAMES, read in one
        pass over the host's cores (looks.py): what a teardown or a deep drift asks of each."""
        from nsprov.agent.kernel import looks
        return {name: {"netns": self._namespace(name, found["links"], found["routes"]), "survey": found["survey"]}
                for name, found in looks.many(names).items()}

    def _namespace(self, ns: str, found: list, routes: Optional[list] = None) -> Namespace:
        """A Namespace of the links FOUND (sockets.observe_links); their addresses are read when
        first asked for, and its main-table routes too unless ROUTES (rtdump.routes) are given."""
        links: dict = {}

        def fill() -> None:
            by_index: dict = {}
            for index, cidr in rtdump.addresses(self.sockets.raw(ns)):
                by_index.setdefault(index, []).append(cidr)
            for link in links.values():
                if link._addresses is None:
                    link.addresses = by_index.get(link.index, [])

        for x in found:
            links[x["name"]] = Link(name=x["name"], kind=x["kind"], fill=fill, up=x["up"], mtu=x["mtu"],
                                    master=x["master"], alias=x["alias"], index=x["index"], stp=x["stp"],
                                    parent=x["parent"], info=x["data"], altnames=tuple(x["altnames"]), mac=x["mac"])

        def load_routes() -> dict:
            names = {link.index: link.name for link in links.values()}
            out: dict = {}
            for r in routes if routes is not None else rtdump.routes(self.sockets.raw(ns)):
                out.setdefault(r["dst"], Route(r["dst"], r["via"], names.get(r["oif"]), r["metric"], r["proto"]))
            return out
        return Namespace(links, load_routes=load_routes)

    def read_sysctl(self, ns: Optional[str], key: str) -> Optional[str]:
        """KEY's value in NS; NS None: in a network namespace made now."""
        if ns is None:
            return netns.new_netns_value("/proc/sys/" + key.replace(".", "/"))
        with netns.entered(ns):   # /proc/sys/net shows the namespace of whoever opens it
            try:
                with open("/proc/sys/" + key.replace(".", "/")) as f:
                    return f.read().strip()
            except FileNotFoundError:
                return None

    def remove_logs(self, lab: str) -> None:
        """The lab's process logs (/var/lib/nsprov/log/LAB), once nothing of the lab is left."""
        processes.remove_logs(lab)

    def links_present(self, ns: str) -> set:
        """The names of the links in NS now (empty if NS is gone)."""
        try:
            return {x["name"] for x in rtdump.links(self.sockets.raw(ns))}
        except OSError:
            return set()

    def netns_inodes(self, names) -> dict:
        """{inode: name} of the pins of network namespaces NAMES (those that exist)."""
        return netns.pin_inodes(names) if names else {}

    def netns_holders(self, inodes: dict) -> dict:
        """{name: [(pid, command)]} of processes living in the namespaces INODES: what keeps a
        namespace, and its links, alive once its pin is gone."""
        return netns.holders(inodes)

