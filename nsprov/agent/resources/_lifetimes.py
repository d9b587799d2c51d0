"""Lifetimes are data: what goes when an object goes is read from what each kind declares its
objects die with (a resource's DIES_WITH, and every object's netns), transitively, over this
lab's records (the ledger's and those this run will make). Deletions carry what they take
(Action.takes), a netns forgets what goes with it, and a destroy plans by it."""

from __future__ import annotations

def key_of(record: dict) -> tuple:
    return record["kind"], record.get("netns", ""), record["name"]


def dies_with(record: dict) -> list:
    """The objects RECORD's object dies with: its netns (as ("netns", "", NAME), whether a netns
    or a namespace set's), and what its resource declares in DIES_WITH."""
    from nsprov.agent.resources import RESOURCES, module_of
    out = [("netns", "", record["netns"])] if record.get("netns") else []
    resource = RESOURCES.get(module_of(record))
    for kind, ns_field, name_field in getattr(resource, "DIES_WITH", ()):
        if record.get(name_field):
            out.append((kind, record.get(ns_field) or "", record[name_field]))
    return out


class Lifetimes:
    """Which records go when an object goes, by the declarations (dies_with): fed records, asked
    for everything that dies with a key, transitively (a veth end outside a netns goes with the
    netns its peer is in; a macvlan on that end goes too)."""

    def __init__(self, records=()):
        self._on: dict = {}       # key -> records that die with it
        for e in records:
            self.add(e)

    def add(self, record: dict) -> None:
        for key in dies_with(record):
            self._on.setdefault(key, []).append(record)

    def going_with(self, key: tuple) -> list:
        """Every record whose object dies when KEY's object goes (not KEY's own)."""
        out, seen, todo = [], {key}, [key]
        while todo:
            for e in self._on.get(todo.pop(), ()):
                k = key_of(e)
                if k not in seen:
                    seen.add(k)
                    out.append(e)
                    todo.append(k)
        return out


def going_with(ctx, key: tuple) -> list:
    """This lab's records of what goes when the object KEY (ledger kind, netns, name) goes. The
    index is kept in CTX (planning.Context.derived) and follows the records this run adds."""
    cache = ctx.derived.get("lifetimes")
    if cache is None:
        cache = ctx.derived["lifetimes"] = [Lifetimes(ctx.ledger.owned_by(ctx.lab)), 0]
    for e in ctx.pending[cache[1]:]:
        cache[0].add(e)
    cache[1] = len(ctx.pending)
    return cache[0].going_with(key)


def inside(ctx, netns: str) -> list:
    """What goes with NETNS: what is in it, and what dies with that (a veth end elsewhere)."""
    return going_with(ctx, ("netns", "", netns))


def links_going_with(ctx, key: tuple) -> tuple:
    """(netns, name) of the links that go when KEY's object goes: what an action deleting it
    takes with it (Action.takes), so the plan's view of the host follows the kernel."""
    return tuple((e.get("netns", ""), e["name"]) for e in going_with(ctx, key) if e["kind"] == "link")
