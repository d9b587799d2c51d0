"""Links made on a lower link: a macvlan, ipvlan or vlan on its parent, a vxlan on its underlay.
Each is made in the lower link's namespace and moved into its own in the same request (the
kernel's ensure_link), marked, recorded, and dies with what it is made on (its resource's
DIES_WITH). A kind says what is its own in a `Stacked`: its attributes (ATTRS: name ->
(IFLA_INFO_DATA type, format, {declared value: kernel value} or None)), which of them the kernel
cannot change in place (FIXED: a change makes the link again), and how its MTU is bounded."""

from __future__ import annotations

from typing import Optional

from nsprov.agent import ops
from nsprov.agent.kernel.objects import Link, unpack_value
from nsprov.agent.planning import Claim, Context, PlanError, TaskPlan, guard_management, require_ns
from nsprov.agent.resources._lifetimes import links_going_with
from nsprov.agent.resources._links import (after, delete_link, gone_already, gone_with, name_it, own_link,
                                           reconcile_link, require_bridge)
from nsprov.agent.state import Observed


def where(ns: str) -> str:
    return f"netns '{ns}'" if ns else "the host's namespace"


class Stacked:
    """KIND's planning. LOWER and LOWER_NS name the parameters of the lower link; BOUND: the link
    is bound to it by IFLA_LINK (a vxlan names its underlay among its own attributes instead)."""
    kind = ""
    lower, lower_ns, noun = "link", "link_netns", "parent"
    bound = True
    optional = False          # the lower link may be left unset (a vxlan routed by the kernel)
    ATTRS: dict = {}
    FIXED: tuple = ()
    KEEP: tuple = ()          # required attributes its records keep, for the absent task that removes it

    # ---------------------------------------------------------------- what a kind may change
    def declared(self, p: dict, lower: Optional[Link]) -> dict:
        """Its own attributes as the task declares them: {name: value}."""
        return {k: p[k] for k in self.ATTRS}

    def observed(self, link: Link) -> dict:
        """Its own attributes as the kernel reports them, in the task's terms."""
        out = {}
        for k, (kind, fmt, values) in self.ATTRS.items():
            value = unpack_value((link.info or {}).get(kind), fmt)
            out[k] = next((d for d, v in values.items() if v == value), value) if values else value
        return out

    def data(self, want: dict, names) -> list:
        """[(type, format, value)] of attributes NAMES of WANT, for the kernel."""
        out = []
        for k in names:
            kind, fmt, values = self.ATTRS[k]
            if want[k] is not None:
                out.append((kind, fmt, values[want[k]] if values else want[k]))
        return out

    def remake(self, have: dict, want: dict) -> Optional[str]:
        """Why the link must be made again for WANT (a FIXED attribute differs), or None."""
        for k in self.FIXED:
            if want.get(k) != have.get(k):
                return f"{k} {have.get(k)}→{want.get(k)} (cannot change in place)"
        return None

    def create_data(self, p: dict, lower: Optional[Link]) -> list:
        """Its own attributes for the kernel, when it is made."""
        return self.data(self.declared(p, lower), self.ATTRS)

    def underlay(self, p: dict, obs: Observed, lower: Optional[Link]) -> Optional[Link]:
        """The link its MTU is bounded by."""
        return lower

    def default_mtu(self, p: dict, underlay: Optional[Link]) -> Optional[int]:
        return None           # the kernel's: the parent's

    def describe(self, p: dict) -> str:
        return ", ".join(f"{k} {p[k]}" for k in self.ATTRS if p.get(k) is not None)

    # ---------------------------------------------------------------- planning
    def _lower(self, p: dict, obs: Observed) -> Optional[Link]:
        if not p[self.lower]:
            return None
        lower = obs.link(p[self.lower_ns], p[self.lower])
        if lower is None:
            raise PlanError(f"{self.kind} '{p['name']}': its {self.noun} link '{p[self.lower]}' does not exist in "
                            f"{where(p[self.lower_ns])}")
        if self.bound and p["mtu"] and lower.mtu and p["mtu"] > lower.mtu:
            raise PlanError(f"{self.kind} '{p['name']}': mtu {p['mtu']} is above its {self.noun} "
                            f"{p[self.lower]}'s {lower.mtu}")
        return lower

    def summary(self, link: Link) -> dict:
        out = {**link.summary(), **self.observed(link)}
        return {**out, self.lower: link.parent} if self.bound else out

    def _why_again(self, p: dict, link: Link, lower: Optional[Link]) -> Optional[str]:
        if self.bound and link.parent is not None:
            bound = p[self.lower] if p[self.lower_ns] == p["netns"] else lower.index
            if bound is not None and link.parent != bound:
                return f"its {self.noun} is now {p[self.lower]}"
        return self.remake(self.observed(link), self.declared(p, lower))

    def _create(self, tp: TaskPlan, p: dict, obs: Observed, ctx: Context, lower: Optional[Link], why: str) -> None:
        ns, name = p["netns"], p["name"]
        underlay = self.underlay(p, obs, lower)
        whole = self.default_mtu(p, underlay)       # what its underlay carries in one packet
        mtu = p["mtu"] or whole
        if p["mtu"] and whole and p["mtu"] > whole:
            why += (f"; warning: mtu {p['mtu']} is more than the underlay {underlay.name} carries whole ({whole}): "
                    f"larger packets go in fragments")
        link = {"mtu": mtu, "up": p["up"], "alias": ctx.mark, "parent_netns": p[self.lower_ns]}
        if p.get("bridge"):
            link["master"] = p["bridge"]
        if self.bound:
            link["parent"] = p[self.lower]
        if mtu and mtu < 1280:
            why += f"; warning: mtu {mtu} is below 1280, too small for IPv6"
        tp.act(ops.ADD_LINK, ns, name, why, kind=self.kind, link=link,
               data=self.create_data(p, lower))
        tp.records.append(ctx.record("link", ns, name, self.kind, addresses=p["addresses"],
                                     **{self.lower: p[self.lower], self.lower_ns: p[self.lower_ns]},
                                     **{k: p[k] for k in self.KEEP}))
        name_it(tp, ns, name, p.get("altname"))
        for a in p["addresses"]:
            tp.act(ops.ADD_ADDRESS, ns, name, f"{name}: +{a}", dev=name, address=a)

    def _change(self, tp: TaskPlan, p: dict, obs: Observed, ctx: Context, lower: Optional[Link]) -> None:
        ns, name = p["netns"], p["name"]
        have, want = self.observed(obs.link(ns, name)), self.declared(p, lower)
        changed = [k for k in self.ATTRS if k not in self.FIXED and want[k] != have[k]]
        if changed:
            tp.act(ops.SET_LINK_DATA, ns, name, f"{name}: " + ", ".join(f"{k} {have[k]}→{want[k]}" for k in changed),
                   kind=self.kind, data=self.data(want, changed))
        want = {"up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"]}
        want.update({k: p[k] for k in ("altname",) if k in p})
        reconcile_link(tp, obs, ctx, ns, name, {**want, "master": p["bridge"]} if "bridge" in p else want)
        if not tp.actions:
            tp.reasons.append("exists as declared")

    def plan(self, p: dict, obs: Observed, ctx: Context) -> TaskPlan:
        if p["state"] == "absent":
            return self._absent(p, obs, ctx)
        tp, ns, name = TaskPlan(), p["netns"], p["name"]
        require_ns(obs, ns)
        require_ns(obs, p[self.lower_ns])
        require_bridge(obs, ns, p.get("bridge"))
        lower = self._lower(p, obs)
        exists = own_link(obs, ctx, ns, name, self.kind)
        link = obs.link(ns, name)
        tp.before = self.summary(link) if exists else {}
        for a in p["addresses"]:
            guard_management(ctx, obs, p, ns, Claim(f"address {a} on {self.kind} '{name}'", a, name))
        why = self._why_again(p, link, lower) if exists else None
        if why:
            tp.act(ops.DELETE_LINK, ns, name, f"made again: {why}", takes=links_going_with(ctx, ("link", ns, name)))
        if not exists or why:
            on = f" on {p[self.lower]}" if p[self.lower] else ""
            self._create(tp, p, obs, ctx, lower, f"created {self.kind} {name}{on} ({self.describe(p)})")
        else:
            self._change(tp, p, obs, ctx, lower)
        tp.after = after(tp.before, {"kind": self.kind, "up": p["up"], "mtu": p["mtu"], "addresses": p["addresses"],
                                     **({"master": p["bridge"]} if "bridge" in p else {}), **self.declared(p, lower)})
        return tp

    def _absent(self, p: dict, obs: Observed, ctx: Context) -> TaskPlan:
        tp, ns, name = TaskPlan(), p["netns"], p["name"]
        went = gone_with(obs, ns, p[self.lower_ns])
        if went or (ns, name) in obs.taken:      # its netns, or what it dies with, goes earlier in this plan
            return tp.goes_with(went or ns, None if went else obs.taken[(ns, name)])
        if not obs.exists(ns):
            return gone_already(tp, ns, {"kind": "link", "netns": ns, "name": name})
        exists = own_link(obs, ctx, ns, name, self.kind)
        tp.before = self.summary(obs.link(ns, name)) if exists else {}
        return delete_link(tp, ctx, ns, name, exists)

    def absent(self, record: dict) -> dict:
        """The absent task that removes a recorded link."""
        return {"name": record["name"], "netns": record.get("netns", ""), self.lower: record.get(self.lower) or None,
                self.lower_ns: record.get(self.lower_ns, ""), "state": "absent", **{k: record.get(k) for k in self.KEEP}}

    def keys(self, p: dict, obs: Observed, ctx: Context) -> list:
        return [("link", p["netns"], p["name"])]
