"""Every kind's planning, one file each, listed by the registry (nsprov/model/kinds): how a task
is planned, present and absent, and how a recorded object is checked and removed (destroy and
prune plan its `absent` task). With the model's entry (nsprov/model/kinds/KIND.py) that is all a
kind is; tests/unit/test_kinds.py fails when a piece is missing.

A resource module has: MODULE, RECORDS (the ledger kinds it records), plan(params, observed,
context) -> TaskPlan, keys(params, observed, context) -> the ledger entries a present task
stands for (what no task stands for any more is removed by `run`), and for its records
absent(record) -> params and exists(record, obs). It may declare:
- DIES_WITH: what its objects die with besides their netns, as data: (ledger kind, the record's
  field naming the other object's netns, the field naming it). A veth end dies with its peer, a
  macvlan with its parent link. Destroy order, what goes with a deleted link or netns (in the
  plan and in check mode), and which records a deletion forgets all read it (lifetimes below).
- CONTAINER: other objects go with its objects (a destroy plans their removal first).
- GIVEN_BACK: its objects are not nsprov's (an interface moved into a netns): the deletion of
  their netns plans their return first.
- INTERNAL: planned from records only, not a playbook module.
- CLAIMS(record): for a record written before records named their module, whether it is this
  resource's (when several resources record that ledger kind).
"""

from __future__ import annotations

from importlib import import_module

from nsprov.model.kinds import REGISTRY

__all__ = ["CONTAINERS", "INTERNAL", "RESOURCES", "module_of"]

RESOURCES: dict = {name: import_module(f"{__name__}.{name}") for name in (*REGISTRY, "nft_table")}
INTERNAL = tuple(m for m, r in RESOURCES.items() if getattr(r, "INTERNAL", False))
CONTAINERS = tuple(m for m, r in RESOURCES.items() if getattr(r, "CONTAINER", False))


def module_of(record: dict) -> str:
    """The resource that removes a recorded object."""
    if record.get("module"):
        return record["module"]
    mine = [r for r in RESOURCES.values() if record["kind"] in r.RECORDS]
    return next(r for r in mine if getattr(r, "CLAIMS", None) is None or r.CLAIMS(record)).MODULE
