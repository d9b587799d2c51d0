"""plan(desired, observed) -> actions: pure. Every action and every no-op carries its reason.

A plan never adopts what nsprov did not create: a same-named object that is not in the ledger
for this owner (and, for links, not marked with its ifalias) is an error, not a change.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Optional

from nsprov.agent.state import NEW_NETNS_DEFAULT, Action, Observed


class PlanError(Exception):
    """The desired state cannot be reached without touching something nsprov does not own."""


@dataclass
class Context:
    owner: str
    ledger: object            # nsprov.agent.ledger.Ledger (read here, written by the engine)
    pending: list = field(default_factory=list)   # entries earlier tasks of this run will record
    _pending_index: dict = field(default_factory=dict)
    management: Optional[str] = None   # the controller's address as this host sees it (SSH_CONNECTION)

    @property
    def mark(self) -> str:
        return f"nsprov:{self.owner}"

    @property
    def table(self) -> str:
        return "nsprov_" + "".join(c if c.isalnum() else "_" for c in self.owner)[:40]

    def entry(self, kind: str, ns: str, name: str) -> Optional[dict]:
        found = self.ledger.find(kind, ns, name)
        return found if found is not None else self._pending_index.get((kind, ns, name))

    def add_pending(self, records: list) -> None:
        self.pending.extend(records)
        for e in records:
            self._pending_index[(e["kind"], e.get("netns", ""), e["name"])] = e

    def owns(self, kind: str, ns: str, name: str) -> bool:
        e = self.entry(kind, ns, name)
        return e is not None and e.get("owner") == self.owner

    def not_ours(self, what: str, kind: str, ns: str, name: str) -> PlanError:
        e = self.entry(kind, ns, name)
        where = f" in netns '{ns}'" if ns else ""
        if e is not None:
            return PlanError(f"{what}{where} belongs to playbook '{e.get('owner')}', not '{self.owner}'")
        return PlanError(f"{what}{where} exists and was not created by nsprov; not adopting it")


@dataclass
class TaskPlan:
    actions: list = field(default_factory=list)
    reasons: list = field(default_factory=list)     # why each action, or why nothing to do
    records: list = field(default_factory=list)     # ledger entries this task creates
    forgets: list = field(default_factory=list)     # ledger entries this task removes
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)

    def act(self, op: str, ns: str, name: str, reason: str, **args) -> None:
        self.actions.append(Action(op, ns, name, args, reason))
        self.reasons.append(reason)

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def _best_route(obs: Observed, target) -> Optional[tuple]:
    """(prefix length, dev, via) of the host namespace's route that carries TARGET now."""
    best = None
    for dst, r in obs.ns("").routes.items():
        net = ipaddress.ip_network("0.0.0.0/0" if dst == "default" else dst)
        if net.version == target.version and target in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, r.dev, r.via)
    return best


def guard_management(ctx: Context, obs: Observed, p: dict, ns: str, what: str, net: str,
                     dev: Optional[str], via: Optional[str] = None) -> None:
    """Refuse an address or route in the host's own namespace that would take the route to the
    controller (the SSH connection nsprov runs over) away from where it goes now: a /25 inside
    the management /24 on a new veth, say. The host would become unreachable mid-run, and for
    every run after. A task opts out with allow_management_overlap: true."""
    if ns or not ctx.management or p.get("allow_management_overlap"):
        return
    controller = ipaddress.ip_address(ctx.management)
    network = ipaddress.ip_network(net, strict=False)
    if network.version != controller.version or controller not in network:
        return
    now = _best_route(obs, controller)
    if now is not None and (network.prefixlen < now[0] or (dev == now[1] and (via is None or via == now[2]))):
        return
    through = f" (it goes through {now[1]} now)" if now and now[1] else ""
    raise PlanError(f"{what} would take the route to {controller}, the controller's end of this SSH connection, "
                    f"away from where it goes{through}: nsprov would cut itself off from this host. Refused; set "
                    f"allow_management_overlap: true on the task to do it anyway")


def _require_ns(obs: Observed, ns: str) -> None:
    if not obs.exists(ns):
        raise PlanError(f"netns '{ns}' does not exist (declare it with a netns task before this one)")


