"""port_forward: plan a DNAT (with hairpin when the target is on a local subnet) in the lab's own
table, and remove a recorded one."""

from __future__ import annotations

import ipaddress

from nsprov.agent.planning import Context, TaskPlan, guard_management_port
from nsprov.agent.resources._firewall import plan_rules, rule_exists
from nsprov.agent.state import Observed
from nsprov.model.kinds import object_name
from nsprov.model.types import split_ip_port

MODULE = "port_forward"
RECORDS = ("fw_rule",)


def CLAIMS(record: dict) -> bool:
    return record["name"].split(" ", 1)[0] in ("dnat", "dnat-local", "hairpin")


def rules_of(p: dict, obs: Observed) -> dict:
    ns, proto, port = p["netns"], p["protocol"], p["port"]
    to_ip, to_port = split_ip_port(p["to"])
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
                if iface.version == target.version and target in iface.network and not iface.ip.is_link_local:
                    rules[f"hairpin {base}"] = {"type": "hairpin", "source": str(iface.network), "daddr": to_ip,
                                                "proto": proto, "dport": int(to_port)}
    return rules


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    if p["state"] == "present":
        guard_management_port(ctx, obs, p, object_name(MODULE, p))
    return plan_rules(obs, ctx, p, rules_of(p, obs), MODULE, object_name(MODULE, p))


def absent(record: dict) -> dict:
    return {**record["params"], "state": "absent"}


exists = rule_exists


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("fw_rule", p["netns"], k) for k in rules_of(p, obs)] + [("fw_table", p["netns"], ctx.table)]
