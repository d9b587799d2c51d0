"""firewall: the lab's packet filter in one netns (the host's own included)."""

import ipaddress

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, NETNS, Param, RULE_OVERLAP, STATE, in_ns

ACTIONS, DIRECTIONS, PROTOS = ("accept", "drop", "reject"), ("in", "out", "forward"), ("tcp", "udp", "icmp", "icmpv6")
_RULE_KEYS = ("action", "direction", "from", "to", "proto", "port")


def _version(net) -> int:
    return ipaddress.ip_network(net, strict=False).version if net else 0


def _rule(value) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"each rule is a mapping of {', '.join(_RULE_KEYS)}, not {value!r}")
    bad = sorted(set(value) - set(_RULE_KEYS))
    if bad:
        raise ValueError(f"rule has unknown key {bad[0]!r}; expected {', '.join(_RULE_KEYS)}")
    if "action" not in value:
        raise ValueError(f"rule {value!r} needs an action ({' | '.join(ACTIONS)})")
    r = {"action": t.choice(*ACTIONS)(value["action"]), "direction": t.choice(*DIRECTIONS)(value.get("direction", "in")),
         "from": t.network(value["from"]) if value.get("from") is not None else None,
         "to": t.network(value["to"]) if value.get("to") is not None else None,
         "proto": t.choice(*PROTOS)(value["proto"]) if value.get("proto") is not None else None,
         "port": t.port(value["port"]) if value.get("port") is not None else None}
    if r["port"] is not None and r["proto"] not in ("tcp", "udp"):
        raise ValueError(f"rule {value!r}: a port needs proto tcp or udp")
    versions = {_version(r["from"]), _version(r["to"]), {"icmp": 4, "icmpv6": 6}.get(r["proto"], 0)} - {0}
    if len(versions) > 1:
        raise ValueError(f"rule {value!r} mixes IPv4 and IPv6 (from, to and icmp/icmpv6 must agree)")
    return r


def _rules(value) -> list:
    if not isinstance(value, list):
        raise ValueError("rules takes a list of {action, direction, from, to, proto, port}")
    return [_rule(v) for v in value]


def _policy(value) -> dict:
    if not isinstance(value, dict):
        raise ValueError("policy takes a mapping of direction (in, out, forward) to accept or drop")
    bad = sorted(set(value) - set(DIRECTIONS))
    if bad:
        raise ValueError(f"policy: unknown direction {bad[0]!r}; expected in, out, forward")
    return {d: t.choice("accept", "drop")(value.get(d, "accept")) for d in DIRECTIONS}


RULES = t.Type("list of {action, direction, from, to, proto, port}", _rules, {"type": "array", "items": {
    "type": "object", "required": ["action"], "additionalProperties": False, "properties": {
        "action": {"enum": list(ACTIONS)}, "direction": {"enum": list(DIRECTIONS)}, "from": {"type": "string"},
        "to": {"type": "string"}, "proto": {"enum": list(PROTOS)}, "port": {"type": "integer"}}}},
    [{"action": "drop", "direction": "in", "from": "10.2.0.0/24", "proto": "tcp", "port": 80}])
POLICY = t.Type("{in, out, forward: accept | drop}", _policy, {"type": "object", "additionalProperties": False,
    "properties": {d: {"enum": ["accept", "drop"]} for d in DIRECTIONS}}, {"in": "drop", "forward": "drop"})


def _declares(p: dict) -> Declares:
    used = (("netns", p["netns"]),) if p["netns"] else ()
    if p["state"] != "present":
        return Declares(netns_used=used)
    return Declares(objects=(("firewall", p["netns"], "firewall"),), netns_used=used)


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        policy = " ".join(f"{d}:{v}" for d, v in p["policy"].items() if v != "accept") or "accept"
        topo.line(p["netns"], f"firewall {policy}, {len(p['rules'])} rule(s)")


class Firewall(Kind):
    name = "firewall"
    summary = "a packet filter per netns: rules in order and a default policy per direction"
    doc = ("The lab's filter in one netns (or the host's own): table `inet nsprov_LAB` with chains input, output "
           "and forward, each with its policy and the rules of its direction in the order given (the first that "
           "matches decides). The whole table is replaced in one nft transaction when it differs from the "
           "declaration (a rule added to it by hand is drift, and goes); no other table is ever touched. With "
           "`stateful` (the default), replies to allowed traffic, loopback and IPv6 neighbour discovery pass "
           "first. In the host's own namespace, a rule set that would drop a new SSH connection from the "
           "controller is refused.")
    absent = "Deletes the lab's filter table in that netns."
    example = ("firewall:\n  netns: red\n  policy: {in: drop}\n  rules:\n"
               "    - {action: accept, proto: tcp, port: 80, from: 10.2.0.0/24}\n    - {action: accept, proto: icmp}")
    params = {
        "netns": NETNS,
        "rules": Param(RULES, "{action: accept|drop|reject, direction: in|out|forward (in), from, to: networks, "
                              "proto: tcp|udp|icmp|icmpv6, port}, in order", default=[]),
        "policy": Param(POLICY, "what a packet no rule matches gets, per direction (accept unless set)",
                        default={d: "accept" for d in DIRECTIONS}),
        "stateful": Param(t.BOOL, "let replies (ct state established,related), loopback and IPv6 neighbour "
                                  "discovery through before the rules", default=True),
        "allow_management_overlap": RULE_OVERLAP,
        "state": STATE,
    }

    def label(self, p):
        return f"firewall {in_ns(p['netns']) or 'host'}".rstrip("/")

    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Firewall()
