"""netns: plan a named network namespace, present or absent, and remove a recorded one.

Deleting a netns deletes what is inside it in one batch (the kernel frees its devices later, on
its own); nsprov deletes links one by one only where nothing else takes them. So an absent netns
also forgets every record of this lab that goes with it (what is inside, and what dies with
that, as each kind declares: a veth end elsewhere whose peer is inside): the engine waits for
the links outside to go (TaskPlan.awaits)."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.kernel.enter import etc_path
from nsprov.agent.planning import Context, PlanError, TaskPlan, half_made
from nsprov.agent.resources._lifetimes import inside
from nsprov.agent.state import NEW_NETNS_DEFAULT, Observed

MODULE = "netns"
RECORDS = ("netns",)
CONTAINER = True      # other objects go with it: a destroy plans its removal first


def contents(ctx: Context, obs: Observed, name: str) -> tuple:
    """(records of this lab that go with netns NAME, host-side links that go with it later)."""
    forgets, awaits = [], []
    for e in inside(ctx, name):
        forgets.append(e)
        if e.get("netns") != name and obs.link(e.get("netns", ""), e["name"]) is not None:
            awaits.append((e.get("netns", ""), e["name"], name))
    return forgets, awaits


def name_files(p: dict, mark: str) -> dict:
    """{path: the text nsprov wants there, or None}: /etc/netns/NAME/hosts and resolv.conf."""
    head = f"# {mark}: written by nsprov for netns {p['name']} (`ip netns exec` puts it over /etc)\n"
    hosts = resolv = None
    if p.get("hosts"):
        hosts = head + "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + "".join(
            f"{a}\t{name}\n" for name, addresses in p["hosts"].items() for a in addresses)
    r = p.get("resolv") or {}
    if any(r.values()):
        resolv = head + "".join(f"nameserver {a}\n" for a in r["nameservers"]) + (
            f"search {' '.join(r['search'])}\n" if r["search"] else "") + (
            f"options {' '.join(r['options'])}\n" if r["options"] else "")
    return {etc_path(p["name"], "hosts"): hosts, etc_path(p["name"], "resolv.conf"): resolv}


def plan_files(tp: TaskPlan, p: dict, obs: Observed, ctx: Context) -> None:
    """Write what NAME_FILES wants, remove what nsprov wrote and no longer wants; a file nsprov
    did not write (no mark on its first line) is never overwritten or removed."""
    for path, want in name_files(p, ctx.mark).items():
        have = obs.file(path)
        ours = have is not None and have.startswith(f"# {ctx.mark}:")
        if want is not None and have != want:
            if have is not None and not ours:
                raise PlanError(f"{path} exists and was not written by nsprov; not overwriting it")
            tp.act(ops.WRITE_FILE, "", path, f"{path} written", content=want)
        elif want is None and ours:
            tp.act(ops.REMOVE_FILE, "", path, f"{path} removed")


FORWARDING = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")


def plan_forwarding(tp: TaskPlan, p: dict, obs: Observed) -> None:
    """IPv4 and IPv6 forwarding in the netns as `forwarding` says (unset: left as they are; a
    new netns starts with both off)."""
    if p.get("forwarding") is None:
        return
    want = "1" if p["forwarding"] else "0"
    for key in FORWARDING:
        have = obs.sysctl(p["name"], key)
        if have != want and (have != NEW_NETNS_DEFAULT or want == "1"):
            tp.act(ops.SET_SYSCTL, p["name"], key, f"{key} {'on' if p['forwarding'] else 'off'}", value=want)


def give_back(tp: TaskPlan, ctx: Context, obs: Observed, name: str) -> None:
    """Plan, before the netns goes, the return of what this lab moved into it but did not make
    (a resource's GIVEN_BACK: the kernel would destroy a virtual device with the netns, and
    send a physical one home under whatever name is free)."""
    from nsprov.agent.resources import RESOURCES, module_of
    for e in inside(ctx, name):
        resource = RESOURCES.get(module_of(e))
        if getattr(resource, "GIVEN_BACK", False) and e.get("netns") == name and obs.link(name, e["name"]):
            back = resource.plan(resource.absent(e), obs, ctx)
            tp.actions += back.actions
            tp.reasons += back.reasons


def foreign_links(ctx: Context, obs: Observed, name: str) -> list:
    return sorted(n for n in obs.ns(name).links if n != "lo" and not ctx.owns("link", name, n))


def taken_down(ctx: Context, obs: Observed, name: str) -> list:
    """What netns NAME holds that nsprov did not make and that goes with it: nft tables (the
    lab's own table's foreign rules among them), routes, policy rules."""
    from nsprov.agent.converge import foreign_in
    out = [what for _, _, what in foreign_in(obs, ctx, name)]
    out += [f"route {dst}" for dst, r in sorted(obs.ns(name).routes.items())
            if r.proto != "kernel" and ctx.entry("route", name, dst) is None]
    if ctx.owns("fw_table", name, ctx.table):
        out += [f"rule '{k}' in table {ctx.table}" for k in sorted(obs.rules(name, ctx.table) or {})
                if not ctx.owns("fw_rule", name, k)]
    return out


def borrowed(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    """Another lab's netns (a topology's node), used as it is: there, and made by that lab."""
    tp, name = TaskPlan(), p["name"]
    made = ctx.ledger.find("netns", "", name)
    owner = (made or {}).get("lab")
    if name not in obs.netns or made is None or (owner != p["lab"] and p["lab"] not in made.get("labs", ())):
        raise PlanError(f"netns '{name}' is not lab {p['lab']}'s here: " + (
            "there is no such netns" if name not in obs.netns else "nsprov did not make it" if made is None else
            f"it is lab {owner}'s") + f" (deploy lab {p['lab']} first)")
    tp.before = tp.after = {"exists": True}
    tp.reasons.append(f"lab {p['lab']}'s, used as it is")
    return tp


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    if p.get("lab"):
        return borrowed(p, obs, ctx)
    tp, name = TaskPlan(), p["name"]
    exists = name in obs.netns
    tp.before = {"exists": exists}
    empty_pin = name in obs.placeholders     # an empty /run/netns file: a namespace someone was making
    if empty_pin and not half_made(ctx, "netns", "", name, None):
        raise PlanError(f"/run/netns/{name} is an empty file, not a namespace, and nsprov was not making it "
                        f"(a killed `ip netns add`?); remove it with `ip netns del {name}`")
    if exists and not ctx.owns("netns", "", name):
        raise ctx.not_ours(f"netns '{name}'", "netns", "", name)
    tp.after = {"exists": p["state"] == "present"}
    if p["state"] == "present":
        if not exists:
            how = ", replacing the empty pin a killed run left" if empty_pin else ""
            tp.act(ops.CREATE_NETNS, "", name, "created (lo up)" + how, replace_placeholder=empty_pin)
            tp.records.append(ctx.record("netns", "", name, MODULE))
            plan_files(tp, p, obs, ctx)
            plan_forwarding(tp, p, obs)
            return tp
        lo = obs.ns(name).links.get("lo")
        if lo is not None and not lo.up:      # a run killed between making it and bringing lo up
            tp.act(ops.SET_LINK, name, "lo", "exists; lo: down→up", up=True)
        plan_files(tp, p, obs, ctx)
        plan_forwarding(tp, p, obs)
        if not tp.actions:
            tp.reasons.append("exists")
        return tp
    if exists:
        foreign = foreign_links(ctx, obs, name)
        if foreign:
            raise PlanError(f"netns '{name}' holds links nsprov did not create ({', '.join(foreign)}); "
                            f"not deleting it")
        give_back(tp, ctx, obs, name)
        tp.forgets, tp.awaits = contents(ctx, obs, name)
        others = taken_down(ctx, obs, name)
        tp.act(ops.DELETE_NETNS, "", name, "deleted" + (f" with the {len(tp.forgets)} object(s) inside"
                                                        if tp.forgets else "") +
               (f"; it took down what nsprov did not make: {', '.join(others)}" if others else ""),
               takes=tuple((ns, link) for ns, link, _ in tp.awaits))
    elif empty_pin:
        tp.act(ops.DELETE_NETNS, "", name, "removed the empty pin a killed run left")
    else:
        tp.reasons.append("absent")
    plan_files(tp, {"name": name}, obs, ctx)       # what nsprov wrote for it goes too
    tp.forgets.append({"kind": "netns", "netns": "", "name": name})
    return tp


def absent(record: dict) -> dict:
    return {"name": record["name"], "state": "absent"}


def exists(record: dict, obs: Observed) -> bool:
    return record["name"] in obs.netns or record["name"] in obs.placeholders


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    """The ledger entries a present task of this kind stands for (an object no task stands for
    any more is removed by `run`): none for another lab's netns."""
    return [] if p.get("lab") else [("netns", "", p["name"])]
