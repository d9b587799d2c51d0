"""firewall: the lab's filter table (inet nsprov_LAB) in one netns, compared chain by chain with
the declaration and replaced whole when it differs; a table of that name nsprov did not record
is never adopted. Each rule carries a comment made from its own text, so what the kernel holds
is compared with what is declared without parsing nft's rendering of it."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Optional

from nsprov.agent import ops
from nsprov.agent.planning import Context, PlanError, TaskPlan, require_ns
from nsprov.agent.resources._links import absent_where_gone
from nsprov.agent.state import Observed

MODULE = "firewall"
RECORDS = ("firewall",)
CHAINS = {"in": "input", "out": "output", "forward": "forward"}
_ND = "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert }"
_STATEFUL = {"input": ["ct state established,related accept", 'iifname "lo" accept', f"{_ND} accept"],
             "output": ["ct state established,related accept", 'oifname "lo" accept', f"{_ND} accept"],
             "forward": ["ct state established,related accept"]}


def rule_text(r: dict) -> str:
    """One declared rule in nft's syntax."""
    words = []
    for field, verb in (("from", "saddr"), ("to", "daddr")):
        if r[field]:
            words.append(f"{'ip6' if ':' in r[field] else 'ip'} {verb} {r[field]}")
    proto = r["proto"]
    if proto in ("tcp", "udp") and r["port"]:
        words.append(f"{proto} dport {r['port']}")
    elif proto:
        words.append(f"meta l4proto {'ipv6-icmp' if proto == 'icmpv6' else proto}")
    words.append("reject with tcp reset" if r["action"] == "reject" and proto == "tcp" else r["action"])
    return " ".join(words)


def _entry(text: str, i: int) -> dict:
    return {"text": text, "comment": f"nsprov {i} {hashlib.sha1(text.encode()).hexdigest()[:12]}"}


def wanted(p: dict) -> dict:
    """{chain: {policy, rules: [{text, comment}]}} the task declares."""
    out = {}
    for direction, chain in CHAINS.items():
        texts = list(_STATEFUL[chain]) if p["stateful"] else []
        texts += [rule_text(r) for r in p["rules"] if r["direction"] == direction]
        out[chain] = {"policy": p["policy"][direction], "rules": [_entry(x, i) for i, x in enumerate(texts)]}
    return out


def _summary(chains: dict) -> dict:
    return {c: (v["policy"], [r if isinstance(r, str) else r["comment"] for r in v["rules"]])
            for c, v in chains.items()}


def _differences(now: Optional[dict], want: dict) -> list:
    if now is None:
        return []
    have, need = _summary(now["chains"]), _summary(want)
    out = []
    for chain in sorted(set(have) | set(need)):
        if chain not in need:
            out.append(f"chain {chain} is not nsprov's")
            continue
        (p0, r0), (p1, r1) = have.get(chain, ("-", [])), need[chain]
        if p0 != p1:
            out.append(f"{chain} policy {p0}→{p1}")
        if r0 != r1:
            out.append(f"{chain} rules {len(r0)}→{len(r1)}" if len(r0) != len(r1) else f"{chain} rules changed")
    return out


def _matches(r: dict, src, dst, port: Optional[int]) -> bool:
    def inside(addr, net):
        return net is None or (addr is not None and addr.version == ipaddress.ip_network(net).version
                               and addr in ipaddress.ip_network(net))
    return (inside(src, r["from"]) and inside(dst, r["to"]) and r["proto"] in (None, "tcp")
            and (r["port"] is None or r["port"] == port))


def _verdict(p: dict, direction: str, src, dst, port: Optional[int]) -> str:
    hit = next((r for r in p["rules"] if r["direction"] == direction and _matches(r, src, dst, port)), None)
    return hit["action"] if hit else p["policy"][direction]


def guard_management(ctx: Context, p: dict) -> None:
    """Refuse, in the host's own namespace, rules that would drop a new SSH connection from the
    controller (or, without stateful, the host's replies to it): this run would end, and every
    later one find the host unreachable."""
    ssh = ctx.ssh
    if p["netns"] or ssh is None or p["allow_management_overlap"]:
        return
    controller = ipaddress.ip_address(ssh.controller)
    host = ipaddress.ip_address(ssh.host) if ssh.host else None
    said = _verdict(p, "in", controller, host, ssh.port)
    if said == "accept" and not p["stateful"]:
        said = _verdict(p, "out", host, controller, None)
    if said != "accept":
        raise PlanError(f"firewall in the host's own namespace would {said} a new connection from the controller "
                        f"({ssh.controller}) to tcp port {ssh.port} of {ssh.host}, where nsprov logs in: the host "
                        f"would be cut off. Refused; accept it with a rule, or set allow_management_overlap: true")


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, table = TaskPlan(), p["netns"], ctx.table
    done = absent_where_gone(tp, p, obs, ns, {"kind": "firewall", "netns": ns, "name": table})
    if done is not None:
        return done
    require_ns(obs, ns)
    now, ours = obs.read("firewall", ns, table), ctx.owns("firewall", ns, table)
    if now is not None and not ours:
        where = f" in netns '{ns}'" if ns else ""
        raise PlanError(f"firewall table inet {table}{where} exists and was not created by nsprov; not adopting it")
    tp.before = {"table": now is not None}
    if p["state"] == "present":
        guard_management(ctx, p)
        want = wanted(p)
        diff = _differences(now, want)
        if now is None:
            n = sum(len(c["rules"]) for c in want.values())
            tp.act(ops.SET_FIREWALL, ns, table, f"made table inet {table}: {n} rule(s), policy "
                   + ", ".join(f"{d} {v}" for d, v in p["policy"].items()), table={"chains": want})
        elif diff:
            tp.act(ops.SET_FIREWALL, ns, table, "; ".join(diff), table={"chains": want})
        else:
            tp.reasons.append("as declared")
        if not ours:
            tp.records.append(ctx.record("firewall", ns, table, MODULE))
        tp.after = {"table": True}
        return tp
    if now is not None and ours:
        tp.act(ops.DELETE_FIREWALL, ns, table, f"deleted table inet {table}")
    else:
        tp.reasons.append("absent")
    if ours:
        tp.forgets.append({"kind": "firewall", "netns": ns, "name": table})
    tp.after = {"table": False}
    return tp


def absent(record: dict) -> dict:
    return {"netns": record.get("netns", ""), "rules": [], "policy": {d: "accept" for d in CHAINS}, "stateful": True,
            "allow_management_overlap": False, "state": "absent"}


def exists(record: dict, obs: Observed) -> bool:
    ns = record.get("netns", "")
    return obs.exists(ns) and obs.read("firewall", ns, record["name"]) is not None


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("firewall", p["netns"], ctx.table)]
