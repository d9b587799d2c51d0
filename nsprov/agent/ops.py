"""Every kernel change the agent can make, declared once: its verb and object for messages
(`could not create veth 'v1' in netns 'red': File exists`), its effect on the simulated state
(check mode and later tasks' plans see it), its inverse (the undo log), and the kernel primitive
that carries it out (agent/kernel: one of Kernel.PRIMITIVES, which the fake kernel mirrors).

An action's args are the primitive's keyword arguments, beside `ns` and `name`.
tests/unit/test_ops.py checks that every op names a primitive both kernels have.
"""

from __future__ import annotations

from typing import Callable, Optional

from nsprov.agent.kernel.objects import pack_data, resolve_links, unpack_value
from nsprov.agent.state import NEW_NETNS_DEFAULT, Action, Link, Observed, Route
from nsprov.model.errors import KernelError


def _named(noun: str) -> Callable[[Action], str]:
    return lambda a: f"{noun} '{a.name}'"


def _link_of_kind(a: Action) -> str:
    return f"{a.args['kind']} '{a.name}'"


def _address(a: Action) -> str:
    return f"address {a.args['address']} on '{a.args['dev']}'"


def _table(a: Action) -> str:
    return f"firewall rules in table '{a.args['table']}'"


class Op:
    """NAME ("link.add_veth": how plan cases spell it), VERB ("create", as in "could not create
    ..."), PRIMITIVE (the Kernel method that carries it out), SIMULATE (its effect on the
    observed state), INVERSE (how to undo it, from the state before it), WHAT (the object, for
    messages), FIXED (more keyword arguments for the primitive)."""
    __slots__ = ("name", "verb", "primitive", "simulate", "inverse", "what", "fixed")

    def __init__(self, name: str, verb: str, primitive: str, effect: tuple, what: Callable[[Action], str] = None,
                 fixed: Optional[dict] = None):
        self.name, self.verb, self.primitive = name, verb, primitive
        self.simulate, self.inverse = effect
        self.what = what or _named("link")
        self.fixed = fixed or {}

    def __call__(self, ns: str, name: str, reason: str, **args) -> Action:
        return Action(self, ns, name, args, reason)

    def __repr__(self) -> str:
        return f"Op({self.name})"


def _no_undo(a: Action, obs: Observed) -> list:
    """A deletion cannot be undone: what was deleted cannot be made again as it was."""
    return []


# ------------------------------------------------------------------ simulated effects and inverses
def _sim_netns_create(obs: Observed, a: Action) -> None:
    obs.add_netns(a.name)


def _sim_netns_delete(obs: Observed, a: Action) -> None:
    obs.drop_netns(a.name)
    _sim_takes(obs, a)


def _sim_takes(obs: Observed, a: Action) -> None:
    """What dies with the deleted object goes from the plan's view too (Action.takes)."""
    for ns, name in a.takes:
        if obs.exists(ns):
            obs.ns(ns).links.pop(name, None)
        obs.taken[(ns, name)] = a.op.what(a)


def _sim_add_bridge(obs: Observed, a: Action) -> None:
    obs.ns(a.ns).links[a.name] = Link(a.name, "bridge", up=bool(a.args.get("up")), mtu=a.args.get("mtu"),
                                      alias=a.args.get("alias"), stp=bool(a.args.get("stp")))


def _sim_add_veth(obs: Observed, a: Action) -> None:
    link, peer, pns = a.args["link"], a.args["peer"], a.args["peer_netns"]
    mtu, up, alias = link.get("mtu"), bool(link.get("up")), link.get("alias")   # no mtu: the kernel's default
    obs.ns(a.ns).links[a.name] = Link(a.name, "veth", up=up, mtu=mtu, master=link.get("master"), alias=alias)
    obs.ns(pns).links[peer] = Link(peer, "veth", up=up, mtu=mtu, alias=alias)


def _sim_add_link(obs: Observed, a: Action) -> None:
    """A link of any kind: bound to its parent (by name in the same netns, else its ifindex, as
    the kernel reports it), its MTU the parent's unless given, its own attributes as asked."""
    link = a.args["link"]
    parent, pns = link.get("parent"), (link["parent_netns"] or "") if "parent_netns" in link else a.ns
    lower = obs.link(pns, parent) if parent else None
    data = resolve_links(a.args.get("data"), lambda dev: getattr(obs.link(pns, dev), "index", None))
    obs.ns(a.ns).links[a.name] = Link(
        a.name, a.args["kind"], up=bool(link.get("up")), mtu=link.get("mtu") or (lower.mtu if lower else None),
        master=link.get("master"), alias=link.get("alias"), info=pack_data(data),
        parent=(parent if pns == a.ns else (lower.index if lower else None)) if parent else None)


