"""The engine carries out a run of consecutive netns tasks as one concurrent batch: events still
come one per task in order, and when one namespace in the batch fails, everything the run made
(including namespaces made ahead for later tasks) is undone. The kernel here is a fake that
keeps the set of namespaces; the real one is exercised by every lab test with a netns loop."""

from __future__ import annotations

from nsprov.agent import engine
from nsprov.agent.state import Namespace, Observed
from nsprov.model.errors import KernelError


class FakeLedger:
    def __init__(self):
        self.intents, self.done, self.forgotten = [], [], []

    def find(self, kind, ns, name):
        return None

    def record_intents(self, records):
        self.intents += records

    def mark_done(self, records):
        self.done += records

    def forget(self, records):
        self.forgotten += records

    def owned_by(self, owner):
        return []


class FakeKernel:
    """Namespaces as a set; FAIL names the netns whose creation the kernel refuses."""

    def __init__(self, fail: str = ""):
        self.fail, self.netns, self.batches, self.serial = fail, set(), [], []

    def _do(self, a):
        if a.op == "netns.create":
            if a.name == self.fail:
                raise KernelError("create", f"netns {a.name}", "", "Cannot allocate memory")
            self.netns.add(a.name)
        elif a.op == "netns.delete":
            self.netns.discard(a.name)
        else:
            raise AssertionError(f"unexpected action {a.op}")

    def execute(self, a):
        self.serial.append(a.name)
        return self._do(a)

    def execute_concurrently(self, actions):
        self.batches.append([a.name for a in actions])
        out = []
        for a in actions:
            try:
                out.append((self._do(a), None))
            except KernelError as exc:
                out.append((None, exc))
        return out


def _run(kernel: FakeKernel, names: list) -> list:
    events: list = []
    ledger = FakeLedger()
    obs = Observed(set(), lambda ns: Namespace({}, {}), lambda ns, k: None, lambda ns, t: None)
    ctx = engine.Context(owner="book", ledger=ledger)
    tasks = [{"index": i, "module": "netns", "params": {"name": n}} for i, n in enumerate(names)]
    planned, failure = engine._plan_all(tasks, obs, ctx)
    assert failure is None
    engine._apply_planned({"owner": "book"}, events.append, ledger, kernel, planned, None, obs)
    return events


def test_a_netns_loop_is_one_batch_reported_task_by_task_in_order():
    kernel = FakeKernel()
    names = [f"b{i}" for i in range(10)]
    events = _run(kernel, names)
    assert kernel.batches == [names] and kernel.serial == []
    tasks = [e for e in events if e["event"] == "task"]
    assert [(e["index"], e["status"]) for e in tasks] == [(i, "changed") for i in range(10)]
    assert kernel.netns == set(names)


def test_a_failure_in_a_batch_undoes_the_namespaces_made_before_and_ahead_of_it():
    kernel = FakeKernel(fail="b3")
    names = [f"b{i}" for i in range(8)]
    events = _run(kernel, names)
    tasks = [e for e in events if e["event"] == "task"]
    # reported as a serial run would: three done, the fourth failed, nothing after it
    assert [(e["index"], e["status"]) for e in tasks] == [(0, "changed"), (1, "changed"), (2, "changed"),
                                                           (3, "failed")]
    assert "Cannot allocate memory" in tasks[-1]["reason"]
    rollback = next(e for e in events if e["event"] == "rollback")
    assert sorted(rollback["undone"]) == sorted(f"netns.delete {n}" for n in names if n != "b3")
    assert rollback["errors"] == []
    assert kernel.netns == set()


def test_a_single_netns_task_is_not_batched():
    kernel = FakeKernel()
    _run(kernel, ["solo"])
    assert kernel.batches == [] and kernel.serial == ["solo"]
