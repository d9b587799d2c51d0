"""The fake kernel's filter tables and root qdiscs (fake.py has the rest): kept in the netns
they live in (a filter table) or on the link (a qdisc), so they go with it as the kernel's do;
held to the real kernel by tests/unit/test_kernel_contract.py."""

from __future__ import annotations

import copy
from typing import Optional


def _plain(chains: dict) -> dict:
    """Chains as a read gives them back: each rule by its comment."""
    return {c: {"policy": v["policy"], "rules": [r if isinstance(r, str) else r["comment"] for r in v["rules"]]}
            for c, v in chains.items()}


class FakePolicies:
    """Mixed into FakeKernel, whose state (namespaces, calls) it uses."""

    def read_firewall(self, ns: str, table: str) -> Optional[dict]:
        return copy.deepcopy(self._ns(ns).get("firewall", {}).get(table))

    def set_firewall(self, ns: str, name: str, table: dict) -> None:
        self._call("set_firewall", ns, name)
        self._ns(ns).setdefault("firewall", {})[name] = {"chains": _plain(table["chains"]), "text": "(fake)"}

    def remove_firewall(self, ns: str, name: str) -> None:
        self._call("remove_firewall", ns, name)
        self._ns(ns).setdefault("firewall", {}).pop(name, None)

    lacking: frozenset = frozenset()     # (what, kind) this fake kernel has not: ("link_kinds", "vlan")

    def supports(self, what: str, kind: str) -> Optional[bool]:
        return (what, kind) not in self.lacking

    def read_qdisc(self, ns: str, link: str) -> Optional[dict]:
        x = self._ns(ns)["links"].get(link)
        q = x.get("qdisc") if x else None
        return None if q is None else {k: v for k, v in q.items() if k != "distribution"}

    def set_qdisc(self, ns: str, name: str, qdisc: dict) -> None:
        self._call("set_qdisc", ns, name)
        self._link(ns, name)["qdisc"] = dict(qdisc)

    def remove_qdisc(self, ns: str, name: str) -> None:
        self._call("remove_qdisc", ns, name)
        self._link(ns, name).pop("qdisc", None)