def _sim_set_link_data(obs: Observed, a: Action) -> None:
    link = obs.ns(a.ns).links[a.name]
    link.info = {**(link.info or {}), **pack_data(a.args["data"])}


def _undo_set_link_data(a: Action, obs: Observed) -> list:
    """The attributes as they were (those the kernel reported; one it did not stays)."""
    info = obs.link(a.ns, a.name).info or {}
    was = [(t, f, unpack_value(info.get(t), f)) for t, f, _ in a.args["data"] if info.get(t) is not None]
    return [SET_LINK_DATA(a.ns, a.name, "undo", kind=a.args["kind"], data=was)] if was else []


def _sim_set_link(obs: Observed, a: Action) -> None:
    link = obs.ns(a.ns).links[a.name]
    for k in ("up", "mtu", "master", "alias"):
        if k in a.args:
            setattr(link, k, a.args[k])


def _sim_set_mac(obs: Observed, a: Action) -> None:
    obs.ns(a.ns).links[a.name].mac = a.args["mac"].lower()


def _undo_set_mac(a: Action, obs: Observed) -> list:
    was = obs.link(a.ns, a.name).mac
    return [SET_MAC(a.ns, a.name, "undo", mac=was)] if was else []


def _sim_set_altnames(obs: Observed, a: Action) -> None:
    obs.ns(a.ns).links[a.name].altnames = tuple(a.args["altnames"])


def _undo_set_altnames(a: Action, obs: Observed) -> list:
    return [SET_ALTNAMES(a.ns, a.name, "undo", altnames=list(obs.link(a.ns, a.name).altnames))]


def _sim_set_bridge(obs: Observed, a: Action) -> None:
    obs.ns(a.ns).links[a.name].stp = a.args["stp"]


def _undo_set_bridge(a: Action, obs: Observed) -> list:
    return [SET_BRIDGE(a.ns, a.name, "undo", stp=bool(obs.link(a.ns, a.name).stp))]


def _undo_set_link(a: Action, obs: Observed) -> list:
    link = obs.link(a.ns, a.name)
    return [SET_LINK(a.ns, a.name, "undo", **{k: getattr(link, k) for k in a.args})]


def _sim_move_link(obs: Observed, a: Action) -> None:
    link = obs.ns(a.ns).links.pop(a.name)
    moved = Link(a.args["new_name"], link.kind, up=bool(a.args["link"].get("up")), index=link.index,
                 mtu=a.args["link"].get("mtu") or link.mtu, alias=a.args["link"].get("alias") or None)
    obs.ns(a.args["to_netns"]).links[moved.name] = moved


def _undo_move_link(a: Action, obs: Observed) -> list:
    """Back where it was, as it was: its name, settings and addresses (the move dropped them)."""
    was = obs.link(a.ns, a.name)
    back = MOVE_LINK(a.args["to_netns"], a.args["new_name"], "undo", to_netns=a.ns, new_name=a.name,
                     link={"mtu": was.mtu, "up": was.up, "alias": was.alias or ""})
    return [back] + [ADD_ADDRESS(a.ns, a.name, "undo", dev=a.name, address=x) for x in was.addresses
                     if not x.startswith("fe80:")]


def _sim_write_file(obs: Observed, a: Action) -> None:
    obs.put("file", a.name, value=a.args["content"])


def _sim_remove_file(obs: Observed, a: Action) -> None:
    obs.put("file", a.name, value=None)


def _undo_file(a: Action, obs: Observed) -> list:
    """The file as it was: its old text, or none."""
    was = obs.file(a.name)
    return [REMOVE_FILE(a.ns, a.name, "undo")] if was is None else [WRITE_FILE(a.ns, a.name, "undo", content=was)]


def _sim_set_whole(aspect: str, field: str) -> Callable[[Observed, Action], None]:
    """The effect of replacing what ASPECT holds at (netns, name) with the action's FIELD (None:
    removing it): a filter table, a link's root qdisc."""
    return lambda obs, a: obs.put(aspect, a.ns, a.name, value=a.args.get(field))


