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


def ping_matrix(rows: list, addresses: tuple) -> dict:
    """{from node: {to node: passed}} of the ping checks among ROWS ((host, check) pairs) whose
    address is a node's (ADDRESSES: (address, node)); a pair with several addresses passes when
    every one answered."""
    node_of = dict(addresses)
    out: dict = {}
    for _, c in rows:
        src, _, rest = c["subject"].partition(" -> ")
        dst = node_of.get(rest.split(" ")[0])
        if c["check"] == "reach" and rest.endswith("(ping)") and dst is not None:
            row = out.setdefault(src, {})
            row[dst] = row.get(dst, True) and c["passed"]
    return out


def render_matrix(matrix: dict) -> Table:
    """The matrix as a table, node by node: ok, FAIL, or nothing where two nodes share no subnet."""
    nodes = sorted(set(matrix) | {d for row in matrix.values() for d in row})
    table = Table(title="PING MATRIX (from row to column)", title_justify="left", title_style="bold")
    table.add_column("from \\ to", overflow="fold")
    for n in nodes:
        table.add_column(n, overflow="fold", justify="center")
    for src in nodes:
        cells = [matrix.get(src, {}).get(dst) for dst in nodes]
        table.add_row(Text(src), *[Text("") if c is None else Text("ok", style="green") if c else
                                   Text("FAIL", style="bold red") for c in cells])
    return table
