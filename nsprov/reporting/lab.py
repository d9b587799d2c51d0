"""How lab commands look on a terminal."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text


def render_status(hosts: list, directory: str) -> Table:
    """HOSTS: each with name, address, pid, alive, sshd_listening (lab/hosts.HostStatus)."""
    table = Table(title=f"nsprov lab in {directory}", title_justify="left")
    for col in ("host", "address", "pid", "sshd"):
        table.add_column(col)
    for h in hosts:
        sshd = (Text("alive", style="green") if h.sshd_listening else
                Text("not listening", style="yellow") if h.alive else Text("dead", style="red"))
        table.add_row(h.name, h.address, str(h.pid) if h.alive else "-", sshd)
    return table