def _undo_whole(aspect: str, field: str, set_op: str, remove_op: str) -> Callable[[Action, Observed], list]:
    """Back to what ASPECT held before: that, set again, or nothing."""
    def inverse(a: Action, obs: Observed) -> list:
        was = obs.read(aspect, a.ns, a.name)
        return [OPS[remove_op](a.ns, a.name, "undo")] if was is None else [OPS[set_op](a.ns, a.name, "undo",
                                                                                      **{field: was})]
    return inverse


def _sim_delete_link(obs: Observed, a: Action) -> None:
    obs.ns(a.ns).links.pop(a.name, None)
    _sim_takes(obs, a)


def _sim_add_address(obs: Observed, a: Action) -> None:
    obs.ns(a.ns).links[a.args["dev"]].addresses.append(a.args["address"])


def _sim_delete_address(obs: Observed, a: Action) -> None:
    link = obs.ns(a.ns).links.get(a.args["dev"])
    if link and a.args["address"] in link.addresses:
        link.addresses.remove(a.args["address"])


def _sim_route(obs: Observed, a: Action) -> None:
    obs.ns(a.ns).routes[a.name] = Route(a.name, a.args.get("via"), a.args.get("dev"), a.args.get("metric"))


def _sim_delete_route(obs: Observed, a: Action) -> None:
    obs.ns(a.ns).routes.pop(a.name, None)


def _undo_route_change(a: Action, obs: Observed) -> list:
    cur = obs.ns(a.ns).routes.get(a.name)
    back = {"via": cur.via, "dev": cur.dev, "metric": cur.metric} if cur else {"via": None, "dev": None, "metric": None}
    return [(REPLACE_ROUTE if a.op is REPLACE_ROUTE else ADD_ROUTE)(a.ns, a.name, "undo", **back)]


def _sim_sysctl(obs: Observed, a: Action) -> None:
    obs.set_sysctl(a.ns, a.name, a.args["value"])


def _undo_sysctl(a: Action, obs: Observed) -> list:
    old = obs.sysctl(a.ns, a.name)
    return [] if old == NEW_NETNS_DEFAULT else [SET_SYSCTL(a.ns, a.name, "undo", value=old)]


def _sim_add_rules(obs: Observed, a: Action) -> None:
    table = dict(obs.rules(a.ns, a.args["table"]) or {})
    table.update(a.args["rules"])
    obs.set_rules(a.ns, a.args["table"], table)


def _undo_add_rules(a: Action, obs: Observed) -> list:
    undo = [DELETE_RULES(a.ns, a.name, "undo", table=a.args["table"], rules=a.args["rules"])]
    if obs.rules(a.ns, a.args["table"]) is None:
        undo.append(DELETE_TABLE(a.ns, a.name, "undo", table=a.args["table"]))
    return undo


def _sim_delete_rules(obs: Observed, a: Action) -> None:
    table = dict(obs.rules(a.ns, a.args["table"]) or {})
    for key in a.args["rules"]:
        table.pop(key, None)
    obs.set_rules(a.ns, a.args["table"], table)


def _sim_delete_table(obs: Observed, a: Action) -> None:
    obs.set_rules(a.ns, a.args["table"], None)


def _undo_delete_table(a: Action, obs: Observed) -> list:
    """A table deleted with its last rules (RULES) comes back with them; an empty one cannot."""
    rules = a.args.get("rules")
    return [ADD_RULES(a.ns, a.name, "undo", table=a.args["table"], rules=rules)] if rules else []


def _sim_nsset_create(obs: Observed, a: Action) -> None:
    spec = a.args["spec"]
    obs.set_nsset(a.name, {"kinds": list(spec["kinds"]), "alive": True, "hostname": spec.get("hostname"),
                           "domainname": spec.get("domainname") or "", "uid_map": spec.get("uid_map"),
                           "gid_map": spec.get("gid_map"), "mounts": spec.get("mounts", [])})
    if "net" in spec["kinds"]:
        obs.add_netns(a.name)


def _sim_nsset_delete(obs: Observed, a: Action) -> None:
    had_net = "net" in ((obs.nsset(a.name) or {}).get("kinds") or [])
    obs.set_nsset(a.name, None)
    if had_net or a.name in obs.created:
        obs.drop_netns(a.name)
    _sim_takes(obs, a)


