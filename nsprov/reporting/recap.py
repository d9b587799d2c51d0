"""The recap: per host, how many tasks were ok / changed / failed / skipped, Ansible's way
(`ok` counts every task that succeeded, changed or not)."""

from __future__ import annotations


def recap_counts(outcome) -> dict:
    counts = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": outcome.status == "unreachable"}
    for ev in outcome.events:
        if ev.get("event") != "task":
            continue
        status = ev.get("status")
        if status in ("ok", "changed"):
            counts["ok"] += 1
            counts["changed"] += status == "changed"
        elif status == "failed":
            counts["failed"] += 1
        elif status == "skipped":
            counts["skipped"] += 1
    if outcome.status == "failed" and counts["failed"] == 0:
        counts["failed"] = 1     # the agent itself failed (bootstrap, lock, protocol)
    return counts


def recap_event(results: dict) -> dict:
    return {"event": "recap", "hosts": {h: recap_counts(r) for h, r in results.items()}}
