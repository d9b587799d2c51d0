"""NAT and port forwards, in a table nsprov owns: nftables, or iptables where nft is missing.

Rules are plain dicts (backend-neutral); each carries its key as a comment, so nsprov finds and
removes exactly its own rules and never touches anyone else's. With nft, each playbook owner
gets its own table (`ip nsprov_<owner>`), changed in one `nft -f` transaction; with iptables,
rules sit in the nat table's built-in chains tagged `nsprov:<table>:<key>`.
Commands run inside the target network namespace (a short-lived child that inherits it).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from typing import Optional

from nsprov.agent.kernel import netns


class FirewallError(OSError):
    pass


def which(program: str) -> Optional[str]:
    """The program's path on PATH, as shutil.which (whose import, with bz2 and lzma, costs the
    agent ~2 ms on every run)."""
    for directory in os.get_exec_path():
        path = os.path.join(directory, program)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _run(ns: str, argv: list, stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    with netns.entered(ns):
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    return proc


def _fail(argv: list, proc: subprocess.CompletedProcess) -> FirewallError:
    tail = " ".join(proc.stderr.strip().splitlines()[-3:])
    return FirewallError(f"`{' '.join(argv)}` failed: {tail}")


# ------------------------------------------------------------------ nftables
FAMILIES = ("ip", "ip6")     # IPv4 rules in table ip NAME, IPv6 ones in table ip6 NAME
_CHAINS = {
    "prerouting": "type nat hook prerouting priority -100; policy accept;",
    "output": "type nat hook output priority -100; policy accept;",
    "postrouting": "type nat hook postrouting priority 100; policy accept;",
}


def _q(text: str) -> str:
    return '"' + text.replace('"', "") + '"'


def family_of(rule: dict) -> str:
    """The nft family a backend-neutral rule belongs to: ip6 for IPv6 addresses, ip otherwise."""
    return "ip6" if ":" in (rule.get("source") or rule.get("daddr") or rule.get("to", "").rsplit(":", 1)[0]) else "ip"


def nft_rule(rule: dict) -> tuple[str, str]:
    """(chain, rule text) for one backend-neutral rule, in its family's table."""
    t, fam = rule["type"], family_of(rule)
    if t == "masquerade":
        return "postrouting", f"{fam} saddr {rule['source']} oifname {_q(rule['oif'])} masquerade"
    if t == "dnat":
        match = f"{rule['proto']} dport {rule['dport']} dnat to {rule['to']}"
        if rule["hook"] == "output":
            return "output", f"fib daddr type local {match}"
        iif = f"iifname {_q(rule['iif'])} " if rule.get("iif") else ""
        return "prerouting", f"{iif}{match}"
    if t == "hairpin":
        return "postrouting", (f"{fam} saddr {rule['source']} {fam} daddr {rule['daddr']} {rule['proto']} dport "
                               f"{rule['dport']} ct status dnat masquerade")
    raise ValueError(f"unknown rule type {t!r}")


class Nft:
    name = "nftables"

    def list_rules(self, ns: str, table: str) -> Optional[dict]:
        """{key: {chain, handle, family}} of the table's rules (its ip and ip6 halves), or None when
        neither exists. What nsprov never adds is listed too, under keys no record can have: a
        rule without a comment as `(rule in CHAIN handle N)`, a chain of another name as `(chain
        NAME)`."""
        from nsprov.agent.kernel import nfnl
        families = [f for f, name in nfnl.tables(ns) if name == table and f in FAMILIES]
        if not families:
            return None
        out: dict = {}
        for family in families:
            for chain, handle in nfnl.chains(ns, family, table):
                if chain not in _CHAINS:
                    out[f"(chain {chain if family == 'ip' else family + ' ' + chain})"] = {
                        "chain": chain, "handle": handle, "family": family}
            for chain, handle, comment in nfnl.rules(ns, family, table):
                where = chain if family == "ip" else f"{family} {chain}"
                out[comment or f"(rule in {where} handle {handle})"] = {"chain": chain, "handle": handle,
                                                                        "family": family}
        return out

    def add_rules(self, ns: str, table: str, rules: dict) -> None:
        lines = []
        for family in sorted({family_of(r) for r in rules.values()}):
            lines += [f"table {family} {table} {{"] + [f"  chain {c} {{ {spec} }}" for c, spec in _CHAINS.items()]
            lines.append("}")
        for key, rule in rules.items():
            chain, text = nft_rule(rule)
            lines.append(f"add rule {family_of(rule)} {table} {chain} {text} comment {_q(key)}")
        self._apply(ns, "\n".join(lines) + "\n")

    def delete_rules(self, ns: str, table: str, keys: list) -> None:
        current = self.list_rules(ns, table) or {}
        lines = [f"delete rule {current[k]['family']} {table} {current[k]['chain']} handle {current[k]['handle']}"
                 for k in keys if k in current]
        if lines:
            self._apply(ns, "\n".join(lines) + "\n")

    def delete_table(self, ns: str, table: str) -> None:
        """The table (both halves) with whatever rules it holds; nothing if it is gone."""
        from nsprov.agent.kernel import nfnl
        names = [(f, name) for f, name in nfnl.tables(ns) if name == table and f in FAMILIES]
        try:
            nfnl.delete_tables(ns, names)
        except OSError as exc:
            raise FirewallError(f"deleting table {table}: {exc.strerror or exc}") from None

    def _apply(self, ns: str, script: str) -> None:
        argv = ["nft", "-f", "-"]
        proc = _run(ns, argv, stdin=script)
        if proc.returncode != 0:
            raise _fail(argv, proc)


