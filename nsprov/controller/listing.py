"""What `--list-hosts`, `--list-tasks` and `--list-tags` show, as Ansible's do: the plays with
the hosts each selects, the tasks each runs (after --tags and `when`), the tags there are. From
the playbook and the inventory alone; no host is contacted. Also: which tags exist, so that a
`--tags` naming none of them is an error rather than a run of nothing."""

from __future__ import annotations

from typing import Optional

from nsprov.model.errors import did_you_mean

SPECIAL_TAGS = ("all", "always")


def tags_of(book) -> list:
    """Every tag the playbook's plays and tasks carry, sorted."""
    found = set()
    for play in book.plays:
        found.update(play.tags)
        for task in play.tasks:
            found.update(task.tags)
    return sorted(found)


def unmatched_tags(book, wanted: tuple) -> Optional[str]:
    """A message when a tag of --tags / --skip-tags is on no play or task, else None."""
    existing = tags_of(book)
    missing = [t for t in wanted if t not in existing and t not in SPECIAL_TAGS]
    if not missing:
        return None
    hint = did_you_mean(missing[0], existing) if len(missing) == 1 else ""
    return (f"{', '.join(missing)}{hint}: no play or task has {'this tag' if len(missing) == 1 else 'these tags'}; "
            f"the playbook's tags: {', '.join(existing) if existing else '(none)'}")


def _folded(names: list) -> str:
    """A loop's task names as one: `netns b0 ... netns b99 (loop: 100 items)`."""
    if len(names) == 1:
        return names[0]
    return f"{names[0]} ... {names[-1]} (loop: {len(names)} items)"


def listing(book, plans: dict, reverse: bool = False, proving: bool = False) -> dict:
    """{playbook, lab, plays: [{play, name, pattern, tags, hosts, tasks: [{name, tags, hosts,
    skipped_on}], task_tags}]}: the plays in the order the command runs them (REVERSE for
    destroy); PROVING keeps only the tasks `nsprov verify` checks."""
    from nsprov.model.kinds import MODULES
    plays = []
    for play in book.plays:
        hosts = [h for h, plan in plans.items() if play.index in plan.plays]
        tasks = []
        for task in play.tasks:
            names: list = []
            on: list = []
            skipped: list = []
            for h in hosts:
                plan = plans[h]
                mine = [e for e, origin in zip(plan.tasks, plan.origins) if origin == (play.index, task.index)]
                if proving:   # what verify checks: the tasks that prove something
                    mine = [e for e in mine if "skip" not in e and MODULES[task.module].proves(e["params"])]
                if not mine:
                    continue
                on.append(h)
                if all("skip" in e for e in mine):
                    skipped.append(h)
                if not names:
                    names = [e["name"] for e in mine]
            if on:
                tasks.append({"name": _folded(names), "module": task.module, "tags": sorted(set(play.tags) |
                              set(task.tags)), "line": task.line, "hosts": on, "skipped_on": skipped})
        plays.append({"play": play.index + 1, "name": play.name, "pattern": play.hosts, "tags": list(play.tags),
                      "hosts": hosts, "tasks": tasks,
                      "task_tags": sorted({t for task in tasks for t in task["tags"]})})
    plays = [p for p in plays if p["hosts"]]
    return {"playbook": book.path, "lab": book.lab, "plays": plays[::-1] if reverse else plays}


def render_listing(data: dict, what: set) -> str:
    """The listing as Ansible prints it: WHAT holds "hosts", "tasks" and/or "tags"."""
    lines = [f"playbook: {data['playbook']} (lab {data['lab']})"]
    for play in data["plays"]:
        lines += ["", f"  play #{play['play']} ({play['pattern']}): {play['name']}\tTAGS: [{','.join(play['tags'])}]"]
        if "hosts" in what:
            lines += [f"    pattern: {play['pattern']!r}", f"    hosts ({len(play['hosts'])}):"]
            lines += [f"      {h}" for h in play["hosts"]]
        if "tags" in what:
            lines.append(f"      TASK TAGS: [{', '.join(play['task_tags'])}]")
        if "tasks" in what:
            lines.append("    tasks:")
            for t in play["tasks"]:
                where = "" if len(t["hosts"]) == len(play["hosts"]) else f"  (on {', '.join(t['hosts'])})"
                if t["skipped_on"]:
                    where += f"  (when is false on {', '.join(t['skipped_on'])})"
                lines.append(f"      {t['name']}\tTAGS: [{','.join(t['tags'])}]{where}")
    return "\n".join(lines) + "\n"
