"""The engine on the fake kernel (held to the real one by test_kernel_contract.py) and a real
ledger in a scratch directory: a netns loop is one concurrent batch reported task by task; a
failure rolls back and the ledger keeps exactly what the kernel holds; destroy removes all and
forgets all; a refused destroy keeps every record."""

from __future__ import annotations

import errno

import pytest

from nsprov.agent import requests
from nsprov.agent.kernel.fake import FakeKernel
from nsprov.agent.ledger import Ledger
from nsprov.model import protocol


class BatchingFake(FakeKernel):
    def __init__(self):
        super().__init__()
        self.batches = []

    def ensure_netns_many(self, names, workers=2):
        self.batches.append([n for n, _ in names])
        return super().ensure_netns_many(names, workers)


@pytest.fixture()
def ledger(tmp_path):
    with Ledger.open(str(tmp_path / "state")) as opened:
        yield opened


def apply(kernel, ledger, tasks: list, op: str = "apply", **req) -> tuple:
    events: list = []
    tasks = [{"index": i, **t} for i, t in enumerate(tasks)]
    request = (protocol.apply_request("book", [protocol.phase(0, tasks=tasks)], **req) if op == "apply"
               else protocol.destroy_request("book", **req))
    ok = (requests.apply_request if op == "apply" else requests.destroy_request)(request, events.append, ledger, kernel)
    return ok, events


def tasks_of(events: list) -> list:
    return [(e["index"], e["status"]) for e in events if e["event"] == "task"]


def netns_tasks(names: list) -> list:
    return [{"module": "netns", "params": {"name": n}} for n in names]


def test_a_netns_loop_is_one_batch_reported_task_by_task_in_order(ledger):
    kernel = BatchingFake()
    names = [f"b{i}" for i in range(10)]
    ok, events = apply(kernel, ledger, netns_tasks(names))
    assert ok and kernel.batches == [names]
    assert tasks_of(events) == [(i, "changed") for i in range(10)]
    assert set(kernel.namespaces) == {"", *names}


def test_a_failure_in_a_batch_undoes_the_namespaces_made_before_and_ahead_of_it(ledger):
    kernel = BatchingFake()
    kernel.fail[("ensure_netns", "b3")] = errno.ENOMEM
    names = [f"b{i}" for i in range(8)]
    ok, events = apply(kernel, ledger, netns_tasks(names))
    # reported as a serial run would: three done, the fourth failed, nothing after it
    assert not ok and tasks_of(events) == [(0, "changed"), (1, "changed"), (2, "changed"), (3, "failed")]
    assert "Cannot allocate memory" in [e for e in events if e["event"] == "task"][-1]["reason"]
    rollback = next(e for e in events if e["event"] == "rollback")
    assert sorted(rollback["undone"]) == sorted(f"netns.delete {n}" for n in names if n != "b3")
    assert rollback["errors"] == [] and set(kernel.namespaces) == {""}
    assert ledger.objects == []          # nothing is left, and nothing is recorded


def test_a_single_netns_task_is_not_batched(ledger):
    kernel = BatchingFake()
    apply(kernel, ledger, netns_tasks(["solo"]))
    assert kernel.batches == [] and ("ensure_netns", "", "solo") in kernel.calls


LAB = [
    {"module": "bridge", "params": {"name": "br0", "addresses": ["10.2.0.1/24"]}},
    {"module": "netns", "params": {"name": "red"}},
    {"module": "veth", "params": {"name": "br0-red", "bridge": "br0", "peer": "eth0", "peer_netns": "red",
                                  "peer_addresses": ["10.2.0.2/24"]}},
    {"module": "route", "params": {"netns": "red", "to": "default", "via": "10.2.0.1"}},
    {"module": "sysctl", "params": {"name": "net.ipv4.ip_forward", "value": "1"}},
    {"module": "nat", "params": {"source": "10.2.0.0/24", "out_interface": "eth0"}},
    {"module": "process", "params": {"name": "web", "netns": "red", "command": ["sleep", "60"]}},
]


