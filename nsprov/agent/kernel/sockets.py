"""One raw NETLINK_ROUTE socket per network namespace, for reading (rtdump) and writing (rtwrite)."""

from __future__ import annotations

from typing import Any

from nsprov.agent.kernel import netns, rtdump


class Sockets:
    """Sockets keyed by netns name ("" = the host's own), opened once, closed together."""

    def __init__(self) -> None:
        self._raw: dict[str, Any] = {}

    def raw(self, ns: str) -> Any:
        """A raw NETLINK_ROUTE socket bound to NS (for dumps)."""
        if ns not in self._raw:
            with netns.entered(ns):
                self._raw[ns] = rtdump.open_socket()
        return self._raw[ns]

    def adopt(self, ns: str, sock: Any) -> None:
        """Take a raw socket already made inside NS (netns creation does that while inside)."""
        self._raw[ns] = sock

    def drop(self, ns: str) -> None:
        """Close the sockets of a namespace that is going away (they would pin it otherwise)."""
        raw = self._raw.pop(ns, None)
        if raw is not None:
            raw.close()

    def close(self) -> None:
        for ns in list(self._raw):
            self.drop(ns)

    def __enter__(self) -> "Sockets":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def observe_links(sock: Any, addresses: bool = True) -> list[dict]:
    """Every link of one namespace: name, index, kind, state, master, mtu, mac, and (unless
    ADDRESSES is false: one dump fewer) addresses."""
    raw = rtdump.links(sock)
    names = {link["index"]: link["name"] for link in raw}
    addrs: dict[int, list[str]] = {}
    for index, cidr in rtdump.addresses(sock) if addresses else ():
        addrs.setdefault(index, []).append(cidr)
    return [{
        "name": link["name"],
        "index": link["index"],
        "kind": link["kind"] or ("loopback" if link["name"] == "lo" else "device"),
        "state": link["state"] if link["state"] != "unknown" or link["name"] != "lo" else "unknown",
        "up": link["up"],
        "master": names.get(link["master"], link["master"]) if link["master"] else None,
        "mtu": link["mtu"],
        "mac": link["mac"],
        "alias": link["alias"],
        "stp": link.get("stp"),
        "parent": (link["link"] if link["link_elsewhere"] else names.get(link["link"])) if link["link"] and
        link["link"] != link["index"] else None,
        "data": link["data"],
        "altnames": list(link.get("altnames", ())),
        "addresses": addrs.get(link["index"], []),
    } for link in raw]
