"""nat: plan a masquerade rule in the lab's own table, and remove a recorded one."""

from __future__ import annotations

from nsprov.agent.planning import Context, TaskPlan, guard_management_source
from nsprov.agent.resources._firewall import plan_rules, rule_exists
from nsprov.agent.state import Observed
from nsprov.model.kinds import object_name

MODULE = "nat"
RECORDS = ("fw_rule",)


def CLAIMS(record: dict) -> bool:
    """A masquerade rule (port_forward's are dnat, dnat-local and hairpin)."""
    return record["name"].split(" ", 1)[0] not in ("dnat", "dnat-local", "hairpin")


def _rules(p: dict) -> dict:
    return {f"masquerade {p['source']} oif {p['out_interface']}":
            {"type": "masquerade", "source": p["source"], "oif": p["out_interface"]}}


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    if p["state"] == "present":
        guard_management_source(ctx, obs, p, object_name(MODULE, p))
    return plan_rules(obs, ctx, p, _rules(p), MODULE, object_name(MODULE, p))


def absent(record: dict) -> dict:
    return {**record["params"], "state": "absent"}


exists = rule_exists


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("fw_rule", p["netns"], k) for k in _rules(p)] + [("fw_table", p["netns"], ctx.table)]
