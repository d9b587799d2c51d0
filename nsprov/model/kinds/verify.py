"""verify: assertions checked on the host, after the tasks before it."""

from typing import Any

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, Param

SET_CHECKS = ("isolation", "ipc_isolated", "pid1", "mount_isolated", "isolated_from_host")
CHECKS = (*SET_CHECKS, "reach", "no_reach", "link", "path", "routes", "hostname", "uid_map")
PROTOCOLS = ("ospf", "ospf6", "bgp", "isis", "rip", "ripng", "eigrp", "babel", "static", "kernel", "boot", "zebra")
_LINK_KEYS = ("from", "to", "rtt", "loss", "rate", "count", "tolerance")


def reach_list(value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("expected a list of {from: NAMESPACE, to: ADDRESS, port: N}")
    out = []
    for r in value:
        if not isinstance(r, dict) or "to" not in r or set(r) - {"from", "to", "port", "proto"}:
            raise ValueError(f"each entry needs to (and optional from, port, proto), not {r!r}")
        n = t.port(r["port"]) if r.get("port") is not None else None
        proto = t.choice("icmp", "tcp", "udp")(r.get("proto") or ("tcp" if n else "icmp"))
        if (proto == "icmp") != (n is None):
            raise ValueError(f"{r!r}: tcp and udp need a port, and a ping (icmp) takes none")
        out.append({"from": t.netns_name(r.get("from", "")), "to": t.ip(r["to"]), "port": n, "proto": proto})
    return out


_S_REACH = {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": ["to"],
                                       "properties": {"from": {"type": "string"}, "to": t._S_IP, "port": t._S_INT,
                                                      "proto": {"enum": ["icmp", "tcp", "udp"]}}}}
REACH_LIST = t.Type("list of {from, to, port, proto}", reach_list, _S_REACH, [{"from": "red", "to": "10.2.0.3", "port": 80}])


def _tolerance(value) -> dict:
    value = {} if value is None else value
    if not isinstance(value, dict) or set(value) - {"percent", "ms"}:
        raise ValueError(f"tolerance takes {{percent, ms}}, not {value!r}")
    out = {"percent": float(value.get("percent", 10)), "ms": float(value.get("ms", 2))}
    if not 0 <= out["percent"] <= 100 or out["ms"] < 0:
        raise ValueError(f"tolerance {value!r}: percent from 0 to 100, ms not negative")
    return out


def link_list(value: Any) -> list:
    """[{from, to, rtt ('NNNus'), loss (%), rate ('NNNbit'), count, tolerance {percent, ms}}]."""
    from nsprov.model.kinds.netem import DURATION, RATE, percent
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("expected a list of {from, to, rtt, loss, rate, count, tolerance}")
    out = []
    for r in value:
        if not isinstance(r, dict) or "to" not in r or set(r) - set(_LINK_KEYS):
            raise ValueError(f"each entry needs to (and from, rtt, loss, rate, count, tolerance), not {r!r}")
        if all(r.get(k) is None for k in ("rtt", "loss", "rate")):
            raise ValueError(f"{r!r}: say what to measure: rtt, loss or rate")
        count = r.get("count", 100)
        if isinstance(count, bool) or not isinstance(count, int) or not 10 <= count <= 100000:
            raise ValueError(f"count {count!r}: a number of echoes from 10 to 100000")
        out.append({"from": t.netns_name(r.get("from", "")), "to": t.ip(r["to"]),
                    "rtt": DURATION.check(r["rtt"]) if r.get("rtt") is not None else None,
                    "loss": percent(r["loss"]) if r.get("loss") is not None else None,
                    "rate": RATE.check(r["rate"]) if r.get("rate") is not None else None,
                    "count": count, "tolerance": _tolerance(r.get("tolerance"))})
    return out


