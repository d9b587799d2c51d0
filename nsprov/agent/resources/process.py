"""process: plan a long-running command inside a namespace set or netns, present (running,
restarted if it died or its command changed) or absent, and stop a recorded one."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Context, PlanError, TaskPlan
from nsprov.agent.resources._commands import target
from nsprov.agent.state import Observed

MODULE = "process"
RECORDS = ("process",)
PACKAGES = {"/usr/lib/frr/": "FRR (Debian, Ubuntu: apt install frr)"}     # whose program is missing, and how to add it


def _installed(p: dict, obs: Observed) -> None:
    """A command given by its path must be on the host before anything is changed."""
    program = p["command"][0]
    if program.startswith("/") and not obs.path_exists(program):
        package = next((what for prefix, what in PACKAGES.items() if program.startswith(prefix)), None)
        raise PlanError(f"{program} is not installed on this host" + (f": install {package}" if package else ""))


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
    _installed(p, obs)
    where, prefix, cwd = target(p, obs)
    argv = prefix + p["command"]
    how = {"command": {"argv": argv, "env": p["env"], "cwd": cwd, "restart": p["restart"]}, "target": where,
           "lab": ctx.lab}
    had = (ctx.entry("process", "", name) or {}).get("revision", "")
    if cur is None:
        tp.act(ops.START_PROCESS, "", name, "started", **how)
    elif cur.get("idle"):       # its supervisor waits to start it again after it kept dying: start afresh
        tp.act(ops.STOP_PROCESS, "", name, f"stopped its supervisor (pid {cur.get('pid')}): the process had died")
        tp.act(ops.START_PROCESS, "", name, "started", **how)
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
    elif had != p["revision"] and p["reload"]:
        tp.act(ops.RUN_COMMAND, "", p["reload"][0], f"reloaded: revision {had or '(none)'}→{p['revision']}",
               command={"argv": prefix + p["reload"], "env": p["env"], "cwd": cwd})
    elif had != p["revision"]:
        tp.act(ops.STOP_PROCESS, "", name, f"stopped: revision {had or '(none)'}→{p['revision']}")
        tp.act(ops.START_PROCESS, "", name, "started", **how)
    else:
        tp.reasons.append(f"running (pid {cur['pid']})")
    if tp.actions:      # the revision it runs with (a later run compares it)
        tp.records.append(ctx.record("process", "", name, MODULE, **({"revision": p["revision"]} if p["revision"]
                                                                    else {})))
    tp.after = {"running": True}
    return tp


def absent(record: dict) -> dict:
    return {"name": record["name"], "state": "absent"}


def exists(record: dict, obs: Observed) -> bool:
    return obs.process(record["name"]) is not None


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("process", "", p["name"])]
