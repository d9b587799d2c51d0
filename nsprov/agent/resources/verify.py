"""verify: the checks of a verify task, run once the tasks before it are done. A failed check
fails the task; it does not undo the build. It records nothing."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Context, TaskPlan
from nsprov.agent.state import Observed

MODULE = "verify"
RECORDS = ()
RUNS_IN_CHECK_MODE = False


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp = TaskPlan()
    tp.act(ops.RUN_CHECKS, "", "verify", "checks", checks=p)
    return tp


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return []
