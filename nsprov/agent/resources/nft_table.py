"""The lab's own firewall table: made with its first rule (recorded by nat or port_forward),
removed with its last; a recorded table left without rules (a killed run) is removed here. Not
a playbook module: the engine plans it only from a record, on destroy and prune."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Context, PlanError, TaskPlan
from nsprov.agent.state import Observed

MODULE = "nft_table"
RECORDS = ("fw_table",)
INTERNAL = True       # planned from records only: the lab's table goes with its last rule


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, ns, table = TaskPlan(), p["netns"], p["table"]
    if ns and ns in obs.removed:
        return tp.goes_with(ns)
    current = obs.rules(ns, table) if obs.exists(ns) else None
    if current is None:
        tp.reasons.append("absent")
    else:
        foreign = sorted(k for k in current if not ctx.owns("fw_rule", ns, k))
        if foreign:
            raise PlanError(f"table '{table}' holds rules nsprov did not make ({', '.join(foreign)}); not deleting it")
        tp.act(ops.DELETE_TABLE, ns, table, "deleted", table=table)
    tp.forgets.append({"kind": "fw_table", "netns": ns, "name": table})
    return tp


def absent(record: dict) -> dict:
    return {"netns": record.get("netns", ""), "table": record["name"], "state": "absent"}


def exists(record: dict, obs: Observed) -> bool:
    return obs.rules(record.get("netns", ""), record["name"]) is not None


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return []
