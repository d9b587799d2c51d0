"""The one-pass look into many namespaces (kernel/looks.py) reads what the plan reads of each
namespace one by one, on the real kernel: links, main-table routes and the survey (nftables
tables, routes in other tables, policy rules), in-process and split over forked children."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from nsprov.agent.kernel import Kernel, looks

pytestmark = pytest.mark.lab


def _ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)


@pytest.fixture
def namespaces():
    """Four throwaway netns, each holding something different, and one name with none behind."""
    names = [f"nsprov-l-{uuid.uuid4().hex[:6]}-{i}" for i in range(4)]
    for name in names:
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        a, b, c, _ = names
        _ip(a, "link", "set", "lo", "up")
        _ip(a, "link", "add", "lv0", "mtu", "1400", "type", "veth", "peer", "name", "lv1")
        _ip(a, "link", "set", "lv1", "up")
        _ip(a, "addr", "add", "10.77.0.1/24", "dev", "lv1")
        _ip(a, "route", "add", "10.78.0.0/16", "via", "10.77.0.9", "metric", "7")
        _ip(b, "link", "add", "lbr0", "type", "bridge")
        _ip(b, "link", "set", "lbr0", "up")
        _ip(b, "addr", "add", "10.79.0.1/24", "dev", "lbr0")
        _ip(b, "route", "add", "10.80.0.0/16", "dev", "lbr0", "table", "100")
        _ip(b, "rule", "add", "priority", "1000", "lookup", "100")
        subprocess.run(["ip", "netns", "exec", c, "nft", "add", "table", "inet", "theirs"], check=True)
        yield names
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def one_by_one(kernel: Kernel, name: str) -> tuple:
    ns = kernel.observe_ns(name)
    return (summary(ns), kernel.survey(name))


def summary(ns) -> tuple:
    links = {n: (x.kind, x.up, x.mtu, x.master, x.index, x.parent, x.mac, tuple(sorted(x.addresses)))
             for n, x in ns.links.items()}
    return links, {dst: r.summary() for dst, r in ns.routes.items()}


@pytest.mark.parametrize("per_worker", [1000, 1], ids=["in-process", "forked children"])
def test_one_pass_reads_what_the_plan_reads_one_by_one(namespaces, monkeypatch, per_worker):
    monkeypatch.setattr(looks, "MIN_PER_WORKER", per_worker)
    monkeypatch.setattr(looks.os, "cpu_count", lambda: 4)
    assert looks.workers_for(len(namespaces)) == (1 if per_worker > 1 else 4)
    kernel = Kernel()
    try:
        found = kernel.look_many(namespaces + ["nsprov-l-none"])
        assert sorted(found) == sorted(namespaces)        # a name with no namespace is left out
        for name in namespaces:
            assert (summary(found[name]["netns"]), found[name]["survey"]) == one_by_one(kernel, name)
        a, b, c, d = namespaces
        assert "lv0" in found[a]["netns"].links and "10.78.0.0/16" in found[a]["netns"].routes
        assert found[b]["survey"]["routes"] == [(100, "10.80.0.0/16")]
        assert found[b]["survey"]["rules"] == ["prio 1000 lookup 100 (ipv4)"]
        assert found[c]["survey"]["tables"] == [("inet", "theirs")]
        assert found[d]["survey"] == {"tables": [], "routes": [], "rules": []}
    finally:
        kernel.close()


def test_a_child_that_fails_leaves_only_its_share_unread(namespaces, monkeypatch):
    monkeypatch.setattr(looks, "MIN_PER_WORKER", 1)
    monkeypatch.setattr(looks.os, "cpu_count", lambda: 2)
    parent, share = looks.os.getpid(), looks._share

    def failing_in_children(names):
        if looks.os.getpid() != parent:
            raise OSError(5, "a child that fails")
        return share(names)
    monkeypatch.setattr(looks, "_share", failing_in_children)
    found = looks.many(namespaces)
    assert sorted(found) == sorted(namespaces[0::2])      # the agent's own share; the plan reads the rest
