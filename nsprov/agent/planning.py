"""What every resource's plan is made of: the context it plans in, the plan it returns, and the
rules they all keep. Pure: plan(desired, observed) -> actions, every action and every no-op with
its reason.

A plan never adopts what nsprov did not create: a same-named object that is not in the ledger
for this lab (and, for links, not marked with its ifalias) is an error, not a change.
"""

from __future__ import annotations

import ipaddress
from typing import Optional

from nsprov.agent.state import Action, Observed


class PlanError(Exception):
    """The desired state cannot be reached without touching something nsprov does not own."""


class Context:
    """What a plan is made in: the LAB and the host's LEDGER (read here, written by the engine),
    the records earlier tasks of this run will make, and MANAGEMENT, the controller's address as
    this host sees it (SSH_CONNECTION)."""

    def __init__(self, lab: str, ledger, management: Optional[str] = None, ssh: Optional["Management"] = None):
        self.lab, self.ledger, self.management, self.ssh = lab, ledger, management, ssh
        self.play = 0                    # the play whose tasks are planned: its records say so
        self.reset()

    def reset(self) -> None:
        """A new plan (the next play): nothing pending, the ledger read afresh."""
        self.pending: list = []          # entries earlier tasks of this run will record
        self._pending_index: dict = {}
        self.derived: dict = {}          # what helpers work out from the records (resources/_lifetimes.py)

    @property
    def mark(self) -> str:
        return f"nsprov:{self.lab}"

    @property
    def table(self) -> str:
        """The lab's own firewall table: nft takes a lab name as it is (A-Z a-z 0-9 _ . -), so
        distinct labs have distinct tables (t-x and t_x too)."""
        return "nsprov_" + self.lab

    def entry(self, kind: str, ns: str, name: str) -> Optional[dict]:
        found = self.ledger.find(kind, ns, name)
        return found if found is not None else self._pending_index.get((kind, ns, name))

    def latest(self, kind: str, ns: str, name: str) -> Optional[dict]:
        """The entry as this run leaves it: what an earlier task will record, else the ledger's."""
        pending = self._pending_index.get((kind, ns, name))
        return pending if pending is not None else self.ledger.find(kind, ns, name)

    def add_pending(self, records: list) -> None:
        self.pending.extend(records)
        for e in records:
            self._pending_index[(e["kind"], e.get("netns", ""), e["name"])] = e

    def owns(self, kind: str, ns: str, name: str) -> bool:
        e = self.entry(kind, ns, name)
        return e is not None and e.get("lab") == self.lab

    def record(self, kind: str, ns: str, name: str, module: str, **extra) -> dict:
        """A ledger entry for an object this lab makes; MODULE is the resource that removes it."""
        return {"kind": kind, "netns": ns, "name": name, "lab": self.lab, "module": module, "play": self.play,
                **extra}

    def not_ours(self, what: str, kind: str, ns: str, name: str) -> PlanError:
        e = self.entry(kind, ns, name)
        where = f" in netns '{ns}'" if ns else ""
        if e is not None:
            return PlanError(f"{what}{where} belongs to lab '{e.get('lab')}', not '{self.lab}'")
        return PlanError(f"{what}{where} exists and was not created by nsprov; not adopting it")


class TaskPlan:
    """One task's plan: its actions and the reason for each (or for having none), the ledger
    entries it records and forgets, the links the kernel frees later (netns, link, gone with
    netns), and before/after for --diff."""
    __slots__ = ("actions", "reasons", "records", "forgets", "awaits", "gone_with", "before", "after")

    def __init__(self):
        self.actions: list = []
        self.reasons: list = []
        self.records: list = []
        self.forgets: list = []
        self.awaits: list = []
        self.gone_with: Optional[str] = None    # removed by the deletion of this netns, planned before
        self.before: dict = {}
        self.after: dict = {}

    def act(self, op, ns: str, name: str, reason: str, takes: tuple = (), **args) -> None:
        self.actions.append(Action(op, ns, name, args, reason, takes))
        self.reasons.append(reason)

    def goes_with(self, netns: str, what: Optional[str] = None) -> "TaskPlan":
        """The object is removed with NETNS (or WHAT: "link 'h0'", in NETNS or elsewhere), whose
        task deletes it and forgets its record."""
        self.gone_with = netns
        self.reasons.append(f"removed with {what or f'netns {netns!r}'}")
        return self

    @property
    def changed(self) -> bool:
        return bool(self.actions) or self.gone_with is not None


