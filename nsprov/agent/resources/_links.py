"""What the link kinds share: telling our link from someone else's, bringing one we own to what
the task declares, and the whole plan of a link with no lower link and no peer (bridge, dummy)."""

from __future__ import annotations

from typing import Callable, Optional

from nsprov.agent import ops
from nsprov.agent.planning import Claim, Context, PlanError, TaskPlan, guard_management, half_made, require_ns
from nsprov.agent.resources._lifetimes import links_going_with
from nsprov.agent.state import Observed


def own_link(obs: Observed, ctx: Context, ns: str, name: str, kind: str) -> bool:
    """True if (ns, name) exists and is ours; False if absent; PlanError if someone else's."""
    link = obs.link(ns, name)
    if link is None:
        return False
    if not ctx.owns("link", ns, name):
        raise ctx.not_ours(f"{link.kind} '{name}'", "link", ns, name)
    if link.alias != ctx.mark and half_made(ctx, "link", ns, name, link.alias):
        return True   # reconciled: the mark is set again with the rest
    if link.alias != ctx.mark:
        where = f" in netns '{ns}'" if ns else ""
        raise PlanError(f"{link.kind} '{name}'{where} is in the ledger but not marked {ctx.mark} "
                        f"(replaced by someone else?); not adopting it")
    if link.kind != kind:
        raise PlanError(f"link '{name}' in netns '{ns}' is a {link.kind}, not a {kind}")
    return True


def reconcile_link(tp: TaskPlan, obs: Observed, ctx: Context, ns: str, name: str, want: dict) -> None:
    """Bring link NAME to WANT: {up, mtu, addresses, and master and altname when they are checked}."""
    link, mark = obs.link(ns, name), ctx.mark
    changes, why = {}, []
    if link.alias != mark:
        changes["alias"] = mark
        why.append(f"mark {mark} (was being made when a run was cut)")
    if link.up != want["up"]:
        changes["up"] = want["up"]
        why.append("up" if want["up"] else "down")
    if want["mtu"] and link.mtu != want["mtu"]:
        changes["mtu"] = want["mtu"]
        why.append(f"mtu {link.mtu}→{want['mtu']}")
    if "master" in want and link.master != want["master"]:
        changes["master"] = want["master"]
        why.append(f"master {link.master or '-'}→{want['master'] or '-'}")
    if changes:
        tp.act(ops.SET_LINK, ns, name, f"{name}: " + ", ".join(why), **changes)
    if want.get("mac") and (link.mac or "").lower() != want["mac"].lower():
        tp.act(ops.SET_MAC, ns, name, f"{name}: mac {link.mac or '-'}→{want['mac'].lower()}", mac=want["mac"].lower())
    if "altname" in want and sorted(link.altnames) != ([want["altname"]] if want["altname"] else []):
        tp.act(ops.SET_ALTNAMES, ns, name, f"{name}: altname {', '.join(link.altnames) or '-'}→{want['altname'] or '-'}",
               altnames=[want["altname"]] if want["altname"] else [])
    if "stp" in want and link.stp is not None and link.stp != want["stp"]:
        tp.act(ops.SET_BRIDGE, ns, name, f"{name}: stp {'on' if want['stp'] else 'off'}", stp=want["stp"])
    reconcile_addresses(tp, obs, ctx, ns, name, want["addresses"])


def name_it(tp: TaskPlan, ns: str, name: str, altname: Optional[str], mac: Optional[str] = None) -> None:
    """A link just made gets its hardware address and its alternative name, if they are declared."""
    if mac:
        tp.act(ops.SET_MAC, ns, name, f"{name}: mac {mac.lower()}", mac=mac.lower())
    if altname:
        tp.act(ops.SET_ALTNAMES, ns, name, f"{name}: altname {altname}", altnames=[altname])


def reconcile_addresses(tp: TaskPlan, obs: Observed, ctx: Context, ns: str, name: str, want: list) -> None:
    """The addresses of our link NAME: what WANT lacks is added; of the rest, only those nsprov
    put there (its record's `addresses`) are deleted: someone else's stay (drift names them).
    While a change is under way the record holds both old and new (a rollback may bring either
    back); a run with nothing left to change trims it to WANT."""
    record = ctx.entry("link", ns, name) or {}
    mine = record.get("addresses")        # None: a record from before nsprov kept them: all are ours
    have = [a for a in obs.link(ns, name).addresses if not a.startswith("fe80:")]
    acted = False
    for a in want:
        if a not in have:
            tp.act(ops.ADD_ADDRESS, ns, name, f"{name}: +{a}", dev=name, address=a)
            acted = True
    for a in have:
        if a in want or ctx.owns("address", ns, f"{name}/{a}") or (mine is not None and a not in mine):
            continue
        tp.act(ops.DELETE_ADDRESS, ns, name, f"{name}: -{a} (not declared)", dev=name, address=a)
        acted = True
    keep = sorted(set(want) | (set(mine if mine is not None else have) if acted else set()))
    if record and mine != keep and record.get("lab") == ctx.lab:
        tp.records.append({k: v for k, v in record.items() if k != "state"} | {"addresses": keep})


