"""Every kind's planning, one file each: how a task is planned, present and absent, and how a
recorded object is checked and removed (destroy and prune plan its `absent` task). With the
model's entry (nsprov/model/kinds/KIND.py) that is all a kind is; tests/unit/test_kinds.py fails
when a piece is missing.

A resource module has: MODULE, RECORDS (the ledger kinds it records), plan(params, observed,
context) -> TaskPlan, keys(params, observed, context) -> the ledger entries a present task
stands for (what no task stands for any more is removed by `run`), and for its records
absent(record) -> params and exists(record, obs).
"""

from __future__ import annotations

from nsprov.agent.resources import (address, bridge, exec, namespace, nat, netns, nft_table, port_forward,
                                    process, route, sysctl, verify, veth)

RESOURCES: dict = {r.MODULE: r for r in (netns, bridge, veth, address, route, sysctl, nat, port_forward,
                                         namespace, process, exec, verify, nft_table)}
INTERNAL = ("nft_table",)          # planned from records only; not a playbook module
RECORD_MODULES: dict = {            # a record written before records named their module
    "netns": "netns", "nsset": "namespace", "address": "address", "route": "route", "sysctl": "sysctl",
    "process": "process", "fw_table": "nft_table"}


def module_of(record: dict) -> str:
    """The resource that removes a recorded object."""
    if record.get("module"):
        return record["module"]
    if record["kind"] == "link":
        return "veth" if record.get("peer") else "bridge"
    if record["kind"] == "fw_rule":
        return "port_forward" if record["name"].split(" ", 1)[0] in ("dnat", "dnat-local", "hairpin") else "nat"
    return RECORD_MODULES[record["kind"]]
