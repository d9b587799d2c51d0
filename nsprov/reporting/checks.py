"""How verification looks: one table of checks per run (host, check, subject, expected, observed)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text


def render_checks(rows: list) -> Table:
    """rows: (host, check-event) pairs."""
    table = Table(title="VERIFY", title_justify="left", title_style="bold")
    for col in ("host", "check", "subject", "expected", "observed", "result"):
        table.add_column(col, overflow="fold")
    for host, c in rows:
        table.add_row(Text(host), Text(c["check"]), Text(c["subject"]), Text(str(c["expected"])),
                      Text(str(c["observed"])),
                      Text("pass", style="green") if c["passed"] else Text("FAIL", style="bold red"))
    return table
