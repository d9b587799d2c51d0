"""exec: plan a one-shot command inside a namespace set or netns. It records nothing."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Context, TaskPlan
from nsprov.agent.resources._commands import target
from nsprov.agent.state import Observed

MODULE = "exec"
RECORDS = ()


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp = TaskPlan()
    _, prefix, cwd = target(p, obs)
    check = prefix + ["test", "-e", p["creates"]] if p["creates"] and prefix else None
    tp.act(ops.RUN_COMMAND, "", p["command"][0], f"ran {p['command'][0]}",
           command={"argv": prefix + p["command"], "env": p["env"], "cwd": cwd, "creates": p["creates"],
                    "creates_check": check, "changed": p["changed_when"],
                    "fails": p["failed_when"]})
    return tp


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return []
