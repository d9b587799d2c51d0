"""Host patterns as Ansible has them: `all`, `lab1`, `lab*`, `~re`, `lab[0:1]`, `a:b`, `a,b`,
`web:&prod` (intersection), `!db` (exclusion). Unions apply first, then intersections, then
exclusions; the result keeps inventory order."""

from __future__ import annotations

import fnmatch
import re

from nsprov.controller.inventory import Inventory

_SUBSCRIPT = re.compile(r"^(.+?)\[(-?\d+)(?:(:)(-?\d*))?\]$")


class PatternError(ValueError):
    pass


def split_pattern(pattern: str) -> list[str]:
    """Split on ',' if present, else on ':' outside brackets (`lab[0:1]` stays whole)."""
    if "," in pattern:
        return [p.strip() for p in pattern.split(",") if p.strip()]
    parts, depth, cur = [], 0, ""
    for ch in pattern:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == ":" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _match_term(inv: Inventory, term: str) -> list[str]:
    m = _SUBSCRIPT.match(term)
    if m and not term.startswith("~"):
        base, start, colon, end = m.groups()
        hosts = _match_term(inv, base)
        a = int(start)
        if not colon:
            return [hosts[a]] if -len(hosts) <= a < len(hosts) else []
        b = int(end) if end else len(hosts) - 1
        if a < 0:
            a += len(hosts)
        if b < 0:
            b += len(hosts)
        return hosts[a:b + 1]
    if term.startswith("~"):
        rx = re.compile(term[1:])
        groups = [g for g in inv.groups if rx.match(g)]
        hosts = [h for h in inv.hosts if rx.match(h)]
    elif term in ("all", "*"):
        return inv.group_hosts("all")
    elif term in inv.groups:
        return inv.group_hosts(term)
    elif term in inv.hosts:
        return [term]
    else:
        groups = [g for g in inv.groups if fnmatch.fnmatchcase(g, term)]
        hosts = [h for h in inv.hosts if fnmatch.fnmatchcase(h, term)]
    out: list[str] = []
    for g in groups:
        out += [h for h in inv.group_hosts(g) if h not in out]
    out += [h for h in hosts if h not in out]
    return out


def select_hosts(inv: Inventory, pattern: str) -> list[str]:
    """Hosts matching an Ansible host pattern, in inventory order."""
    terms = split_pattern(pattern)
    if not terms:
        raise PatternError(f"empty host pattern {pattern!r}")
    union: set[str] = set()
    plain = [t for t in terms if t[0] not in "&!"]
    for t in plain or ["all"]:
        union |= set(_match_term(inv, t))
    for t in (t for t in terms if t.startswith("&")):
        union &= set(_match_term(inv, t[1:]))
    for t in (t for t in terms if t.startswith("!")):
        union -= set(_match_term(inv, t[1:]))
    return [h for h in inv.group_hosts("all") if h in union]
