"""The restore a boot runs (agent/persist.py), on the fake kernel: a kept request comes back
whole after a reboot (the records the reboot destroyed are recognised as gone, not as someone
else's); a task that cannot come back (its parent NIC renamed) is left out, its play applied
again without it, so what can come back does and nothing is left half made; the control, the
plain apply a run does, comes back with nothing at all."""

from __future__ import annotations

import json

import pytest

from nsprov.agent import persist, requests
from nsprov.agent.kernel.fake import FakeKernel
from nsprov.agent.ledger import Ledger
from nsprov.model import protocol
from nsprov.model.kinds import MODULES, object_name

TASKS = [
    {"module": "netns", "params": {"name": "red"}},
    {"module": "netns", "params": {"name": "blue"}},
    {"module": "veth", "params": {"name": "r0", "netns": "red", "peer": "b0", "peer_netns": "blue",
                                  "addresses": ["10.9.0.1/24"], "peer_addresses": ["10.9.0.2/24"]}},
    {"module": "macvlan", "params": {"name": "mv0", "link": "eth1", "netns": "red", "addresses": ["10.8.0.1/24"]}},
    {"module": "route", "params": {"netns": "blue", "to": "10.7.0.0/24", "via": "10.9.0.1"}},
]


def named(i: int, t: dict) -> dict:
    """A task as the controller sends it: its index, and its name (the object's, by default)."""
    return {"index": i, "name": object_name(t["module"], MODULES[t["module"]].validate(t["params"])[0]), **t}


def stored(tasks: list) -> dict:
    plays = [protocol.phase(0, tasks=[named(i, t) for i, t in enumerate(tasks[:2])]),
             protocol.phase(1, tasks=[named(i + 2, t) for i, t in enumerate(tasks[2:])])]
    return protocol.apply_request("boot", plays, prune={"enabled": True},
                                  claim={"playbook": "/labs/boot.yml", "controller": "c", "user": "u"})


def with_eth1() -> FakeKernel:
    kernel = FakeKernel()
    kernel.namespaces[""]["links"]["eth1"] = {"kind": "veth", "up": True, "mtu": 1500, "master": None, "alias": None,
                                              "addresses": [], "peer": None}
    return kernel


def links(kernel: FakeKernel, ns: str) -> set:
    return set(kernel.namespaces[ns]["links"]) - {"lo"}


@pytest.fixture()
def ledger(tmp_path):
    with Ledger.open(str(tmp_path / "state")) as opened:
        yield opened


def applied(ledger) -> FakeKernel:
    """The lab as a run made it, before the reboot."""
    kernel = with_eth1()
    events: list = []
    assert requests.apply_request(stored(TASKS), events.append, ledger, kernel, persist.Unattended()), events
    assert links(kernel, "red") == {"r0", "mv0"}
    return kernel


def test_after_a_reboot_the_lab_comes_back_whole_and_its_old_records_are_known_as_gone(ledger):
    applied(ledger)
    kernel, said = with_eth1(), []          # the reboot: a fresh kernel, the ledger on disk as it was
    outcome = persist.restore(stored(TASKS), ledger, kernel, said.append)
    assert outcome["result"] == "restored" and outcome["failed"] == [] and outcome["restored"] == len(TASKS)
    assert links(kernel, "red") == {"r0", "mv0"} and links(kernel, "blue") == {"b0"}
    assert any(s.startswith("gone with the reboot: ") and "netns red" in s for s in said), said
    assert sorted(e["name"] for e in ledger.owned_by("boot") if e["kind"] == "netns") == ["blue", "red"]
    before = repr(kernel.namespaces)
    again = persist.restore(stored(TASKS), ledger, kernel, [].append)       # a second restore changes nothing
    assert again["result"] == "restored" and repr(kernel.namespaces) == before


