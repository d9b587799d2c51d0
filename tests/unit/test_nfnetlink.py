"""nftables over netlink (kernel/nfnl.py) on the real kernel, in a throwaway netns, checked
against the `nft` program itself: the tables, chains and rules nsprov tells apart (name, handle,
comment) are what `nft -j -a list` shows, and a deletion takes exactly the tables named, in one
transaction."""

from __future__ import annotations

import json
import subprocess

import pytest

from nsprov.agent.kernel import nfnl
from nsprov.agent.kernel.nft import Nft

pytestmark = pytest.mark.lab

RULES = {
    "masquerade lab": {"type": "masquerade", "source": "10.240.0.0/16", "oif": "eth0"},
    "forward 8080 'x' ü": {"type": "dnat", "proto": "tcp", "dport": 8080, "to": "10.240.0.2:80", "hook": "prerouting"},
    "v6": {"type": "masquerade", "source": "fd00::/64", "oif": "eth0"},
    "k" * 120: {"type": "dnat", "proto": "udp", "dport": 53, "to": "10.240.0.3:53", "hook": "output"},
}


def nft(ns: str, script: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script, text=True, check=True)


def nft_listing(ns: str, family: str, table: str) -> tuple:
    """(chains, rules) of one table as `nft -j -a` shows them: the oracle."""
    out = subprocess.run(["ip", "netns", "exec", ns, "nft", "-j", "-a", "list", "table", family, table],
                         capture_output=True, text=True, check=True).stdout
    items = json.loads(out)["nftables"]
    chains = sorted((i["chain"]["name"], i["chain"]["handle"]) for i in items if "chain" in i)
    rules = [(i["rule"]["chain"], i["rule"]["handle"], i["rule"].get("comment")) for i in items if "rule" in i]
    return chains, rules


def test_tables_chains_and_rules_read_as_nft_shows_them(scratch_netns):
    ns = scratch_netns
    Nft().add_rules(ns, "nsprov_t", RULES)
    nft(ns, "add rule ip nsprov_t postrouting ip daddr 10.9.9.9 accept\n"      # no comment: not nsprov's
            "add chain ip nsprov_t theirs\nadd table inet other\nadd chain inet other c\n")
    assert nfnl.tables(ns) == [("inet", "other"), ("ip", "nsprov_t"), ("ip6", "nsprov_t")]
    for family in ("ip", "ip6"):
        chains, rules = nft_listing(ns, family, "nsprov_t")
        assert sorted(nfnl.chains(ns, family, "nsprov_t")) == chains
        assert nfnl.rules(ns, family, "nsprov_t") == rules
    assert nfnl.rules(ns, "inet", "nsprov_t") == [] and nfnl.chains(ns, "inet", "other") == [("c", 1)]
    found = Nft().list_rules(ns, "nsprov_t")
    assert set(RULES) <= set(found) and found["v6"]["family"] == "ip6"
    foreign = sorted(k for k in found if k not in RULES)
    assert len(foreign) == 2 and foreign[0] == "(chain theirs)" and foreign[1].startswith("(rule in postrouting handle ")
    assert Nft().list_rules(ns, "nope") is None


def test_a_deletion_takes_the_tables_named_and_nothing_else(scratch_netns):
    ns = scratch_netns
    Nft().add_rules(ns, "nsprov_t", RULES)
    nft(ns, "add table inet nsprov_t\nadd table ip keep\n")
    Nft().delete_table(ns, "nsprov_t")          # its ip and ip6 halves, with their rules
    assert nfnl.tables(ns) == [("inet", "nsprov_t"), ("ip", "keep")]
    Nft().delete_table(ns, "nsprov_t")          # gone: nothing to do
    # one transaction: a name that is not there fails it, and the table that is there stays
    with pytest.raises(OSError) as err:
        nfnl.delete_tables(ns, [("ip", "keep"), ("ip6", "keep")])
    assert err.value.errno == 2
    assert ("ip", "keep") in nfnl.tables(ns)
    nfnl.delete_tables(ns, [("ip", "keep"), ("inet", "nsprov_t")])
    assert nfnl.tables(ns) == []