def after(before: dict, want: dict) -> dict:
    """What --diff shows after: the link as it was (BEFORE, a Link.summary, or {} for a new one)
    with every declared parameter in WANT over it (an mtu left unset stays what it was)."""
    return {**before, **{k: v for k, v in want.items() if v is not None or k not in ("mtu",)}}


def require_bridge(obs: Observed, ns: str, bridge: Optional[str]) -> None:
    if bridge:
        link = obs.link(ns, bridge)
        if link is None or link.kind != "bridge":
            where = f"netns '{ns}'" if ns else "the host's namespace"
            raise PlanError(f"bridge '{bridge}' does not exist in {where}")


def gone_with(obs: Observed, *namespaces: str) -> Optional[str]:
    """The first of NAMESPACES this plan deletes (its links go with it), if any."""
    return next((ns for ns in namespaces if ns and ns in obs.removed), None)


def delete_link(tp: TaskPlan, ctx: Context, ns: str, name: str, exists: bool) -> TaskPlan:
    """The absent end of a link task: our link NAME deleted, with what goes with it, if it is
    there; its record forgotten either way."""
    if exists:
        tp.act(ops.DELETE_LINK, ns, name, "deleted", takes=links_going_with(ctx, ("link", ns, name)))
    else:
        tp.reasons.append("absent")
    tp.forgets.append({"kind": "link", "netns": ns, "name": name})
    return tp


def gone_already(tp: TaskPlan, ns: str, record: dict) -> TaskPlan:
    """An absent task whose netns is gone: what was in it went with it; its record goes now."""
    tp.reasons.append(f"absent (netns '{ns}' is gone)")
    tp.forgets.append(record)
    return tp


def absent_where_gone(tp: TaskPlan, p: dict, obs: Observed, ns: str, record: dict) -> Optional[TaskPlan]:
    """The whole plan of an absent task whose netns NS this plan deletes (the object goes with
    it) or is gone already (only its RECORD goes); None for any other task."""
    if p["state"] != "absent":
        return None
    if gone_with(obs, ns):
        return tp.goes_with(ns)
    if not obs.exists(ns):
        return gone_already(tp, ns, record)
    return None


def link_exists(record: dict, obs: Observed) -> bool:
    return obs.link(record.get("netns", ""), record["name"]) is not None


def plan_lone(p: dict, obs: Observed, ctx: Context, kind: str, make: Callable[[TaskPlan], None],
              own: dict) -> TaskPlan:
    """A link of KIND with no lower link and no peer (a bridge, a dummy), present or absent. MAKE(tp)
    adds the action that makes it; OWN: the kind's own attributes, kept as declared (a bridge's stp)."""
    tp, ns, name = TaskPlan(), p["netns"], p["name"]
    done = absent_where_gone(tp, p, obs, ns, {"kind": "link", "netns": ns, "name": name})
    if done is not None:
        return done
    require_ns(obs, ns)
    exists = own_link(obs, ctx, ns, name, kind)
    tp.before = obs.link(ns, name).summary() if exists else {}
    if p["state"] == "absent":
        return delete_link(tp, ctx, ns, name, exists)
    for a in p["addresses"]:
        guard_management(ctx, obs, p, ns, Claim(f"address {a} on {kind} '{name}'", a, name))
    declared = {"up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"], **own}
    if not exists:
        make(tp)
        tp.records.append(ctx.record("link", ns, name, kind, addresses=p["addresses"]))
        name_it(tp, ns, name, p["altname"])
        for a in p["addresses"]:
            tp.act(ops.ADD_ADDRESS, ns, name, f"{name}: +{a}", dev=name, address=a)
    else:
        reconcile_link(tp, obs, ctx, ns, name, {**declared, "altname": p["altname"]})
        if not tp.actions:
            tp.reasons.append("exists as declared")
    tp.after = after(tp.before, {"kind": kind, **declared})
    return tp