def test_run_twice_then_destroy_leaves_nothing_and_no_record(ledger):
    kernel = FakeKernel()
    ok, events = apply(kernel, ledger, LAB)
    assert ok and all(s == "changed" for _, s in tasks_of(events))
    ok, events = apply(kernel, ledger, LAB)
    assert ok and all(s == "ok" for _, s in tasks_of(events))
    ok, events = apply(kernel, ledger, [], op="destroy")
    assert ok
    tasks = [e for e in events if e["event"] == "task"]
    assert len(tasks) == len(LAB) + 1            # one per object (the table too), not one per record
    assert set(kernel.namespaces) == {""} and set(kernel.namespaces[""]["links"]) == {"lo"}
    assert kernel.rules == {} and kernel.procs == {} and kernel.read_sysctl("", "net.ipv4.ip_forward") == "0"
    assert ledger.owned_by("book") == []


def test_check_mode_of_destroy_changes_nothing(ledger):
    kernel = FakeKernel()
    apply(kernel, ledger, LAB)
    before = (repr(kernel.namespaces), repr(kernel.rules), list(ledger.objects))
    ok, events = apply(kernel, ledger, [], op="destroy", check=True)
    assert ok and all(e.get("check") for e in events if e["event"] == "task")
    assert (repr(kernel.namespaces), repr(kernel.rules), list(ledger.objects)) == before


def test_a_failure_after_changes_rolls_back_and_the_ledger_keeps_what_the_kernel_holds(ledger):
    kernel = FakeKernel()
    apply(kernel, ledger, LAB[:2])
    kernel.fail[("ensure_route", "default")] = errno.ENETUNREACH
    ok, events = apply(kernel, ledger, LAB)
    assert not ok and next(e for e in events if e["event"] == "rollback")["errors"] == []
    # what the first run made stays, recorded; what this run made is gone, and so are its records
    assert set(kernel.namespaces) == {"", "red"} and "br0-red" not in kernel.namespaces[""]["links"]
    assert sorted(e["name"] for e in ledger.owned_by("book")) == ["br0", "red"]


def test_a_destroy_refused_by_a_foreign_link_keeps_every_record_and_a_later_one_finishes(ledger):
    kernel = FakeKernel()
    apply(kernel, ledger, LAB)
    kernel.namespaces["red"]["links"]["intruder"] = {"kind": "veth", "up": True, "mtu": 1500, "master": None,
                                                     "alias": None, "addresses": [], "peer": None}
    before = list(ledger.objects)
    ok, events = apply(kernel, ledger, [], op="destroy")
    failed = [e for e in events if e["event"] == "task" and e["status"] == "failed"]
    assert not ok and "holds links nsprov did not create (intruder)" in failed[0]["reason"]
    assert ledger.objects == before and "red" in kernel.namespaces
    del kernel.namespaces["red"]["links"]["intruder"]
    ok, events = apply(kernel, ledger, [], op="destroy")
    assert ok and ledger.owned_by("book") == [] and set(kernel.namespaces) == {""}


def test_a_destroy_deletes_the_veth_ends_outside_a_netns_together_before_unpinning_it(ledger):
    """The kernel frees an unpinned namespace later, its veths with it; nsprov deletes their
    ends outside first, in one batch, so that it waits for nothing and leaves nothing."""
    kernel = FakeKernel()
    assert apply(kernel, ledger, LAB)[0]
    ok, events = apply(kernel, ledger, [], op="destroy")
    assert ok
    order = [c[0] for c in kernel.calls[-6:]]
    assert ("remove_links", "", "br0-red") in kernel.calls
    assert order.index("remove_links") < order.index("remove_netns")


def test_a_destroy_that_fails_keeps_a_true_ledger_firewall_records_too(ledger):
    """A failing task rolls back what it can; the ledger is then read from the kernel again,
    for every record the run would have removed, firewall rules included (their records say
    which table to look in: a removal names only the rule)."""
    kernel = FakeKernel()
    assert apply(kernel, ledger, LAB)[0]
    kernel.fail[("remove_netns", "red")] = 16      # EBUSY
    ok, events = apply(kernel, ledger, [], op="destroy")
    assert not ok
    failed = [e for e in events if e["event"] == "task" and e["status"] == "failed"]
    assert len(failed) == 1 and "red" in failed[0]["name"]
    kinds = {(e["kind"], e["name"]) for e in ledger.owned_by("book")}
    assert ("netns", "red") in kinds                       # still there, still recorded
    for e in ledger.owned_by("book"):                      # every record left has its object
        if e["kind"] == "fw_rule":
            assert e["name"] in (kernel.rules.get(("", e["table"])) or {})
