"""What bridge and veth share: telling our link from someone else's, and bringing one we own to
what the task declares."""

from __future__ import annotations

from typing import Optional

from nsprov.agent import ops
from nsprov.agent.planning import Context, PlanError, TaskPlan, half_made
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


def reconcile_link(tp: TaskPlan, obs: Observed, ns: str, name: str, want: dict, mark: str) -> None:
    """Bring link NAME to WANT: {up, mtu, addresses, and master when it is checked}."""
    link = obs.link(ns, name)
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
    have = [a for a in link.addresses if not a.startswith("fe80:")]
    for a in want["addresses"]:
        if a not in have:
            tp.act(ops.ADD_ADDRESS, ns, name, f"{name}: +{a}", dev=name, address=a)
    for a in have:
        if a not in want["addresses"]:
            tp.act(ops.DELETE_ADDRESS, ns, name, f"{name}: -{a} (not declared)", dev=name, address=a)


def require_bridge(obs: Observed, ns: str, bridge: Optional[str]) -> None:
    if bridge:
        link = obs.link(ns, bridge)
        if link is None or link.kind != "bridge":
            where = f"netns '{ns}'" if ns else "the host's namespace"
            raise PlanError(f"bridge '{bridge}' does not exist in {where}")


def gone_with(obs: Observed, *namespaces: str) -> Optional[str]:
    """The first of NAMESPACES this plan deletes (its links go with it), if any."""
    return next((ns for ns in namespaces if ns and ns in obs.removed), None)


def gone_already(tp: TaskPlan, ns: str, record: dict) -> TaskPlan:
    """An absent task whose netns is gone: what was in it went with it; its record goes now."""
    tp.reasons.append(f"absent (netns '{ns}' is gone)")
    tp.forgets.append(record)
    return tp


def link_exists(record: dict, obs: Observed) -> bool:
    return obs.link(record.get("netns", ""), record["name"]) is not None
