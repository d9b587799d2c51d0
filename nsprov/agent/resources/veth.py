"""veth: plan a veth pair (each end in its netns), present or absent, and remove a recorded one."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Claim, Context, TaskPlan, guard_management, require_ns
from nsprov.agent.resources._lifetimes import links_going_with
from nsprov.agent.resources._links import (after, gone_with, link_exists, name_it, own_link, reconcile_link,
                                           require_bridge)
from nsprov.agent.state import Observed

MODULE = "veth"
RECORDS = ("link",)
DIES_WITH = (("link", "peer_netns", "peer"),)   # either end takes the other


def CLAIMS(record: dict) -> bool:
    return bool(record.get("peer"))


def _absent(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, name, pns, peer = TaskPlan(), p["netns"], p["name"], p["peer_netns"], p["peer"]
    went = gone_with(obs, ns, pns)
    if went:   # the netns task deleting it forgets both ends and waits for the one left outside
        return tp.goes_with(went)
    # an end whose netns is gone went with it; the other end (if the kernel still has it) goes now
    a_ok, b_ok = own_link(obs, ctx, ns, name, "veth"), own_link(obs, ctx, pns, peer, "veth")
    tp.before = {"end": obs.link(ns, name).summary() if a_ok else {},
                 "peer": obs.link(pns, peer).summary() if b_ok else {}}
    if a_ok or b_ok:   # deleting one end deletes the pair
        end = (ns, name) if a_ok else (pns, peer)
        tp.act(ops.DELETE_LINK, *end, f"deleted {name} and {peer}", takes=links_going_with(ctx, ("link", *end)))
    else:
        tp.reasons.append("absent")
    tp.forgets += [{"kind": "link", "netns": ns, "name": name}, {"kind": "link", "netns": pns, "name": peer}]
    return tp


def _create(tp: TaskPlan, p: dict, ctx: Context) -> None:
    ns, name, pns, peer = p["netns"], p["name"], p["peer_netns"], p["peer"]
    where = f"{pns}/" if pns else "host/"
    tp.act(ops.ADD_VETH, ns, name, f"created veth {name} <-> {where}{peer}", peer=peer, peer_netns=pns,
           link={"mtu": p["mtu"], "master": p["bridge"], "up": p["up"], "alias": ctx.mark})
    tp.records += [ctx.record("link", ns, name, MODULE, peer_netns=pns, peer=peer, addresses=p["addresses"]),
                   ctx.record("link", pns, peer, MODULE, peer_netns=ns, peer=name, end="peer",
                              addresses=p["peer_addresses"])]
    if p["peer_bridge"]:
        tp.act(ops.SET_LINK, pns, peer, f"{peer}: master {p['peer_bridge']}", master=p["peer_bridge"])
    name_it(tp, ns, name, p["altname"], p["mac"])
    name_it(tp, pns, peer, p["peer_altname"], p["peer_mac"])
    for dev, s, addrs in ((name, ns, p["addresses"]), (peer, pns, p["peer_addresses"])):
        for a in addrs:
            tp.act(ops.ADD_ADDRESS, s, dev, f"{dev}: +{a}", dev=dev, address=a)


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    if p["state"] == "absent":
        return _absent(p, obs, ctx)
    tp = TaskPlan()
    ns, name, pns, peer = p["netns"], p["name"], p["peer_netns"], p["peer"]
    require_ns(obs, ns)
    require_ns(obs, pns)
    a_ok, b_ok = own_link(obs, ctx, ns, name, "veth"), own_link(obs, ctx, pns, peer, "veth")
    tp.before = {"end": obs.link(ns, name).summary() if a_ok else {},
                 "peer": obs.link(pns, peer).summary() if b_ok else {}}
    require_bridge(obs, ns, p["bridge"])
    require_bridge(obs, pns, p["peer_bridge"])
    for dev, s, addrs in ((name, ns, p["addresses"]), (peer, pns, p["peer_addresses"])):
        for a in addrs:
            guard_management(ctx, obs, p, s, Claim(f"address {a} on veth '{dev}'", a, dev))
    if a_ok != b_ok:   # half a pair we made (its other end was deleted by hand): make it whole again
        end = (ns, name) if a_ok else (pns, peer)
        tp.act(ops.DELETE_LINK, *end, "recreating a broken pair", takes=links_going_with(ctx, ("link", *end)))
        a_ok = b_ok = False
    if not a_ok:
        _create(tp, p, ctx)
    else:
        for s, dev, master, addrs, alt, mac in (
                (ns, name, p["bridge"], p["addresses"], p["altname"], p["mac"]),
                (pns, peer, p["peer_bridge"], p["peer_addresses"], p["peer_altname"], p["peer_mac"])):
            reconcile_link(tp, obs, ctx, s, dev, {"up": p["up"], "mtu": p["mtu"], "master": master,
                                                  "addresses": addrs, "altname": alt, "mac": mac})
        if not tp.actions:
            tp.reasons.append("exists as declared")
    tp.after = {"end": after(tp.before["end"], {"kind": "veth", "up": p["up"], "mtu": p["mtu"], "master": p["bridge"],
                                                "addresses": p["addresses"]}),
                "peer": after(tp.before["peer"], {"kind": "veth", "up": p["up"], "mtu": p["mtu"],
                                                  "master": p["peer_bridge"], "addresses": p["peer_addresses"]})}
    return tp


def absent(record: dict) -> dict:
    """The pair's absent task, the same from either end's record (as the task declared it)."""
    ends = [(record.get("netns", ""), record["name"]), (record.get("peer_netns", ""), record.get("peer", ""))]
    if record.get("end") == "peer":
        ends.reverse()
    (ns, name), (pns, peer) = ends
    return {"name": name, "netns": ns, "peer": peer, "peer_netns": pns, "state": "absent"}


exists = link_exists


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("link", p["netns"], p["name"]), ("link", p["peer_netns"], p["peer"])]