def _sim_nsset_replace(obs: Observed, a: Action) -> None:
    """The set made again: a fresh netns if it has one (the links that went with the old one
    gone from where they were), and every process in it to be started again (obs.remade)."""
    _sim_nsset_delete(obs, a)
    _sim_nsset_create(obs, a)
    obs.remade.add(a.name)


def _sim_hostname(obs: Observed, a: Action) -> None:
    obs.nsset(a.name).update(hostname=a.args.get("hostname"), domainname=a.args.get("domainname") or "")


def _undo_hostname(a: Action, obs: Observed) -> list:
    cur = obs.nsset(a.name) or {}
    return [SET_HOSTNAME("", a.name, "undo", hostname=cur.get("hostname"), domainname=cur.get("domainname"),
                         kinds=a.args["kinds"])]


def _sim_process_start(obs: Observed, a: Action) -> None:
    obs.set_process(a.name, {"alive": True, "argv": a.args["command"]["argv"], "target": a.args["target"],
                             "cwd": a.args["command"].get("cwd", "/"), "env": a.args["command"].get("env", {})})


def _sim_process_stop(obs: Observed, a: Action) -> None:
    obs.set_process(a.name, None)


def _sim_nothing(obs: Observed, a: Action) -> None:
    return None


def _undo(op_name: str) -> Callable[[Action, Observed], list]:
    """The inverse that makes the same call with the opposite op (named late: defined below)."""
    return lambda a, obs: [OPS[op_name](a.ns, a.name, "undo", **a.args)]


def _undo_by(op_name: str) -> Callable[[Action, Observed], list]:
    """The inverse that removes what the action made, by its name alone."""
    return lambda a, obs: [OPS[op_name](a.ns, a.name, "undo")]


# ------------------------------------------------------------------ the table
CREATE_NETNS = Op("netns.create", "create", "ensure_netns", (_sim_netns_create, _undo_by("netns.delete")),
                  _named("netns"))
DELETE_NETNS = Op("netns.delete", "delete", "remove_netns", (_sim_netns_delete, _no_undo), _named("netns"))
ADD_BRIDGE = Op("link.add_bridge", "create", "ensure_bridge", (_sim_add_bridge, _undo_by("link.delete")),
                _named("bridge"))
ADD_VETH = Op("link.add_veth", "create", "ensure_veth", (_sim_add_veth, _undo_by("link.delete")), _named("veth"))
ADD_LINK = Op("link.add", "create", "ensure_link", (_sim_add_link, _undo_by("link.delete")), _link_of_kind)
SET_LINK = Op("link.set", "change", "set_link", (_sim_set_link, _undo_set_link))
SET_MAC = Op("link.set_mac", "change", "set_mac", (_sim_set_mac, _undo_set_mac))
SET_ALTNAMES = Op("link.set_altnames", "change", "set_altnames", (_sim_set_altnames, _undo_set_altnames))
SET_LINK_DATA = Op("link.set_data", "change", "set_link_data", (_sim_set_link_data, _undo_set_link_data), _link_of_kind)
SET_BRIDGE = Op("link.set_bridge", "change", "set_bridge", (_sim_set_bridge, _undo_set_bridge), _named("bridge"))
DELETE_LINK = Op("link.delete", "delete", "remove_link", (_sim_delete_link, _no_undo))
WRITE_FILE = Op("file.write", "write", "write_file", (_sim_write_file, _undo_file), _named("file"))
REMOVE_FILE = Op("file.remove", "remove", "remove_file", (_sim_remove_file, _undo_file), _named("file"))
MOVE_LINK = Op("link.move", "move", "move_link", (_sim_move_link, _undo_move_link), _named("interface"))
ADD_ADDRESS = Op("addr.add", "add", "ensure_address", (_sim_add_address, _undo("addr.delete")), _address)
DELETE_ADDRESS = Op("addr.delete", "remove", "remove_address", (_sim_delete_address, _undo("addr.add")), _address)
ADD_ROUTE = Op("route.add", "add", "ensure_route", (_sim_route, _undo("route.delete")), _named("route"))
REPLACE_ROUTE = Op("route.replace", "replace", "ensure_route", (_sim_route, _undo_route_change),
                   _named("route"), fixed={"replace": True})
