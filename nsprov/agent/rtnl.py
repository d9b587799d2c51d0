"""The only module that imports pyroute2: one netlink socket per network namespace."""

from __future__ import annotations

from typing import Any

from pyroute2.iproute.linux import IPRoute

from nsprov.agent import netns


class Sockets:
    """IPRoute sockets keyed by netns name ("" = the host's own), opened once, closed together."""

    def __init__(self) -> None:
        self._open: dict[str, Any] = {}

    def get(self, ns: str) -> Any:
        if ns not in self._open:
            with netns.entered(ns):
                self._open[ns] = IPRoute()
        return self._open[ns]

    def drop(self, ns: str) -> None:
        """Close the socket of a namespace that is going away (it would pin it otherwise)."""
        ipr = self._open.pop(ns, None)
        if ipr is not None:
            ipr.close()

    def close(self) -> None:
        for ipr in self._open.values():
            ipr.close()
        self._open.clear()

    def __enter__(self) -> "Sockets":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def observe_links(ipr: Any) -> list[dict]:
    """Every link of one namespace: name, index, kind, state, master, mtu, mac, addresses."""
    links = list(ipr.get_links())
    names = {link["index"]: link.get("ifname") for link in links}
    addrs: dict[int, list[str]] = {}
    for a in ipr.get_addr():
        addrs.setdefault(a["index"], []).append(f"{a.get('address')}/{a['prefixlen']}")
    out = []
    for link in links:
        master = link.get("master")
        out.append({
            "name": link.get("ifname"),
            "index": link["index"],
            "kind": link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or ("loopback" if link.get("ifname") == "lo" else "device"),
            "state": (link.get("operstate") or "").lower() or ("up" if link["flags"] & 1 else "down"),
            "up": bool(link["flags"] & 1),
            "master": names.get(master, master) if master else None,
            "mtu": link.get("mtu"),
            "mac": link.get("address"),
            "alias": link.get("ifalias"),
            "addresses": addrs.get(link["index"], []),
        })
    return out
