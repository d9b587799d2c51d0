"""bridge: plan a Linux bridge in any netns, present or absent, and remove a recorded one."""

from __future__ import annotations

from nsprov.agent import ops
from nsprov.agent.planning import Context, TaskPlan
from nsprov.agent.resources._links import link_exists, plan_lone
from nsprov.agent.state import Observed

MODULE = "bridge"
RECORDS = ("link",)


def CLAIMS(record: dict) -> bool:
    return not record.get("peer")


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    def make(tp: TaskPlan) -> None:
        tp.act(ops.ADD_BRIDGE, p["netns"], p["name"], f"created bridge {p['name']}", mtu=p["mtu"], stp=p["stp"],
               up=p["up"], alias=ctx.mark)
    return plan_lone(p, obs, ctx, MODULE, make, {"stp": p["stp"]})


def absent(record: dict) -> dict:
    return {"name": record["name"], "netns": record.get("netns", ""), "state": "absent"}


exists = link_exists


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("link", p["netns"], p["name"])]
