"""route: a route in the main table of any network namespace."""

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, NETNS, OVERLAP, Param, STATE, in_ns


def _rules(p: dict) -> list:
    if p["state"] == "present" and not p["via"] and not p["dev"]:
        return [("via", "a route needs via or dev")]
    if p["via"] and p["to"] and p["to"] not in ("default", "::/0") and (":" in p["via"]) != (":" in p["to"]):
        return [("via", f"gateway {p['via']} and destination {p['to']} are not of one IP version")]
    return []


def _declares(p: dict) -> Declares:
    used = (("netns", p["netns"]),) if p["netns"] else ()
    if p["state"] != "present":
        return Declares(netns_used=used)
    return Declares(objects=(("route", p["netns"], p["to"]),), netns_used=used)


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        via = f" via {p['via']}" if p["via"] else ""
        dev = f" dev {p['dev']}" if p["dev"] else ""
        topo.line(p["netns"], f"route {p['to']}{via}{dev}")


class Route(Kind):
    name = "route"
    summary = "a route (default included) in any netns"
    doc = ("A static route in the main table. A route to the same destination that nsprov did not make "
           "(a connected one, say) is never replaced.")
    absent = "Deletes the route."
    example = "route: {netns: red, to: default, via: 10.2.0.1}"
    params = {
        "to": Param(t.ROUTE_DST, "'default' (IPv4's, or IPv6's with an IPv6 gateway), '::/0' or the destination "
                                 "network", required=True),
        "netns": NETNS,
        "via": Param(t.IP, "the gateway"),
        "dev": Param(t.IFNAME, "the interface it leaves by", example="eth0"),
        "metric": Param(t.METRIC, "the route's priority"),
        "allow_management_overlap": OVERLAP,
        "state": STATE,
    }

    def label(self, p):
        return f"route {in_ns(p['netns'])}{p['to']}"

    def validate(self, params):
        """`to: default` with an IPv6 gateway is IPv6's default route, ::/0 (as the kernel names it)."""
        out, problems = super().validate(params)
        if out.get("to") == "default" and ":" in (out.get("via") or ""):
            out["to"] = "::/0"
        return out, problems

    rules = staticmethod(_rules)
    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Route()
