"""process: plan a long-running command inside a namespace set or netns, present (running,
restarted if it died or its command changed) or absent, and stop a recorded one."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Context, TaskPlan
from nsprov.agent.resources._commands import target
from nsprov.agent.state import Observed

MODULE = "process"
RECORDS = ("process",)


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, name = TaskPlan(), p["name"]
    cur = obs.process(name)
    if cur is not None and not ctx.owns("process", "", name):
        raise ctx.not_ours(f"process '{name}'", "process", "", name)
    tp.before = {"running": bool(cur and cur["alive"])}
    if p["state"] == "absent":
        if cur is not None:
            tp.act(ops.STOP_PROCESS, "", name, f"stopped (pid {cur.get('pid')})" if cur["alive"] else "cleaned up")
        else:
            tp.reasons.append("not running")
        tp.forgets.append({"kind": "process", "netns": "", "name": name})
        return tp
    where, prefix, cwd = target(p, obs)
    argv = prefix + p["command"]
    how = {"command": {"argv": argv, "env": p["env"], "cwd": cwd, "restart": p["restart"]}, "target": where,
           "lab": ctx.lab}
    if cur is None:
        tp.act(ops.START_PROCESS, "", name, "started", **how)
        tp.records.append(ctx.record("process", "", name, MODULE))
    elif not cur["alive"]:
        tp.act(ops.START_PROCESS, "", name, f"restarted (pid {cur.get('pid')} had died)", **how)
    elif (p["namespace"] or p["netns"]) in obs.remade:   # it lives in the namespaces that went
        tp.act(ops.STOP_PROCESS, "", name, f"stopped: namespace set '{p['namespace'] or p['netns']}' is made again")
        tp.act(ops.START_PROCESS, "", name, "started in the new one", **how)
    elif cur.get("argv") != argv or cur.get("cwd", "/") != cwd or cur.get("env", p["env"]) != p["env"]:
        tp.act(ops.STOP_PROCESS, "", name, "stopped: its command changed")
        tp.act(ops.START_PROCESS, "", name, "started", **how)
    elif cur.get("restart", "no") != p["restart"]:
        tp.act(ops.STOP_PROCESS, "", name, f"stopped: restart {cur.get('restart', 'no')}→{p['restart']}")
        tp.act(ops.START_PROCESS, "", name, "started", **how)
    else:
        tp.reasons.append(f"running (pid {cur['pid']})")
    tp.after = {"running": True}
    return tp


def absent(record: dict) -> dict:
    return {"name": record["name"], "state": "absent"}


def exists(record: dict, obs: Observed) -> bool:
    return obs.process(record["name"]) is not None


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("process", "", p["name"])]