# ------------------------------------------------------------------ iptables (fallback)
def iptables_rule(rule: dict) -> tuple[str, list]:
    t = rule["type"]
    if t == "masquerade":
        return "POSTROUTING", ["-s", rule["source"], "-o", rule["oif"], "-j", "MASQUERADE"]
    if t == "dnat":
        base = ["-p", rule["proto"], "--dport", str(rule["dport"]), "-j", "DNAT", "--to-destination", rule["to"]]
        if rule["hook"] == "output":
            return "OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL", *base]
        return "PREROUTING", (["-i", rule["iif"]] if rule.get("iif") else []) + base
    if t == "hairpin":
        return "POSTROUTING", ["-s", rule["source"], "-d", rule["daddr"], "-p", rule["proto"], "--dport",
                               str(rule["dport"]), "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"]
    raise ValueError(f"unknown rule type {t!r}")


class Iptables:
    name = "iptables"

    def _tag(self, table: str, key: str) -> str:
        return f"nsprov:{table}:{key}"

    def _saved(self, ns: str) -> list:
        argv = ["iptables", "-w", "-t", "nat", "-S"]
        proc = _run(ns, argv)
        if proc.returncode != 0:
            raise _fail(argv, proc)
        return proc.stdout.splitlines()

    def list_rules(self, ns: str, table: str) -> Optional[dict]:
        out = {}
        prefix = f"nsprov:{table}:"
        for line in self._saved(ns):
            if prefix not in line:
                continue
            words = shlex.split(line)
            if words[0] != "-A" or "--comment" not in words:
                continue
            tag = words[words.index("--comment") + 1]
            if tag.startswith(prefix):
                out[tag[len(prefix):]] = {"chain": words[1], "spec": words[2:]}
        return out or None

    def add_rules(self, ns: str, table: str, rules: dict) -> None:
        if any(family_of(r) == "ip6" for r in rules.values()):
            raise FirewallError("IPv6 NAT and port forwards need nftables (the nft program); this host has iptables only")
        for key, rule in rules.items():
            chain, spec = iptables_rule(rule)
            j = spec.index("-j")   # the comment match goes before the target
            argv = ["iptables", "-w", "-t", "nat", "-A", chain, *spec[:j], "-m", "comment", "--comment",
                    self._tag(table, key), *spec[j:]]
            proc = _run(ns, argv)
            if proc.returncode != 0:
                raise _fail(argv, proc)

    def delete_rules(self, ns: str, table: str, keys: list) -> None:
        current = self.list_rules(ns, table) or {}
        for key in keys:
            if key in current:
                argv = ["iptables", "-w", "-t", "nat", "-D", current[key]["chain"], *current[key]["spec"]]
                proc = _run(ns, argv)
                if proc.returncode != 0:
                    raise _fail(argv, proc)

    def delete_table(self, ns: str, table: str) -> None:
        self.delete_rules(ns, table, list((self.list_rules(ns, table) or {}).keys()))


def backend(prefer: Optional[str] = None):
    """nftables where `nft` exists (or when asked), iptables otherwise."""
    if prefer == "iptables" or (prefer is None and which("nft") is None and which("iptables")):
        return Iptables()
    return Nft()