LINK_LIST = t.Type("list of {from, to, rtt, loss, rate, count, tolerance}", link_list, {"type": "array", "items": {
    "type": "object", "additionalProperties": False, "required": ["to"], "properties": {
        "from": {"type": "string"}, "to": t._S_IP, "rtt": {"type": ["string", "number"]},
        "loss": {"type": ["string", "number"]}, "rate": {"type": ["string", "number"]}, "count": t._S_INT,
        "tolerance": {"type": "object", "additionalProperties": False, "properties": {
            "percent": {"type": "number"}, "ms": {"type": "number"}}}}}},
    [{"from": "red", "to": "10.2.0.3", "rtt": "20ms", "rate": "10mbit"}])


def path_list(value: Any) -> list:
    """[{from, to, via: [ADDRESS...], max_hops}]."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("expected a list of {from, to, via, max_hops}")
    out = []
    for r in value:
        if not isinstance(r, dict) or "to" not in r or set(r) - {"from", "to", "via", "max_hops"}:
            raise ValueError(f"each entry needs to and via (and optional from, max_hops), not {r!r}")
        via = r.get("via")
        if not isinstance(via, list) or not via:
            raise ValueError(f"{r!r}: via is a list of the addresses the packets pass, in order")
        hops = r.get("max_hops", 16)
        if isinstance(hops, bool) or not isinstance(hops, int) or not 1 <= hops <= 64:
            raise ValueError(f"max_hops {hops!r}: from 1 to 64")
        out.append({"from": t.netns_name(r.get("from", "")), "to": t.ip(r["to"]), "via": [t.ip(v) for v in via],
                    "max_hops": hops})
    return out


PATH_LIST = t.Type("list of {from, to, via, max_hops}", path_list, {"type": "array", "items": {
    "type": "object", "additionalProperties": False, "required": ["to", "via"], "properties": {
        "from": {"type": "string"}, "to": t._S_IP, "via": {"type": "array", "items": t._S_IP, "minItems": 1},
        "max_hops": t._S_INT}}}, [{"from": "red", "to": "10.2.0.3", "via": ["10.1.0.1"]}])


def route_list(value: Any) -> list:
    """[{node, prefix, via, protocol, within}]: a route that must appear in NODE's main table."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("expected a list of {node, prefix, via, protocol, within}")
    out = []
    for r in value:
        if not isinstance(r, dict) or not {"node", "prefix"} <= set(r) or set(r) - {"node", "prefix", "via",
                                                                                     "protocol", "within"}:
            raise ValueError(f"each entry needs node and prefix (and optional via, protocol, within), not {r!r}")
        protocol = t.choice(*PROTOCOLS)(r["protocol"]) if r.get("protocol") is not None else None
        within = r.get("within", 30)
        if isinstance(within, bool) or not isinstance(within, (int, float)) or not 0 <= within <= 600:
            raise ValueError(f"within {within!r}: seconds, from 0 to 600")
        out.append({"node": t.netns_name(r["node"]), "prefix": t.network(r["prefix"]),
                    "via": t.ip(r["via"]) if r.get("via") is not None else None, "protocol": protocol,
                    "within": float(within)})
    return out


ROUTE_LIST = t.Type("list of {node, prefix, via, protocol, within}", route_list, {"type": "array", "items": {
    "type": "object", "additionalProperties": False, "required": ["node", "prefix"], "properties": {
        "node": {"type": "string"}, "prefix": {"type": "string"}, "via": t._S_IP,
        "protocol": {"enum": list(PROTOCOLS)}, "within": {"type": "number"}}}},
    [{"node": "clab-frr01-router1", "prefix": "192.168.13.0/24", "via": "192.168.2.2", "protocol": "ospf",
      "within": 60}])


def _rules(p: dict) -> list:
    return [] if any(p[k] for k in CHECKS) else [("", "verify needs at least one check")]


