"""What the kernel holds per namespace beyond links and routes that nsprov keeps whole: the lab's
packet filter (an nftables table of family inet, one per netns) and the queueing discipline at
the root of a link (netem or tbf). Each is read as plain data, replaced whole in one step (one
`nft -f` transaction; one `tc qdisc replace`), and removed; undo puts back what was read.

Both are changed by the programs the host has (`nft`, `tc`), run inside the target netns, as
nat's rules are (kernel/nft.py): their netlink formats are large, and a program's own parser is
the one users compare with.
"""

from __future__ import annotations

import json
import re
from typing import Optional

from nsprov.agent.kernel.nft import _fail, _run

FILTER_CHAINS = {"input": "input", "output": "output", "forward": "forward"}
_COMMENT = re.compile(r'\s*comment "([^"]*)"\s*$')


# ------------------------------------------------------------------ the packet filter
def render_table(table: str, chains: dict) -> str:
    """An nft script replacing table inet TABLE with CHAINS {name: {policy, rules: [{text,
    comment}]}} in one transaction (the table is made first, so deleting it cannot fail)."""
    lines = [f"table inet {table} {{}}", f"delete table inet {table}", f"table inet {table} {{"]
    for name, chain in chains.items():
        lines.append(f"  chain {name} {{")
        lines.append(f"    type filter hook {FILTER_CHAINS[name]} priority filter; policy {chain['policy']};")
        lines += [f"    {r['text']} comment \"{r['comment']}\"" for r in chain["rules"]]
        lines.append("  }")
    return "\n".join(lines + ["}", ""])


def parse_table(text: str) -> dict:
    """{chain: {policy, rules: [comment, or `(rule: TEXT)` for one without]}} of `nft list
    table` output."""
    chains: dict = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("chain ") and line.endswith("{"):
            current = chains.setdefault(line.split()[1], {"policy": "accept", "rules": []})
        elif current is None or not line or line.startswith("table "):
            continue
        elif line == "}":
            current = None
        elif line.startswith("type "):
            m = re.search(r"policy (\w+);", line)
            current["policy"] = m.group(1) if m else "accept"
        else:
            m = _COMMENT.search(line)
            current["rules"].append(m.group(1) if m else f"(rule: {line})")
    return chains


class Policies:
    """Mixed into the Kernel (kernel/__init__.py)."""

    def read_firewall(self, ns: str, table: str) -> Optional[dict]:
        """{chains, text} of table inet TABLE in NS, None when there is none."""
        argv = ["nft", "list", "table", "inet", table]
        proc = _run(ns, argv)
        if proc.returncode != 0:
            if "No such file or directory" in proc.stderr:
                return None
            raise _fail(argv, proc)
        return {"chains": parse_table(proc.stdout), "text": proc.stdout}

    def set_firewall(self, ns: str, name: str, table: dict) -> None:
        """Table inet NAME as TABLE says: its CHAINS, or the TEXT an earlier read gave (undo)."""
        script = (f"table inet {name} {{}}\ndelete table inet {name}\n{table['text']}" if table.get("text")
                  else render_table(name, table["chains"]))
        argv = ["nft", "-f", "-"]
        proc = _run(ns, argv, stdin=script)
        if proc.returncode != 0:
            raise _fail(argv, proc)

    def remove_firewall(self, ns: str, name: str) -> None:
        argv = ["nft", "-f", "-"]
        proc = _run(ns, argv, stdin=f"delete table inet {name}\n")
        if proc.returncode != 0 and "No such file or directory" not in proc.stderr:
            raise _fail(argv, proc)
