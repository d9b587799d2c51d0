"""The topology a playbook declares, per host: what `nsprov graph` draws.

Built from the resolved host plans (templates, loops, --limit and --tags applied, every
parameter validated), so the picture is of exactly what `nsprov run` would build, before
anything is deployed. Each kind adds its part (`Kind.draw`, on nsprov.model.topology's
HostTopology).
"""

from __future__ import annotations

from nsprov.model.kinds import MODULES
from nsprov.model.topology import HOST, Edge, HostTopology, Node

__all__ = ["HOST", "Edge", "HostTopology", "Node", "host_topology", "topology"]


def host_topology(host: str, tasks: list) -> HostTopology:
    """The topology of one host's resolved tasks (request task dicts)."""
    t = HostTopology(host)
    t.ns_node("")
    for task in tasks:
        if task.get("params") is not None:   # skipped by `when`: nothing to draw
            MODULES[task["module"]].draw(task["params"], t)
    return t


def topology(plans: dict) -> list:
    """HostTopology per host of {host: HostPlan}, in inventory order."""
    return [host_topology(host, plan.tasks) for host, plan in plans.items()]
