"""What nat and port_forward share: rules in the lab's own table, each recorded with the task
that made it. A table or a rule nsprov did not record is someone else's, even with nsprov's name
or comment on it: never adopted, never changed. The table goes with the lab's last rule."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Context, PlanError, TaskPlan, require_ns
from nsprov.agent.state import Observed

TABLE_MODULE = "nft_table"


def _ours(ctx: Context, ns: str, current: dict) -> set:
    return {k for k in current if ctx.owns("fw_rule", ns, k)}


def check_table(obs: Observed, ctx: Context, ns: str) -> dict:
    """The lab's table in NS as {rule key: handle}, {} when there is none; PlanError when a table
    of that name is there and nsprov did not record it."""
    current = obs.rules(ns, ctx.table)
    if current is not None and not ctx.owns("fw_table", ns, ctx.table):
        where = f" in netns '{ns}'" if ns else ""
        raise PlanError(f"firewall table '{ctx.table}'{where} exists and was not created by nsprov; not adopting it")
    return current or {}


def plan_rules(obs: Observed, ctx: Context, p: dict, rules: dict, module: str, label: str) -> TaskPlan:
    """Rules {key: spec} for task P (whose object is LABEL), present or absent."""
    tp, ns, table = TaskPlan(), p["netns"], ctx.table
    if p["state"] == "absent" and not obs.exists(ns):
        tp.reasons.append(f"absent (netns '{ns}' is gone)")
        tp.forgets += [{"kind": "fw_rule", "netns": ns, "name": k} for k in rules]
        return tp
    require_ns(obs, ns)
    current = check_table(obs, ctx, ns)
    ours = _ours(ctx, ns, current)
    tp.before = {"rules": sorted(k for k in rules if k in ours)}
    if p["state"] == "present":
        taken = sorted(k for k in rules if k in current and k not in ours)
        if taken:
            raise PlanError(f"rule '{taken[0]}' in table '{table}' was not made by nsprov; not adopting it")
        missing = {k: r for k, r in rules.items() if k not in current}
        if missing:
            tp.act(ops.ADD_RULES, ns, table, "added " + "; ".join(missing), table=table, rules=missing)
            # a table this run deletes first (its last rules pruned) is made again: recorded anew
            if not ctx.owns("fw_table", ns, table) or obs.rules(ns, table) is None:
                tp.records.append(ctx.record("fw_table", ns, table, TABLE_MODULE))
            tp.records += [ctx.record("fw_rule", ns, k, module, table=table, rule=r, task=label, params=p)
                           for k, r in missing.items()]
        else:
            tp.reasons.append("rules present")
        tp.after = {"rules": sorted(rules)}
        return tp
    recorded = {e["name"]: e.get("rule", {}) for e in ctx.ledger.owned_by(ctx.lab)
                if e["kind"] == "fw_rule" and e.get("netns", "") == ns and e.get("task") == label}
    gone = {k: rules.get(k) or recorded.get(k, {}) for k in sorted(set(rules) | set(recorded)) if k in ours}
    tp.forgets += [{"kind": "fw_rule", "netns": ns, "name": k} for k in set(rules) | set(recorded)]
    if gone and not set(current) - set(gone) and ctx.owns("fw_table", ns, table):
        # the table goes with its last rules: one transaction (each nft commit costs ~15 ms)
        tp.reasons.append("deleted " + "; ".join(gone))
        tp.act(ops.DELETE_TABLE, ns, table, f"deleted table {table} with its last rule", table=table, rules=gone)
        tp.forgets.append({"kind": "fw_table", "netns": ns, "name": table})
    elif gone:
        tp.act(ops.DELETE_RULES, ns, table, "deleted " + "; ".join(gone), table=table, rules=gone)
    else:
        tp.reasons.append("absent")
    tp.after = {"rules": []}
    return tp


def rule_exists(record: dict, obs: Observed) -> bool:
    return record["name"] in (obs.rules(record.get("netns", ""), record["table"]) or {})