def half_made(ctx: Context, kind: str, ns: str, name: str, alias: Optional[str]) -> bool:
    """An object nsprov was making when it was killed: its intent is in the ledger, and (for a
    link) no mark yet."""
    e = ctx.entry(kind, ns, name)
    return e is not None and e.get("lab") == ctx.lab and e.get("state") == "intent" and not alias


def require_ns(obs: Observed, ns: str) -> None:
    if not obs.exists(ns):
        raise PlanError(f"netns '{ns}' does not exist (declare it with a netns task before this one)")


# ------------------------------------------------------------------ nsprov's own connection
def _best_route(obs: Observed, target) -> Optional[tuple]:
    """(prefix length, dev, via) of the host namespace's route that carries TARGET now."""
    best = None
    for dst, r in obs.ns("").routes.items():
        net = ipaddress.ip_network("0.0.0.0/0" if dst == "default" else dst)
        if net.version == target.version and target in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, r.dev, r.via)
    return best


class Claim:
    """What an address or route claims in a namespace: WHAT (for the message) sends NET out of
    DEV (through VIA)."""
    __slots__ = ("what", "net", "dev", "via")

    def __init__(self, what: str, net: str, dev: Optional[str], via: Optional[str] = None):
        self.what, self.net, self.dev, self.via = what, net, dev, via


class Management:
    """The SSH connection nsprov runs over, as this host sees it: the CONTROLLER's address, and
    this HOST's address and PORT the connection came in at."""
    __slots__ = ("controller", "host", "port")

    def __init__(self, controller: str, host: Optional[str], port: Optional[int]):
        self.controller, self.host, self.port = controller, host, port

    def interface(self, obs: Observed) -> Optional[str]:
        """The host's link that holds the address the connection came in at."""
        for name, link in obs.ns("").links.items():
            if any(a.split("/")[0] == self.host for a in link.addresses):
                return name
        return None


def guard_management_port(ctx: Context, obs: Observed, p: dict, what: str) -> None:
    """Refuse a forward (P: protocol, port, in_interface) in the host's own namespace that would
    redirect new connections to the port the controller logs in at (a DNAT of tcp/22): this run
    would finish, and every later one find the host unreachable for good."""
    ssh, port, iif = ctx.ssh, p["port"], p.get("in_interface")
    if p["netns"] or ssh is None or ssh.port is None or p.get("allow_management_overlap"):
        return
    if p["protocol"] != "tcp" or port != ssh.port or (iif is not None and iif != ssh.interface(obs)):
        return
    raise PlanError(f"{what} would redirect tcp port {port} of {ssh.host}, where the controller ({ssh.controller}) "
                    f"logs in: every later connection would reach the forward's target instead, and nsprov would be "
                    f"cut off from this host. Refused; set allow_management_overlap: true on the task to do it anyway")


def guard_management_source(ctx: Context, obs: Observed, p: dict, what: str) -> None:
    """Refuse a masquerade (P: source, out_interface) in the host's own namespace that would
    rewrite the packets this host sends the controller out of the management link."""
    ssh, source, oif = ctx.ssh, p["source"], p["out_interface"]
    if p["netns"] or ssh is None or ssh.host is None or p.get("allow_management_overlap"):
        return
    host = ipaddress.ip_address(ssh.host)
    network = ipaddress.ip_network(source, strict=False)
    if network.version != host.version or host not in network or oif != ssh.interface(obs):
        return
    raise PlanError(f"{what} would masquerade packets from {ssh.host} out of {oif}, the link the controller "
                    f"({ssh.controller}) reaches this host through: the host's own connections to it would change "
                    f"source. Refused; set allow_management_overlap: true on the task to do it anyway")


def guard_management(ctx: Context, obs: Observed, p: dict, ns: str, claim: Claim) -> None:
    """Refuse an address or route in the host's own namespace that would take the route to the
    controller (the SSH connection nsprov runs over) away from where it goes now: a /25 inside
    the management /24 on a new veth, say. The host would become unreachable mid-run, and for
    every run after. A task opts out with allow_management_overlap: true."""
    if ns or not ctx.management or p.get("allow_management_overlap"):
        return
    what, net, dev, via = claim.what, claim.net, claim.dev, claim.via
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


def dev_towards(obs: Observed, ns: str, via: Optional[str]) -> Optional[str]:
    """The link a gateway is reached through (a route with via and no dev leaves by it)."""
    if not via:
        return None
    gw = ipaddress.ip_address(via)
    for name, link in obs.ns(ns).links.items():
        if any(gw in ipaddress.ip_interface(a).network for a in link.addresses):
            return name
    return None
