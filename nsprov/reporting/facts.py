"""How `nsprov facts` looks on a terminal: one panel per host."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


MISSING = Text("missing", style="yellow")


def _links_table(links: dict) -> Table:
    t = Table(box=None, pad_edge=False, show_header=True, header_style="bold dim")
    for col in ("netns", "link", "kind", "state", "master", "addresses"):
        t.add_column(col)
    for ns, items in links.items():
        if isinstance(items, dict):  # an error observing that namespace
            t.add_row(Text(ns or "(host)"), "-", "-", Text(str(items.get("error")), style="red"), "", "")
            continue
        for i, link in enumerate(items):
            t.add_row(*(Text(str(x)) for x in (ns or "(host)" if i == 0 else "", link["name"], link["kind"],
                                               link["state"], link.get("master") or "",
                                               " ".join(link["addresses"]))))
    return t


def _has(kinds) -> str:
    """What the kernel has, then what it lacks: "veth bridge (lacks: vlan)"."""
    if not kinds:
        return "could not be asked"
    lacks = [k for k, v in kinds.items() if not v]
    return " ".join(k for k, v in kinds.items() if v) + (f"  (lacks: {' '.join(lacks)})" if lacks else "")


def render_facts(host: str, facts: dict) -> Panel:
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    fw = facts["iptables"]
    rows = [
        ("hostname", facts["hostname"]),
        ("kernel", f"{facts['kernel']} ({facts['machine']})"),
        ("python", facts["python"]),
        ("namespace kinds", " ".join(facts["namespace_kinds"])),
        ("link kinds", _has(facts.get("link_kinds"))),
        ("qdiscs", _has(facts.get("qdiscs"))),
        ("user.max_user_namespaces", str(facts["max_user_namespaces"])),
        ("nft", facts["nft"]["version"] or MISSING),
        ("iptables", f"{fw['version']} (backend {fw['backend']})" if fw["version"] else MISSING),
        ("ip_forward", str(facts["ip_forward"])),
        ("named netns", " ".join(facts["netns"]) or "-"),
        ("managed by nsprov", f"{len(facts['managed'])} object(s)"),
    ]
    for k, v in rows:
        summary.add_row(k, v if isinstance(v, Text) else Text(v))
    return Panel(Group(summary, Text(""), _links_table(facts["links"])), title=Text(host, style="bold"),
                 title_align="left")
