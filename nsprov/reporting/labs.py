"""How `nsprov labs` looks on a terminal: one row per lab per host."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text


def render_labs(rows: dict, results: dict) -> Table:
    table = Table(title="LABS", title_justify="left", title_style="bold")
    for col in ("host", "lab", "playbook", "made by", "updated", "objects", "persists"):
        table.add_column(col, overflow="fold")
    for host, labs in rows.items():
        r = results[host]
        if r.status != "ok":
            table.add_row(Text(host), Text(r.status.upper(), style="bold red"), Text(r.error or ""), "", "", "", "")
            continue
        if not labs:
            table.add_row(Text(host), Text("-", style="dim"), "", "", "", "", "")
        for name, meta in labs.items():
            path = Text(meta.get("playbook") or "(not known: made before labs were recorded)")
            if meta.get("playbook_exists") is False:
                path.append("  (gone from this controller)", style="bold yellow")
            elif meta.get("playbook_exists") is None and meta.get("playbook"):
                path.append(f"  (on {meta.get('controller')})", style="dim")
            who = f"{meta.get('user')}@{meta.get('controller')}" if meta.get("controller") else "-"
            updated = Text(meta.get("updated") or "-")
            if meta.get("rebooted_since") and not meta.get("persist"):
                updated.append("  (the host rebooted since: what it made is gone)", style="bold yellow")
            table.add_row(Text(host), Text(name, style="bold"), path, Text(who), updated,
                          Text(str(meta.get("objects", 0))), persists(meta.get("persist")))
    return table


def persists(kept) -> Text:
    """A lab's persistence as `labs` shows it: no; yes (and how its last restore went)."""
    if not kept:
        return Text("no", style="dim")
    result = kept.get("result")
    if result is None:
        return Text("yes (not restored yet)")
    out = Text("yes: ")
    out.append(f"{result} {kept.get('when', '')}", style="green" if result == "restored" else "bold red")
    if kept.get("repaired"):
        out.append(f", repaired by a run {kept['repaired']}", style="green")
    for f in kept.get("failed") or []:
        out.append(f"\n  failed: {f['task']}: {f['reason']}")
    return out


def render_nodes(rows: dict, results: dict) -> Table:
    """`nsprov labs --nodes`: one row per namespace of each lab, as `containerlab inspect` lists."""
    table = Table(title="NODES", title_justify="left", title_style="bold")
    for col in ("host", "lab", "node", "kind", "state", "interfaces"):
        table.add_column(col, overflow="fold")
    for host, labs in rows.items():
        if results[host].status != "ok":
            table.add_row(Text(host), Text(results[host].status.upper(), style="bold red"), "", "", "", "")
            continue
        for lab, meta in labs.items():
            for node in meta.get("nodes") or []:
                links = "\n".join(f"{i['name']} {' '.join(i['addresses'])}".rstrip() for i in node["interfaces"])
                state = Text(node["state"], style="green" if node["state"] == "present" else "bold red")
                table.add_row(Text(host), Text(lab, style="bold"), Text(node["name"]), Text(node["kind"]), state,
                              Text(links))
    return table