DELETE_ROUTE = Op("route.delete", "delete", "remove_route", (_sim_delete_route, _undo_route_change), _named("route"))
SET_SYSCTL = Op("sysctl.set", "set", "set_sysctl", (_sim_sysctl, _undo_sysctl), _named("sysctl"))
ADD_RULES = Op("fw.add_rules", "add", "ensure_rules", (_sim_add_rules, _undo_add_rules), _table)
DELETE_RULES = Op("fw.delete_rules", "delete", "remove_rules", (_sim_delete_rules, _undo("fw.add_rules")), _table)
DELETE_TABLE = Op("fw.delete_table", "delete", "remove_table", (_sim_delete_table, _undo_delete_table), _table)
SET_FIREWALL = Op("firewall.set", "set", "set_firewall", (_sim_set_whole("firewall", "table"), _undo_whole(
    "firewall", "table", "firewall.set", "firewall.delete")), _named("firewall table"))
DELETE_FIREWALL = Op("firewall.delete", "delete", "remove_firewall", (_sim_set_whole("firewall", "table"), _undo_whole(
    "firewall", "table", "firewall.set", "firewall.delete")), _named("firewall table"))
SET_QDISC = Op("qdisc.set", "set", "set_qdisc", (_sim_set_whole("qdisc", "qdisc"), _undo_whole(
    "qdisc", "qdisc", "qdisc.set", "qdisc.delete")), _named("qdisc on"))
DELETE_QDISC = Op("qdisc.delete", "remove", "remove_qdisc", (_sim_set_whole("qdisc", "qdisc"), _undo_whole(
    "qdisc", "qdisc", "qdisc.set", "qdisc.delete")), _named("qdisc on"))
CREATE_NSSET = Op("nsset.create", "create", "ensure_nsset", (_sim_nsset_create, _undo_by("nsset.delete")),
                  _named("namespace set"))
DELETE_NSSET = Op("nsset.delete", "delete", "remove_nsset", (_sim_nsset_delete, _no_undo), _named("namespace set"))
REPLACE_NSSET = Op("nsset.replace", "make again", "replace_nsset", (_sim_nsset_replace, _no_undo),
                   _named("namespace set"))
SET_HOSTNAME = Op("nsset.set_hostname", "set the hostname of", "set_hostname", (_sim_hostname, _undo_hostname),
                  _named("namespace set"))
START_PROCESS = Op("process.start", "start", "ensure_process", (_sim_process_start, _undo_by("process.stop")),
                   _named("process"))
STOP_PROCESS = Op("process.stop", "stop", "remove_process", (_sim_process_stop, _no_undo), _named("process"))
RUN_COMMAND = Op("exec.run", "run", "run_command", (_sim_nothing, _no_undo), _named("command"))
RUN_CHECKS = Op("verify.run", "run the checks of", "run_checks", (_sim_nothing, _no_undo), _named("verify"))

OPS: dict = {op.name: op for op in (
    CREATE_NETNS, DELETE_NETNS, ADD_BRIDGE, ADD_VETH, ADD_LINK, SET_LINK, SET_ALTNAMES, SET_MAC, SET_LINK_DATA, SET_BRIDGE, DELETE_LINK, MOVE_LINK,
    WRITE_FILE, REMOVE_FILE, ADD_ADDRESS, DELETE_ADDRESS,
    ADD_ROUTE, REPLACE_ROUTE, DELETE_ROUTE, SET_SYSCTL, ADD_RULES, DELETE_RULES, DELETE_TABLE, SET_FIREWALL, DELETE_FIREWALL, SET_QDISC, DELETE_QDISC,
    CREATE_NSSET,
    DELETE_NSSET, REPLACE_NSSET, SET_HOSTNAME, START_PROCESS, STOP_PROCESS, RUN_COMMAND, RUN_CHECKS)}


def carry_out(kernel, a: Action) -> Optional[dict]:
    """Carry out one action on KERNEL (the real one or the fake); a few (a command, checks)
    return what happened. Every failure becomes a KernelError naming the object and namespace."""
    op: Op = a.op
    try:
        return getattr(kernel, op.primitive)(ns=a.ns, name=a.name, **a.args, **op.fixed)
    except KernelError:
        raise
    except OSError as exc:
        raise KernelError(op.verb, op.what(a), a.ns, exc.strerror or str(exc)) from None
    except Exception as exc:
        raise KernelError(op.verb, op.what(a), a.ns, f"{type(exc).__name__}: {exc}") from None
