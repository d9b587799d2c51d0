"""Faults injected at random instants of an apply, on a lab host (marker `faults`).

For every kind: the run is cut (agent SIGKILLed, its sshd session killed, the host's cable pulled,
the whole host killed, a task failing, the ledger's disk full, a second controller at once); then
re-runs must converge, `nsprov destroy` must leave nothing nsprov made, and the foreign
look-alikes planted beforehand must be untouched."""

from __future__ import annotations

import os
import random

import pytest

from nsprov.lab.faults import HUNG, KINDS, FaultLab
from tests.conftest import lab_down, lab_up

pytestmark = pytest.mark.faults
SEED = int(os.environ.get("NSPROV_FAULT_SEED", "1729"))


@pytest.fixture(scope="module")
def faultlab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("fault tests need root (CI runs as root)")
    directory = tmp_path_factory.mktemp("faults") / "lab"
    work = tmp_path_factory.mktemp("faultbooks")
    try:
        lab_up(directory, 2)
        lab = FaultLab(directory)
        book = lab.write_playbook(work / "faultload.yml", 30)
        failing = lab.write_playbook(work / "faultload-failing.yml", 30, failing=True)
        planted = lab.plant_foreign()
        baseline = lab.snapshot()
        yield lab, book, failing, baseline, planted
        lab.remove_foreign()
    finally:
        lab_down(directory)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("attempt", [0, 1])
def test_fault_then_rerun_converges_and_destroy_leaves_nothing(faultlab, kind, attempt):
    lab, book, failing, baseline, planted = faultlab
    delay = random.Random(f"{SEED}-{kind}-{attempt}").uniform(0.0, 0.15)   # seconds into the agent's run
    outcome = lab.round(kind, book, failing, baseline, planted, delay)
    _assert_recovered(outcome, kind, delay)


@pytest.mark.parametrize("kind", ["agent-kill", "session-kill", "link-cut", "host-kill"])
def test_a_fault_before_the_agent_speaks_is_noticed(faultlab, kind):
    """Struck at once, while the bootstrap has not answered yet: the run must still end (the
    campaign once found the controller waiting forever for a first line that never came)."""
    lab, book, failing, baseline, planted = faultlab
    outcome = lab.round(kind, book, failing, baseline, planted, 0.0)
    _assert_recovered(outcome, kind, 0.0)


def _assert_recovered(outcome, kind: str, delay: float) -> None:
    assert outcome.first_exit != HUNG, f"{kind} at {delay:.2f} s: the run did not end within 120 s"
    assert outcome.converged, f"{kind} at {delay:.2f} s did not converge within 3 re-runs:\n{outcome.detail}"
    assert outcome.leaked == [], f"{kind} at {delay:.2f} s leaked {outcome.leaked}"
    assert outcome.foreign_touched == [], f"{kind} at {delay:.2f} s touched {outcome.foreign_touched}"
    if kind in ("failing-task", "disk-full"):
        assert outcome.first_exit == 1      # reported as a failure, not a crash or a hang
    if kind in ("agent-kill", "host-kill"):
        assert outcome.first_exit != 0      # the fault did land inside the run
