"""nat: plan a masquerade rule in the lab's own table, and remove a recorded one."""

from __future__ import annotations

from nsprov.agent.planning import Context, TaskPlan
from nsprov.agent.resources._firewall import plan_rules, rule_exists
from nsprov.agent.state import Observed
from nsprov.model.kinds import object_name

MODULE = "nat"
RECORDS = ("fw_rule",)


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    key = f"masquerade {p['source']} oif {p['out_interface']}"
    rule = {"type": "masquerade", "source": p["source"], "oif": p["out_interface"]}
    return plan_rules(obs, ctx, p, {key: rule}, MODULE, object_name(MODULE, p))


def absent(record: dict) -> dict:
    return {**record["params"], "state": "absent"}


exists = rule_exists
