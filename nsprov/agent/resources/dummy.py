"""dummy: plan a dummy interface in any netns, present or absent, and remove a recorded one."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Context, TaskPlan
from nsprov.agent.resources._links import link_exists, plan_lone
from nsprov.agent.state import Observed

MODULE = "dummy"
RECORDS = ("link",)


def CLAIMS(record: dict) -> bool:
    return False       # every dummy record names its module


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    def make(tp: TaskPlan) -> None:
        tp.act(ops.ADD_LINK, p["netns"], p["name"], f"created dummy {p['name']}", kind=MODULE,
               link={"mtu": p["mtu"], "up": p["up"], "alias": ctx.mark}, data=[])
    return plan_lone(p, obs, ctx, MODULE, make, {})


def absent(record: dict) -> dict:
    return {"name": record["name"], "netns": record.get("netns", ""), "state": "absent"}


exists = link_exists


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("link", p["netns"], p["name"])]
