"""What the links made on a lower link share in the model (a macvlan, ipvlan or vlan on its
parent, a vxlan on its underlay): their label, the rule that a link is not its own lower link,
what a present task declares, and how `nsprov graph` draws one. Each kind's file says which
parameters name its lower link and what is its own."""

from __future__ import annotations

from typing import Callable

from nsprov.model.kinds.base import Declares, in_ns


def label(kind: str, lower: str = "link", lower_ns: str = "link_netns") -> Callable[[dict], str]:
    def _label(p: dict) -> str:
        on = f"@{in_ns(p[lower_ns])}{p[lower]}" if p.get(lower) else ""
        return f"{kind} {in_ns(p['netns'])}{p['name']}{on}"
    return _label


def rules(kind: str, lower: str = "link", lower_ns: str = "link_netns", noun: str = "parent") -> Callable[[dict], list]:
    def _rules(p: dict) -> list:
        if p["name"] == p[lower] and p["netns"] == p[lower_ns]:
            return [(lower, f"{p[lower]} is the {kind} itself: name its {noun}, another link")]
        return []
    return _rules


def declares(lower_ns: str = "link_netns") -> Callable[[dict], Declares]:
    def _declares(p: dict) -> Declares:
        used = tuple((f, p[f]) for f in ("netns", lower_ns) if p[f])
        if p["state"] != "present":
            return Declares(netns_used=used)
        return Declares(objects=(("link", p["netns"], p["name"]),),
                        addresses=tuple((p["netns"], p["name"], a) for a in p["addresses"]), netns_used=used)
    return _declares


def draw(kind: str, describe: Callable[[dict], str], lower: str = "link",
         lower_ns: str = "link_netns") -> Callable:
    """An edge from the lower link's namespace to the link's, named with DESCRIBE(params)."""
    def _draw(p: dict, topo) -> None:
        if p["state"] != "present":
            return
        if p["addresses"]:
            topo.line(p["netns"], f"{p['name']} {' '.join(p['addresses'])}")
        on = f" on {p[lower]}" if p.get(lower) else ""
        topo.edge(topo.ns_node(p[lower_ns]), topo.ns_node(p["netns"]), f"{kind} {p['name']}{on} ({describe(p)})")
    return _draw
