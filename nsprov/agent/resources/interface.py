"""interface: plan the move of an existing interface into a netns and back, and give back a
recorded one. It is recorded as moved (`origin`: its name, MTU, state, alias and addresses
before), never as made: nothing here deletes a link."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Context, PlanError, TaskPlan, require_ns
from nsprov.agent.resources._links import after, gone_already, link_exists, reconcile_link
from nsprov.agent.state import Observed

MODULE = "interface"
RECORDS = ("link",)
GIVEN_BACK = True     # not nsprov's: given back before its netns goes (the kernel would destroy a virtual one)


def CLAIMS(record: dict) -> bool:
    return False       # every interface record names its module


def _inside(p: dict) -> str:
    return p["rename"] or p["name"]


def _ours(obs: Observed, ctx: Context, ns: str, name: str) -> bool:
    """True if NAME in NS is the interface this lab moved there; False if absent."""
    link = obs.link(ns, name)
    if link is None:
        return False
    e = ctx.entry("link", ns, name)
    if e is None or e.get("module") != MODULE or e.get("lab") != ctx.lab:
        raise ctx.not_ours(f"{link.kind} '{name}'", "link", ns, name)
    return True        # unmarked: a run was cut between the move and the mark; reconcile marks it


def _movable(p: dict, obs: Observed, ctx: Context):
    home = obs.link("", p["name"])
    if home is None:
        raise PlanError(f"interface '{p['name']}' does not exist in the host's namespace")
    if (home.alias or "").startswith("nsprov:"):
        raise PlanError(f"interface '{p['name']}' was made by nsprov ({home.alias}): its own task says its netns")
    if home.kind in ("loopback", "bridge"):
        raise PlanError(f"interface '{p['name']}' is a {home.kind}, which the kernel keeps in its namespace")
    if ctx.ssh is not None and ctx.ssh.interface(obs) == p["name"] and not p["allow_management_overlap"]:
        raise PlanError(f"interface '{p['name']}' holds {ctx.ssh.host}, where the controller ({ctx.ssh.controller}) "
                        f"logs in: moving it would cut nsprov off from this host. Refused; set "
                        f"allow_management_overlap: true on the task to do it anyway")
    return home


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    if p["state"] == "absent":
        return _absent(p, obs, ctx)
    tp, ns, inside = TaskPlan(), p["netns"], _inside(p)
    require_ns(obs, ns)
    if _ours(obs, ctx, ns, inside):
        tp.before = obs.link(ns, inside).summary()
        reconcile_link(tp, obs, ctx, ns, inside, {"up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"]})
        if not tp.actions:
            tp.reasons.append("moved, as declared")
    else:
        home = _movable(p, obs, ctx)
        if obs.link(ns, inside) is not None:
            raise PlanError(f"netns '{ns}' has a link named '{inside}' already")
        origin = {"name": p["name"], "netns": "", "mtu": home.mtu, "up": home.up, "alias": home.alias,
                  "addresses": [a for a in home.addresses if not a.startswith("fe80:")]}
        tp.act(ops.MOVE_LINK, "", p["name"], f"moved {p['name']} into netns '{ns}'" + (
            f" as {inside}" if inside != p["name"] else ""), to_netns=ns, new_name=inside,
            link={"mtu": p["mtu"], "up": p["up"], "alias": ctx.mark})
        tp.records.append(ctx.record("link", ns, inside, MODULE, moved=True, origin=origin, addresses=p["addresses"]))
        for a in p["addresses"]:
            tp.act(ops.ADD_ADDRESS, ns, inside, f"{inside}: +{a}", dev=inside, address=a)
    tp.after = after(tp.before, {"kind": (obs.link(ns, inside) or obs.link("", p["name"])).kind, "up": p["up"],
                                 "mtu": p["mtu"], "addresses": p["addresses"]})
    return tp


def _absent(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, inside = TaskPlan(), p["netns"], _inside(p)
    record = {"kind": "link", "netns": ns, "name": inside}
    if not obs.exists(ns):
        return gone_already(tp, ns, record)
    if not _ours(obs, ctx, ns, inside):
        tp.reasons.append("not moved")
        tp.forgets.append(record)
        return tp
    origin = ctx.entry("link", ns, inside)["origin"]
    tp.before = obs.link(ns, inside).summary()
    if obs.link(origin["netns"], origin["name"]) is not None:
        raise PlanError(f"cannot give back '{inside}' as '{origin['name']}': the host has a link of that name now")
    tp.act(ops.MOVE_LINK, ns, inside, f"moved back to the host's namespace as {origin['name']}",
           to_netns=origin["netns"], new_name=origin["name"],
           link={"mtu": origin["mtu"], "up": origin["up"], "alias": origin["alias"] or ""})
    for a in origin["addresses"]:
        tp.act(ops.ADD_ADDRESS, origin["netns"], origin["name"], f"{origin['name']}: +{a} (as it was)",
               dev=origin["name"], address=a)
    tp.forgets.append(record)
    return tp


def absent(record: dict) -> dict:
    origin = record.get("origin") or {}
    name = origin.get("name", record["name"])
    return {"name": name, "netns": record.get("netns", ""), "rename": record["name"] if record["name"] != name
            else None, "state": "absent"}


exists = link_exists


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("link", p["netns"], _inside(p))]