def test_a_nic_renamed_over_the_reboot_restores_the_rest_and_leaves_nothing_half_made(ledger):
    applied(ledger)
    kernel, said = FakeKernel(), []         # eth1 is gone (renamed by the new kernel)
    outcome = persist.restore(stored(TASKS), ledger, kernel, said.append)
    assert outcome["result"] == "partial"
    assert [f["task"] for f in outcome["failed"]] == ["macvlan red/mv0@eth1"]
    assert "eth1" in outcome["failed"][0]["reason"]
    # the rest of its play came back (the veth before it, the route after it), the other play too
    assert links(kernel, "red") == {"r0"} and links(kernel, "blue") == {"b0"}
    assert "10.7.0.0/24" in kernel.namespaces["blue"]["routes"]
    assert [s for s in said if s.startswith("FAILED: ")] == [f"FAILED: macvlan red/mv0@eth1: {outcome['failed'][0]['reason']}"]
    # the ledger holds what the kernel holds: no record of the macvlan that is not there
    assert ledger.find("link", "red", "mv0") is None and ledger.find("link", "red", "r0") is not None


def test_the_control_a_plain_apply_of_the_same_request_brings_back_nothing_of_that_play(ledger):
    applied(ledger)
    kernel, events = FakeKernel(), []
    ok = requests.apply_request(stored(TASKS), events.append, ledger, kernel, persist.Unattended())
    assert not ok and links(kernel, "red") == set() and "b0" not in links(kernel, "blue")


def test_nothing_that_can_come_back_is_failed_not_partial(ledger):
    alone = {"module": "macvlan", "params": {"name": "mv0", "link": "eth1"}}
    request = protocol.apply_request("boot", [protocol.phase(0, tasks=[named(0, alone)])], prune={"enabled": True})
    outcome = persist.restore(request, ledger, FakeKernel(), [].append)
    assert outcome["result"] == "failed" and outcome["restored"] == 0 and len(outcome["failed"]) == 1


def test_a_lab_that_cannot_be_kept_for_boot_warns_or_fails_as_asked(monkeypatch, tmp_path):
    """systemctl refusing (a read-only /etc, say) after the lab was applied: persist: true says
    so and the run stands; --persist makes the run fail, saying the lab was applied. The
    control: with systemd answering, the lab is kept."""
    monkeypatch.setattr(persist, "unavailable", lambda: None)
    monkeypatch.setattr(persist, "_prune_bundles", lambda: None)

    def refused(*a, **k):
        raise OSError("systemctl enable nsprov-lab-boot.service: Read-only file system")
    req = {**stored(TASKS), "persist": {"mode": "wanted", "bootstrap": "# bootstrap\n"}}
    monkeypatch.setattr(persist, "keep", refused)
    said: list = []
    persist.after_apply(req, True, said.append)
    assert [(e["status"], "Read-only file system" in e["message"]) for e in said] == [("failed", True)]
    with pytest.raises(persist.Unavailable, match="the lab was applied, but could not be kept"):
        persist.after_apply({**req, "persist": {**req["persist"], "mode": "required"}}, True, said.append)
    monkeypatch.setattr(persist, "keep", lambda r: True)
    said.clear()
    persist.after_apply(req, True, said.append)
    assert [e["status"] for e in said] == ["kept"]


def test_a_whole_run_after_a_partial_restore_says_the_lab_is_repaired(monkeypatch, tmp_path):
    """The restore's record stays (what failed at boot), and a later whole run adds when it was
    repaired; a restore that went well gets no such mark (the control)."""
    monkeypatch.setattr(persist, "PERSIST_DIR", str(tmp_path))
    status = tmp_path / "boot.status.json"
    status.write_text(json.dumps({"result": "partial", "failed": [{"task": "macvlan", "reason": "eth1"}]}))
    persist._mark_repaired("boot")
    kept = json.loads(status.read_text())
    assert kept["result"] == "partial" and kept["failed"] and kept["repaired"].endswith("Z")
    status.write_text(json.dumps({"result": "restored", "failed": []}))
    persist._mark_repaired("boot")
    assert "repaired" not in json.loads(status.read_text())
