"""A run converges: what the lab made on this host and the request no longer declares (after
templates, loops, `when` and --limit) is removed, each with its kind's own absent task, first
in the run; a record whose object is already gone is dropped and said so. The run also reports
what it will never touch: objects inside the lab's own namespaces that nsprov did not record
(a route added by hand, a foreign link, a rule in the lab's table), and links marked with the
lab's mark that no record names. `drift` reports the same, read-only.
"""

from __future__ import annotations

from nsprov.agent.ledger import object_key
from nsprov.agent.planning import Context
from nsprov.agent.resources import INTERNAL, RESOURCES, module_of
from nsprov.agent.state import Observed
from nsprov.model import protocol
from nsprov.model.kinds import validate_params


def prepare(phases: list) -> None:
    """Validate every task's parameters once, up front (the plans use them as they are)."""
    for ph in phases:
        for t in ph.get("tasks") or []:
            if not t.get("skip") and t["module"] not in INTERNAL and "checked" not in t:
                t["checked"] = validate_params(t["module"], t.get("params"))


def declared(phases: list, obs: Observed, ctx: Context) -> set:
    """The ledger keys the request's present tasks stand for."""
    keys = set()
    for ph in phases:
        for t in ph.get("tasks") or []:
            params, problems = t.get("checked") or ({}, ["skipped"])
            if problems or params.get("state", "present") != "present":
                continue
            keys |= {f"{k}:{ns}:{name}" for k, ns, name in RESOURCES[t["module"]].keys(params, obs, ctx)}
    return keys


def exists(entry: dict, obs: Observed) -> bool:
    resource = RESOURCES.get(module_of(entry))
    return resource is not None and resource.exists(entry, obs)


def undeclared(ledger, ctx: Context, keys: set) -> list:
    return [e for e in ledger.owned_by(ctx.lab) if object_key(e) not in keys]


def heal(ledger, obs: Observed, entries: list, write: bool) -> tuple:
    """(entries whose object is gone, the rest): the gone ones' records are dropped (unless
    only reporting), and an event says which."""
    gone = [e for e in entries if not exists(e, obs)]
    if gone and write:
        ledger.forget(gone)
    names = [f"{e['kind']} {e.get('netns') + '/' if e.get('netns') else ''}{e['name']}" for e in gone]
    event = protocol.event("healed", records=names, dropped=write) if gone else None
    return gone, [e for e in entries if e not in gone], event


def findings(obs: Observed, ctx: Context, deep: bool = False, quiet: frozenset = frozenset()) -> list:
    """What the lab's own namespaces hold that nsprov did not record, and marked links that no
    record names: reported, never touched. DEEP (drift) also looks at what else the lab's
    namespaces hold (nft tables, routes in other tables, policy rules) and at addresses someone
    added to the lab's links. QUIET: namespaces the lab's own commands shape (a topology's nodes
    with exec lines: the routes and addresses those add are declared there, in the lines)."""
    lab_netns = sorted({e["name"] for e in ctx.ledger.owned_by(ctx.lab) if e["kind"] == "netns"} |
                       {e["name"] for e in ctx.ledger.owned_by(ctx.lab)
                        if e["kind"] == "nsset" and "net" in (e.get("kinds") or [])})
    out = _deep_findings(obs, ctx, [ns for ns in lab_netns if ns not in quiet], quiet) if deep else []
    for ns in lab_netns:
        if not obs.exists(ns) or ns in quiet:
            continue
        n = obs.ns(ns)
        for name, link in sorted(n.links.items()):
            if name != "lo" and ctx.entry("link", ns, name) is None:
                out.append(_finding("link", ns, name, f"link {name} in netns {ns} was not made by nsprov"))
        for dst, r in sorted(n.routes.items()):
            if r.proto != "kernel" and ctx.entry("route", ns, dst) is None:
                via = f" via {r.via}" if r.via else ""
                out.append(_finding("route", ns, dst, f"route {dst}{via} in netns {ns} was not made by nsprov"))
    for ns in ["", *lab_netns]:
        if not obs.exists(ns):
            continue
        for name, link in sorted(obs.ns(ns).links.items()):
            if link.alias == ctx.mark and ctx.entry("link", ns, name) is None:
                out.append(_finding("mark", ns, name, f"link {name}{' in netns ' + ns if ns else ''} carries the "
                                                      f"lab's mark {ctx.mark} but no record: left alone"))
        if ctx.owns("fw_table", ns, ctx.table):
            for key in sorted(obs.rules(ns, ctx.table) or {}):
                if not ctx.owns("fw_rule", ns, key):
                    out.append(_finding("rule", ns, key, f"rule '{key}' in the lab's table {ctx.table} was not "
                                                         f"made by nsprov"))
    return out


def foreign_in(obs: Observed, ctx: Context, ns: str) -> list:
    """What netns NS (the lab's) holds that nsprov did not make, beside links: [(kind, name, what)]."""
    found = obs.survey(ns)
    out = [("nft_table", f"{family} {name}", f"nft table {family} {name}")
           for family, name in found["tables"] if (family, name) not in (("ip", ctx.table), ("ip6", ctx.table))
           and not (family == "inet" and name == ctx.table and ctx.owns("firewall", ns, name))]
    out += [("route", f"{dst} table {table}", f"route {dst} in table {table}") for table, dst in found["routes"]]
    out += [("policy_rule", rule, f"policy rule {rule}") for rule in found["rules"]]
    return out


def _deep_findings(obs: Observed, ctx: Context, lab_netns: list, quiet: frozenset = frozenset()) -> list:
    out = []
    obs.look_ahead(lab_netns)
    for ns in lab_netns:
        if obs.exists(ns):
            out += [_finding(kind, ns, name, f"{what} in netns {ns} was not made by nsprov")
                    for kind, name, what in foreign_in(obs, ctx, ns)]
    for e in ctx.ledger.owned_by(ctx.lab):
        ns = e.get("netns", "")
        mine = (ctx.latest(e["kind"], ns, e["name"]) or e).get("addresses")
        link = obs.link(ns, e["name"]) if e["kind"] == "link" and mine is not None and ns not in quiet else None
        for a in link.addresses if link is not None else ():
            if not a.startswith("fe80:") and a not in mine and not ctx.owns("address", ns, f"{e['name']}/{a}"):
                where = f" in netns {ns}" if ns else ""
                out.append(_finding("address", ns, f"{e['name']}/{a}", f"address {a} on {e['name']}{where} was not "
                                                                      f"made by nsprov"))
    return out


def _finding(kind: str, ns: str, name: str, what: str) -> dict:
    return protocol.event("drift", kind=kind, netns=ns, name=name, what=what)