# ------------------------------------------------------------------ netns
def plan_netns(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, name = TaskPlan(), p["name"]
    exists = name in obs.netns
    tp.before = {"exists": exists}
    empty_pin = name in obs.placeholders     # an empty /run/netns file: a namespace someone was making
    if empty_pin and not half_made(ctx, "netns", "", name, None):
        raise PlanError(f"/run/netns/{name} is an empty file, not a namespace, and nsprov was not making it "
                        f"(a killed `ip netns add`?); remove it with `ip netns del {name}`")
    if p["state"] == "present":
        if exists:
            if not ctx.owns("netns", "", name):
                raise ctx.not_ours(f"netns '{name}'", "netns", "", name)
            lo = obs.ns(name).links.get("lo")
            if lo is not None and not lo.up:      # a run killed between making it and bringing lo up
                tp.act("link.set", name, "lo", "exists; lo: down→up", up=True)
            else:
                tp.reasons.append("exists")
        else:
            how = ", replacing the empty pin a killed run left" if empty_pin else ""
            tp.act("netns.create", "", name, "created (lo up)" + how, replace_placeholder=empty_pin)
            tp.records.append({"kind": "netns", "netns": "", "name": name, "owner": ctx.owner})
    elif exists:
        if not ctx.owns("netns", "", name):
            raise ctx.not_ours(f"netns '{name}'", "netns", "", name)
        foreign = [n for n, link in obs.ns(name).links.items()
                   if n != "lo" and not ctx.owns("link", name, n)]
        if foreign:
            raise PlanError(f"netns '{name}' holds links nsprov did not create ({', '.join(sorted(foreign))}); "
                            f"not deleting it")
        for n in sorted(obs.ns(name).links):
            if n != "lo":
                tp.act("link.delete", name, n, f"deleted link {n} first")
                tp.forgets.append({"kind": "link", "netns": name, "name": n})
        tp.act("netns.delete", "", name, "deleted")
        tp.forgets.append({"kind": "netns", "netns": "", "name": name})
    elif empty_pin:
        tp.act("netns.delete", "", name, "removed the empty pin a killed run left")
        tp.forgets.append({"kind": "netns", "netns": "", "name": name})
    else:
        tp.reasons.append("absent")
    tp.after = {"exists": p["state"] == "present"}
    return tp


# ------------------------------------------------------------------ links
def half_made(ctx: Context, kind: str, ns: str, name: str, alias: Optional[str]) -> bool:
    """An object nsprov was making when it was killed: its intent is in the ledger, and (for a
    link) no mark yet."""
    e = ctx.entry(kind, ns, name)
    return e is not None and e.get("owner") == ctx.owner and e.get("state") == "intent" and not alias


def _own_link(obs: Observed, ctx: Context, ns: str, name: str, kind: str) -> bool:
    """True if (ns, name) exists and is ours; False if absent; PlanError if someone else's."""
    link = obs.link(ns, name)
    if link is None:
        return False
    if not ctx.owns("link", ns, name):
        raise ctx.not_ours(f"{link.kind} '{name}'", "link", ns, name)
    if link.alias != ctx.mark and half_made(ctx, "link", ns, name, link.alias):
        return True   # reconciled below: the mark is set again with the rest
    if link.alias != ctx.mark:
        where = f" in netns '{ns}'" if ns else ""
        raise PlanError(f"{link.kind} '{name}'{where} is in the ledger but not marked {ctx.mark} "
                        f"(replaced by someone else?); not adopting it")
    if link.kind != kind:
        raise PlanError(f"link '{name}' in netns '{ns}' is a {link.kind}, not a {kind}")
    return True


def _reconcile_link(tp: TaskPlan, obs: Observed, ns: str, name: str, up: bool, mtu: Optional[int],
                    master: Optional[str], addresses: list, check_master: bool, mark: str) -> None:
    link = obs.link(ns, name)
    changes, why = {}, []
    if link.alias != mark:
        changes["alias"] = mark
        why.append(f"mark {mark} (was being made when a run was cut)")
    if link.up != up:
        changes["up"] = up
        why.append("up" if up else "down")
    if mtu and link.mtu != mtu:
        changes["mtu"] = mtu
        why.append(f"mtu {link.mtu}→{mtu}")
    if check_master and link.master != master:
        changes["master"] = master
        why.append(f"master {link.master or '-'}→{master or '-'}")
    if changes:
        tp.act("link.set", ns, name, f"{name}: " + ", ".join(why), **changes)
    have = [a for a in link.addresses if not a.startswith("fe80:")]
    for a in addresses:
        if a not in have:
            tp.act("addr.add", ns, name, f"{name}: +{a}", dev=name, address=a)
    for a in have:
        if a not in addresses:
            tp.act("addr.delete", ns, name, f"{name}: -{a} (not declared)", dev=name, address=a)


def _require_bridge(obs: Observed, ns: str, bridge: Optional[str]) -> None:
    if bridge:
        link = obs.link(ns, bridge)
        if link is None or link.kind != "bridge":
            where = f"netns '{ns}'" if ns else "the host's namespace"
            raise PlanError(f"bridge '{bridge}' does not exist in {where}")


def plan_bridge(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, name = TaskPlan(), p["netns"], p["name"]
    _require_ns(obs, ns)
    exists = _own_link(obs, ctx, ns, name, "bridge")
    tp.before = obs.link(ns, name).summary() if exists else {}
    if p["state"] == "absent":
        if exists:
            tp.act("link.delete", ns, name, "deleted")
            tp.forgets.append({"kind": "link", "netns": ns, "name": name})
        else:
            tp.reasons.append("absent")
        return tp
    for a in p["addresses"]:
        guard_management(ctx, obs, p, ns, f"address {a} on bridge '{name}'", a, name)
    if not exists:
        tp.act("link.add_bridge", ns, name, f"created bridge {name}", mtu=p["mtu"], stp=p["stp"], up=p["up"],
               alias=ctx.mark)
        tp.records.append({"kind": "link", "netns": ns, "name": name, "owner": ctx.owner})
        for a in p["addresses"]:
            tp.act("addr.add", ns, name, f"{name}: +{a}", dev=name, address=a)
    else:
        _reconcile_link(tp, obs, ns, name, p["up"], p["mtu"], None, p["addresses"], check_master=False,
                        mark=ctx.mark)
        if not tp.actions:
            tp.reasons.append("exists as declared")
    tp.after = {"kind": "bridge", "up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"]}
    return tp


def plan_veth(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp = TaskPlan()
    ns, name, pns, peer = p["netns"], p["name"], p["peer_netns"], p["peer"]
    _require_ns(obs, ns)
    _require_ns(obs, pns)
    a_ok = _own_link(obs, ctx, ns, name, "veth")
    b_ok = _own_link(obs, ctx, pns, peer, "veth")
    tp.before = {"end": obs.link(ns, name).summary() if a_ok else {},
                 "peer": obs.link(pns, peer).summary() if b_ok else {}}
    if p["state"] == "absent":
        for ok, n, s in ((a_ok, name, ns), (b_ok, peer, pns)):
            if ok:
                tp.act("link.delete", s, n, f"deleted {n}")
            tp.forgets.append({"kind": "link", "netns": s, "name": n})
        if not tp.actions:
            tp.reasons.append("absent")
            tp.forgets.clear()
        return tp
    _require_bridge(obs, ns, p["bridge"])
    _require_bridge(obs, pns, p["peer_bridge"])
    for dev, s, addrs in ((name, ns, p["addresses"]), (peer, pns, p["peer_addresses"])):
        for a in addrs:
            guard_management(ctx, obs, p, s, f"address {a} on veth '{dev}'", a, dev)
    if a_ok != b_ok:   # half a pair we made (its other end was deleted by hand): make it whole again
        tp.act("link.delete", ns if a_ok else pns, name if a_ok else peer, "recreating a broken pair")
        a_ok = b_ok = False
    if not a_ok:
        where = f"{pns}/" if pns else "host/"
        tp.act("link.add_veth", ns, name, f"created veth {name} <-> {where}{peer}", peer=peer, peer_netns=pns,
               mtu=p["mtu"], master=p["bridge"], up=p["up"], alias=ctx.mark)
        tp.records += [{"kind": "link", "netns": ns, "name": name, "owner": ctx.owner, "peer_netns": pns,
                        "peer": peer},
                       {"kind": "link", "netns": pns, "name": peer, "owner": ctx.owner, "peer_netns": ns,
                        "peer": name}]
        if p["peer_bridge"]:
            tp.act("link.set", pns, peer, f"{peer}: master {p['peer_bridge']}", master=p["peer_bridge"])
        for dev, s, addrs in ((name, ns, p["addresses"]), (peer, pns, p["peer_addresses"])):
            for a in addrs:
                tp.act("addr.add", s, dev, f"{dev}: +{a}", dev=dev, address=a)
    else:
        _reconcile_link(tp, obs, ns, name, p["up"], p["mtu"], p["bridge"], p["addresses"], check_master=True,
                        mark=ctx.mark)
        _reconcile_link(tp, obs, pns, peer, p["up"], p["mtu"], p["peer_bridge"], p["peer_addresses"],
                        check_master=True, mark=ctx.mark)
        if not tp.actions:
            tp.reasons.append("exists as declared")
    tp.after = {"end": {"up": p["up"], "master": p["bridge"], "addresses": p["addresses"]},
                "peer": {"up": p["up"], "master": p["peer_bridge"], "addresses": p["peer_addresses"]}}
    return tp


# ------------------------------------------------------------------ addresses and routes
def plan_address(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, dev, addr = TaskPlan(), p["netns"], p["interface"], p["address"]
    _require_ns(obs, ns)
    link = obs.link(ns, dev)
    if link is None:
        raise PlanError(f"interface '{dev}' does not exist" + (f" in netns '{ns}'" if ns else ""))
    key = f"{dev}/{addr}"
    present = addr in link.addresses
    tp.before = {"addresses": list(link.addresses)}
    if present and not (ctx.owns("address", ns, key) or ctx.owns("link", ns, dev)):
        raise ctx.not_ours(f"address {addr} on '{dev}'", "address", ns, key)
    if p["state"] == "present":
        if present:
            tp.reasons.append("present")
        else:
            guard_management(ctx, obs, p, ns, f"address {addr} on '{dev}'", addr, dev)
            tp.act("addr.add", ns, dev, f"{dev}: +{addr}", dev=dev, address=addr)
            if not ctx.owns("link", ns, dev):
                tp.records.append({"kind": "address", "netns": ns, "name": key, "owner": ctx.owner,
                                   "dev": dev, "address": addr})
    elif present:
        tp.act("addr.delete", ns, dev, f"{dev}: -{addr}", dev=dev, address=addr)
        tp.forgets.append({"kind": "address", "netns": ns, "name": key})
    else:
        tp.reasons.append("absent")
    return tp


def plan_route(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, dst = TaskPlan(), p["netns"], p["to"]
    _require_ns(obs, ns)
    if p["dev"] and obs.link(ns, p["dev"]) is None:
        raise PlanError(f"interface '{p['dev']}' does not exist" + (f" in netns '{ns}'" if ns else ""))
    cur = obs.ns(ns).routes.get(dst)
    tp.before = cur.summary() if cur else {}
    if cur is not None and not ctx.owns("route", ns, dst):
        raise ctx.not_ours(f"route to {dst} ({cur.proto}, via {cur.via or '-'} dev {cur.dev or '-'})",
                           "route", ns, dst)
    want = {"via": p["via"], "dev": p["dev"], "metric": p["metric"]}
    if p["state"] == "absent":
        if cur is not None:
            tp.act("route.delete", ns, dst, "deleted", via=cur.via, dev=cur.dev, metric=cur.metric)
            tp.forgets.append({"kind": "route", "netns": ns, "name": dst})
        else:
            tp.reasons.append("absent")
        return tp
    if cur is None or any(want[k] is not None and want[k] != getattr(cur, k) for k in ("via", "dev")):
        guard_management(ctx, obs, p, ns, f"route to {dst}", "0.0.0.0/0" if dst == "default" else dst,
                         p["dev"] or _dev_towards(obs, ns, p["via"]), p["via"])
    if cur is None:
        tp.act("route.add", ns, dst, f"added via {p['via'] or '-'} dev {p['dev'] or '-'}", **want)
        tp.records.append({"kind": "route", "netns": ns, "name": dst, "owner": ctx.owner, **want})
    else:
        diff = [k for k in ("via", "dev", "metric") if want[k] is not None and want[k] != getattr(cur, k)]
        if diff:
            tp.act("route.replace", ns, dst, ", ".join(f"{k} {getattr(cur, k)}→{want[k]}" for k in diff), **want)
        else:
            tp.reasons.append("present")
    tp.after = {"to": dst, **want}
    return tp


def _dev_towards(obs: Observed, ns: str, via: Optional[str]) -> Optional[str]:
    """The link a gateway is reached through (a route with via and no dev leaves by it)."""
    if not via:
        return None
    gw = ipaddress.ip_address(via)
    for name, link in obs.ns(ns).links.items():
        if any(gw in ipaddress.ip_interface(a).network for a in link.addresses):
            return name
    return None


# ------------------------------------------------------------------ sysctl
def plan_sysctl(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, key = TaskPlan(), p["netns"], p["name"]
    _require_ns(obs, ns)
    cur = obs.sysctl(ns, key)
    if cur is None:
        raise PlanError(f"no sysctl {key}" + (f" in netns '{ns}'" if ns else ""))
    if cur == NEW_NETNS_DEFAULT:   # made by this run: set it; destroy removes the netns with it
        if p["state"] == "present":
            tp.act("sysctl.set", ns, key, f"set to {p['value']} in the new netns", value=p["value"])
            tp.after = {key: p["value"]}
        else:
            tp.reasons.append("not changed by nsprov")
        return tp
    entry = ctx.entry("sysctl", ns, key)
    tp.before = {key: cur}
    if p["state"] == "present":
        if cur == p["value"]:
            tp.reasons.append(f"already {cur}")
        else:
            tp.act("sysctl.set", ns, key, f"{cur}→{p['value']}", value=p["value"])
            if entry is None:
                tp.records.append({"kind": "sysctl", "netns": ns, "name": key, "owner": ctx.owner,
                                   "previous": cur})
        tp.after = {key: p["value"]}
    elif entry is not None and entry.get("owner") == ctx.owner:
        if cur != entry["previous"]:
            tp.act("sysctl.set", ns, key, f"restored {cur}→{entry['previous']}", value=entry["previous"])
        else:
            tp.reasons.append(f"already back at {cur}")
        tp.forgets.append({"kind": "sysctl", "netns": ns, "name": key})
        tp.after = {key: entry["previous"]}
    else:
        tp.reasons.append("not changed by nsprov")
    return tp


# ------------------------------------------------------------------ NAT and port forwards
def _fw_task(tp: TaskPlan, obs: Observed, ctx: Context, ns: str, rules: dict, state: str) -> TaskPlan:
    _require_ns(obs, ns)
    current = obs.rules(ns, ctx.table)
    have = set(current or {})
    tp.before = {"rules": sorted(k for k in rules if k in have)}
    if state == "present":
        missing = {k: r for k, r in rules.items() if k not in have}
        if missing:
            tp.act("fw.add_rules", ns, ctx.table, "added " + "; ".join(missing), table=ctx.table, rules=missing)
            if current is None:
                tp.records.append({"kind": "fw_table", "netns": ns, "name": ctx.table, "owner": ctx.owner})
            tp.records += [{"kind": "fw_rule", "netns": ns, "name": k, "owner": ctx.owner, "table": ctx.table}
                           for k in missing]
        else:
            tp.reasons.append("rules present")
        tp.after = {"rules": sorted(rules)}
    else:
        present = [k for k in rules if k in have]
        if present:
            tp.act("fw.delete_rules", ns, ctx.table, "deleted " + "; ".join(present), table=ctx.table,
                   rules={k: rules[k] for k in present})
            tp.forgets += [{"kind": "fw_rule", "netns": ns, "name": k} for k in present]
        else:
            tp.reasons.append("absent")
        tp.after = {"rules": []}
    return tp


def plan_nat(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    key = f"masquerade {p['source']} oif {p['out_interface']}"
    rule = {"type": "masquerade", "source": p["source"], "oif": p["out_interface"]}
    return _fw_task(TaskPlan(), obs, ctx, p["netns"], {key: rule}, p["state"])


def plan_port_forward(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    ns, proto, port = p["netns"], p["protocol"], p["port"]
    to_ip, to_port = p["to"].split(":")
    base = f"{proto}/{port}->{p['to']}"
    dnat = {"type": "dnat", "proto": proto, "dport": port, "to": p["to"]}
    rules = {f"dnat {base}" + (f" iif {p['in_interface']}" if p["in_interface"] else ""):
             {**dnat, "hook": "prerouting", "iif": p["in_interface"]},
             f"dnat-local {base}": {**dnat, "hook": "output"}}
    # hairpin: a client on the server's own subnet reaching the forwarded port would get replies
    # straight from the server; masquerade those so the replies come back through this host.
    if obs.exists(ns):
        target = ipaddress.ip_address(to_ip)
        for link in obs.ns(ns).links.values():
            for a in link.addresses:
                iface = ipaddress.ip_interface(a)
                if iface.version == 4 and target in iface.network:
                    rules[f"hairpin {base}"] = {"type": "hairpin", "source": str(iface.network), "daddr": to_ip,
                                                "proto": proto, "dport": int(to_port)}
    return _fw_task(TaskPlan(), obs, ctx, ns, rules, p["state"])


PLANNERS = {
    "netns": plan_netns, "bridge": plan_bridge, "veth": plan_veth, "address": plan_address,
    "route": plan_route, "sysctl": plan_sysctl, "nat": plan_nat, "port_forward": plan_port_forward,
}


def inverse(a: Action, obs: Observed) -> list:
    """How to undo `a`, computed from the state before it (`obs`). Deletions cannot be undone."""
    op, args = a.op, a.args
    if op == "netns.create":
        return [Action("netns.delete", "", a.name, {}, "undo")]
    if op in ("link.add_bridge", "link.add_veth"):
        return [Action("link.delete", a.ns, a.name, {}, "undo")]
    if op == "link.set":
        link = obs.link(a.ns, a.name)
        old = {k: getattr(link, k) for k in args}
        return [Action("link.set", a.ns, a.name, old, "undo")]
    if op == "addr.add":
        return [Action("addr.delete", a.ns, a.name, dict(args), "undo")]
    if op == "addr.delete":
        return [Action("addr.add", a.ns, a.name, dict(args), "undo")]
    if op == "route.add":
        return [Action("route.delete", a.ns, a.name, dict(args), "undo")]
    if op in ("route.replace", "route.delete"):
        cur = obs.ns(a.ns).routes.get(a.name)
        back = {"via": cur.via, "dev": cur.dev, "metric": cur.metric} if cur else {}
        return [Action("route.replace" if op == "route.replace" else "route.add", a.ns, a.name, back, "undo")]
    if op == "sysctl.set":
        old = obs.sysctl(a.ns, a.name)
        return [] if old == NEW_NETNS_DEFAULT else [Action("sysctl.set", a.ns, a.name, {"value": old}, "undo")]
    if op == "fw.add_rules":
        undo = [Action("fw.delete_rules", a.ns, a.name, {"table": args["table"], "rules": args["rules"]}, "undo")]
        if obs.rules(a.ns, args["table"]) is None:
            undo.append(Action("fw.delete_table", a.ns, a.name, {"table": args["table"]}, "undo"))
        return undo
    if op == "fw.delete_rules":
        return [Action("fw.add_rules", a.ns, a.name, dict(args), "undo")]
    if op == "nsset.create":
        return [Action("nsset.delete", "", a.name, {}, "undo")]
    if op == "nsset.set_hostname":
        cur = obs.nsset(a.name) or {}
        return [Action("nsset.set_hostname", "", a.name, {"hostname": cur.get("hostname"),
                                                           "domainname": cur.get("domainname"),
                                                           "kinds": args["kinds"]}, "undo")]
    if op == "process.start":
        return [Action("process.stop", "", a.name, {}, "undo")]
    return []