def _declares(p: dict) -> Declares:
    sets = [(k, n) for k in SET_CHECKS for n in p[k]]
    sets += [(k, h["namespace"]) for k in ("hostname", "uid_map") for h in p[k]]
    netns = [(f"{k}.from", r["from"]) for k in ("reach", "no_reach", "link", "path") for r in p[k] if r["from"]]
    netns += [("routes.node", r["node"]) for r in p["routes"]]
    return Declares(netns_used=tuple(netns), sets_used=tuple(sets))


class Verify(Kind):
    name = "verify"
    summary = "assertions: reach/no_reach, link, path, routes, hostname, ipc_isolated, pid1, mount_isolated, uid_map, isolation"
    doc = ("Runs the seed tutorial's experiments for real on the host once the tasks before it are done, "
           "and reachability by packets: ping, or a TCP connect when a port is given (a refused port that must "
           "be reached is retried for 10 s), or with `proto: udp` a datagram that must come back: where the "
           "address lives on the same host, the agent answers it there itself for the check's length (a port "
           "already served is left to its server). A failed check fails the task without undoing the build.")
    absent = ""
    example = "verify:\n  reach: [{from: red, to: 10.2.0.1}]\n  no_reach: [{from: netns1, to: 10.2.0.2, port: 80}, {from: red, to: 10.2.0.2, port: 53, proto: udp}]"
    params = {
        "isolation": Param(t.NAME_LIST, "sets to put through every experiment their kinds allow", default=[]),
        "reach": Param(REACH_LIST, "{from: NAMESPACE, to: ADDRESS, port: N, proto: icmp|tcp|udp} that must answer "
                                     "(tcp when a port is given, else ping)", default=[]),
        "no_reach": Param(REACH_LIST, "the same, that must not answer", default=[]),
        "link": Param(LINK_LIST, "{from: NAMESPACE, to: ADDRESS, rtt: 20ms, loss: 1, rate: 10mbit}: a link measured "
                                 "(a ping train of `count` echoes, 100 unless set, its median RTT; a 2 s TCP stream into a sink the "
                                 "agent runs where the address lives) against what is declared, within `tolerance` "
                                 "(10 percent or 2 ms, whichever is larger; loss also within its sampling error)",
                      default=[]),
        "path": Param(PATH_LIST, "{from: NAMESPACE, to: ADDRESS, via: [ADDRESS...], max_hops: 16}: packets from "
                                 "the namespace to the address pass these hops, in this order (others may come "
                                 "between), and arrive: TTL-limited UDP probes the agent sends and records, as "
                                 "traceroute does; the hops seen are in the check's result", default=[]),
        "routes": Param(ROUTE_LIST, "{node: NAMESPACE, prefix: NETWORK, via: ADDRESS, protocol: ospf|bgp|..., "
                                    "within: 30}: a route (a routing daemon's, say) that must be in the namespace's "
                                    "main table, through VIA (one of its next hops) and from PROTOCOL, within that "
                                    "many seconds of the check's start", default=[]),
        "hostname": Param(t.HOSTNAME_CHECKS, "{namespace, equals}: the hostname inside", default=[]),
        "ipc_isolated": Param(t.NAME_LIST, "sets whose SysV message queues are their own", default=[]),
        "pid1": Param(t.NAME_LIST, "sets whose init is PID 1 inside and another PID outside", default=[]),
        "mount_isolated": Param(t.NAME_LIST, "sets where a mount made inside is absent outside", default=[]),
        "uid_map": Param(t.UID_CHECKS, "{namespace, inside, outside}: a uid mapping (and file ownership)",
            default=[]),
        "isolated_from_host": Param(t.NAME_LIST, "sets whose namespaces all differ from the host's", default=[]),
    }

    def label(self, p):
        return "verify " + ", ".join(k for k in CHECKS if p.get(k))

    rules = staticmethod(_rules)
    declares = staticmethod(_declares)

    def proves(self, p):
        return {"assertions": [p]}


KIND = Verify()
