"""What the kernel holds per namespace beyond links and routes that nsprov keeps whole: the lab's
packet filter (an nftables table of family inet, one per netns) and the queueing discipline at
the root of a link (netem or tbf). Each is read as plain data, replaced whole in one step (one
`nft -f` transaction; one `tc qdisc replace`), and removed; undo puts back what was read.

Both are changed by the programs the host has (`nft`, `tc`), run inside the target netns, as
nat's rules are (kernel/nft.py): their netlink formats are large, and a program's own parser is
the one users compare with.
"""

from __future__ import annotations

import errno
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


# ------------------------------------------------------------------ a link's root qdisc
QDISC_FIELDS = ("delay", "jitter", "correlation", "loss", "duplicate", "corrupt", "reorder", "rate", "limit")


def tc_args(q: dict) -> list:
    """`tc qdisc replace ... root` arguments for Q {kind, delay (us), jitter, correlation (%), loss,
    duplicate, corrupt, reorder (%), rate (bit/s), limit (packets), distribution}."""
    if q["kind"] == "tbf":
        rate = q["rate"]
        return ["tbf", "rate", f"{rate}bit", "burst", str(max(rate // 8 // 50, 4 * 1514)), "latency", "50ms"]
    out = ["netem"]
    if q.get("delay"):
        out += ["delay", f"{q['delay']}us"]
        if q.get("jitter"):
            out.append(f"{q['jitter']}us")
            if q.get("correlation"):
                out.append(f"{q['correlation']:g}%")
            if q.get("distribution"):
                out += ["distribution", q["distribution"]]
    out += [x for k in ("loss", "duplicate", "corrupt", "reorder") if q.get(k) for x in (k, f"{q[k]:g}%")]
    if q.get("rate"):
        out += ["rate", f"{q['rate']}bit"]
    return out + ["limit", str(q.get("limit") or 1000)]


def qdisc_from_tc(item: Optional[dict]) -> Optional[dict]:
    """A root qdisc as `tc -j qdisc show` gives it, as plain data; None for the kernel's default
    (none, or one the kernel attached itself: handle 0:)."""
    if item is None or item.get("handle") in (None, "0:"):
        return None
    o, kind = item.get("options") or {}, item["kind"]
    if kind == "tbf":
        return {"kind": "tbf", "rate": int(o.get("rate", 0)) * 8}
    if kind != "netem":
        return {"kind": kind, "handle": item["handle"]}
    delay = o.get("delay") or {}
    pct = lambda section, key: round(float((o.get(section) or {}).get(key, 0)) * 100, 4)   # noqa: E731
    return {"kind": "netem", "delay": round(float(delay.get("delay", 0)) * 1e6),
            "jitter": round(float(delay.get("jitter", 0)) * 1e6), "correlation": pct("delay", "correlation"),
            "loss": pct("loss-random", "loss"), "duplicate": pct("duplicate", "duplicate"),
            "corrupt": pct("corrupt", "corrupt"), "reorder": pct("reorder", "reorder"),
            "rate": int((o.get("rate") or {}).get("rate", 0)) * 8, "limit": int(o.get("limit", 1000))}


def same_qdisc(a: Optional[dict], b: Optional[dict]) -> bool:
    """A and B hold the same discipline and settings, as far as the kernel keeps them (a time to
    2 us, a rate to 0.1 %: the kernel stores them in its own units); distribution aside."""
    if a is None or b is None or a["kind"] != b["kind"]:
        return a is None and b is None
    for k in QDISC_FIELDS:
        x, y = a.get(k) or 0, b.get(k) or 0
        tolerance = 2 if k in ("delay", "jitter") else 0.001 * max(x, y) if k == "rate" else 0.001
        if k == "limit" and a["kind"] == "netem":
            x, y = x or 1000, y or 1000
        if abs(x - y) > tolerance:
            return False
    return True


class Qdiscs:
    """Mixed into the Kernel (kernel/__init__.py), beside Policies."""

    def read_qdisc(self, ns: str, link: str) -> Optional[dict]:
        argv = ["tc", "-j", "qdisc", "show", "dev", link, "root"]
        proc = _run(ns, argv)
        if proc.returncode != 0:
            if "Cannot find device" in proc.stderr:
                return None
            raise _fail(argv, proc)
        items = json.loads(proc.stdout or "[]")
        return qdisc_from_tc(items[0] if items else None)

    def set_qdisc(self, ns: str, name: str, qdisc: dict) -> None:
        argv = ["tc", "qdisc", "replace", "dev", name, "root", *tc_args(qdisc)]
        proc = _run(ns, argv)
        if proc.returncode != 0:
            raise _no_device(proc) or _fail(argv, proc)

    def remove_qdisc(self, ns: str, name: str) -> None:
        """Back to the kernel's default; nothing to do when it has that already."""
        argv = ["tc", "qdisc", "del", "dev", name, "root"]
        proc = _run(ns, argv)
        if proc.returncode != 0 and not any(s in proc.stderr for s in (
                "handle of zero", "No such file or directory", "Invalid handle")):
            raise _no_device(proc) or _fail(argv, proc)


def _no_device(proc) -> Optional[OSError]:
    if "Cannot find device" in proc.stderr:
        return OSError(errno.ENODEV, proc.stderr.strip())
    return None
