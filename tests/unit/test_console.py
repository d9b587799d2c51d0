"""The console reporter, fed event streams as the runner gives them (hosts interleaved): lines
come out host by host in inventory order whatever the arrival order, a loop's items fold into
one line with counts and its failed items listed, -v shows every item, a destroy folds each
module's objects, and the live progress display is there on a terminal only."""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console

from nsprov.controller.resolve import HostPlan
from nsprov.reporting.console import ConsoleReporter, loop_keys

HOSTS = ["web1", "web2", "db1"]


def plan(host: str, origins: list) -> HostPlan:
    p = HostPlan(host)
    p.origins = origins
    p.tasks = [{} for _ in origins]
    return p


def task(index: int, name: str, status: str = "changed", module: str = "netns", reason: str = "created") -> dict:
    return {"event": "task", "index": index, "name": name, "module": module, "status": status, "reason": reason}


def stream(hosts: list, per_host: dict, seed: int) -> list:
    """(host, event) pairs: a play start, then each host's events in its own order, the hosts
    shuffled among one another as threads would interleave them."""
    rng = random.Random(seed)
    queues = {h: list(per_host[h]) + [{"event": "phase_done", "play": 0, "ok": True},
                                      {"event": "host_done", "status": "ok"}] for h in hosts}
    out = [("", {"event": "play", "play": 0, "name": "web", "hosts": hosts})]
    while any(queues.values()):
        h = rng.choice([h for h in hosts if queues[h]])
        out.append((h, queues[h].pop(0)))
    return out


def render(events: list, plans: dict, terminal: bool = False, **kw) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=200, force_terminal=terminal, color_system=None, highlight=False)
    totals = {h: len(p.tasks) for h, p in plans.items()}
    with ConsoleReporter(console, list(plans), totals, kw, loops=loop_keys(plans)) as reporter:
        for host, ev in events:
            reporter(host, ev)
    return buf.getvalue()


def lines_of(out: str) -> list:
    return [line.split()[0] for line in out.splitlines() if line.split() and line.split()[0] in HOSTS]


SIMPLE = {h: [task(0, "netns a"), task(1, "bridge br0", module="bridge")] for h in HOSTS}


@pytest.mark.parametrize("seed", range(8))
def test_lines_come_in_inventory_order_whatever_the_arrival(seed):
    plans = {h: plan(h, [(0, 0), (0, 1)]) for h in HOSTS}
    out = render(stream(HOSTS, SIMPLE, seed), plans)
    assert lines_of(out) == ["web1", "web1", "web2", "web2", "db1", "db1"], out


def test_the_same_run_prints_the_same_lines_each_time():
    plans = {h: plan(h, [(0, 0), (0, 1)]) for h in HOSTS}
    outs = {render(stream(HOSTS, SIMPLE, seed), plans) for seed in range(6)}
    assert len(outs) == 1


def loop_plans() -> dict:
    return {h: plan(h, [(0, 0)] + [(0, 1)] * 100 + [(0, 2)]) for h in HOSTS}


def loop_events(failing: tuple = ()) -> dict:
    out = {}
    for h in HOSTS:
        items = [task(1 + i, f"netns b{i}", "failed" if (h, i) in failing else ("ok" if i % 10 == 0 else "changed"),
                      reason="boom" if (h, i) in failing else "created") for i in range(100)]
        out[h] = [task(0, "bridge br0", module="bridge")] + items + [task(101, "sysctl x", module="sysctl")]
    return out


def test_a_loop_folds_into_one_line_per_host_with_counts():
    out = render(stream(HOSTS, loop_events(), 3), loop_plans())
    assert len(out.splitlines()) < 20, out
    folded = [line for line in out.splitlines() if "netns b0 ... netns b99" in line]
    assert len(folded) == 3 and all("100 items: 90 changed, 10 ok" in line for line in folded), folded
    assert lines_of(out) == [h for h in HOSTS for _ in range(3)]


def test_a_folded_loop_shows_failed_and_lists_its_failed_items():
    out = render(stream(HOSTS, loop_events(failing=(("web2", 7), ("web2", 42))), 5), loop_plans())
    web2 = next(line for line in out.splitlines() if line.startswith("web2") and "netns b0 ..." in line)
    assert web2.split()[1] == "failed" and "2 failed" in web2
    assert "failed item netns b7: boom" in out and "failed item netns b42: boom" in out
    web1 = next(line for line in out.splitlines() if line.startswith("web1") and "netns b0 ..." in line)
    assert web1.split()[1] == "changed"


def test_verbose_shows_every_item():
    out = render(stream(HOSTS, loop_events(), 3), loop_plans(), verbose=1)
    assert sum("netns b" in line for line in out.splitlines()) == 300
    assert "..." not in out


def test_a_destroy_folds_the_objects_of_each_module():
    events = {h: [task(i, f"veth v{i}", module="veth", reason="deleted") for i in range(30)] +
              [task(30 + i, f"netns n{i}", reason="deleted") for i in range(30)] for h in HOSTS}
    plans = {h: plan(h, []) for h in HOSTS}
    out = render(stream(HOSTS, events, 1), plans, fold_modules=True)
    assert [line.split()[2] for line in out.splitlines() if line.split() and line.split()[0] in HOSTS] == \
        ["veth", "netns"] * 3
    assert "veth v0 ... veth v29  30 items: 30 changed" in out


def test_a_host_out_of_a_play_does_not_hold_the_others_back():
    plans = {h: plan(h, [(0, 0), (0, 1)]) for h in HOSTS}
    events = [("", {"event": "play", "play": 0, "name": "web", "hosts": HOSTS}),
              ("web2", task(0, "netns a")), ("web2", task(1, "bridge br0", module="bridge")),
              ("web1", {"event": "host_done", "status": "unreachable", "error": "refused"}),
              ("web2", {"event": "phase_done", "play": 0, "ok": True}),
              ("db1", task(0, "netns a"))]
    out = render(events, plans)
    assert lines_of(out) == ["web1", "web2", "web2", "db1"], out
    assert "UNREACHABLE  refused" in out


def test_progress_shows_on_a_terminal_only(monkeypatch):
    from nsprov.reporting import progress
    monkeypatch.setattr(progress, "DELAY", 0.0)
    plans = {h: plan(h, [(0, 0), (0, 1)]) for h in HOSTS}
    plain = render(stream(HOSTS, SIMPLE, 2), plans, terminal=False)
    assert "\x1b[" not in plain and "host(s)" not in plain
    on_tty = render(stream(HOSTS, SIMPLE, 2), plans, terminal=True)
    assert "3 host(s)" in on_tty      # the overall row of the live display was drawn


def test_a_short_run_draws_no_live_display():
    """Under progress.DELAY (0.5 s) a run ends before the display would be worth it."""
    plans = {h: plan(h, [(0, 0), (0, 1)]) for h in HOSTS}
    out = render(stream(HOSTS, SIMPLE, 2), plans, terminal=True)
    assert "host(s)" not in out and lines_of(out) == ["web1", "web1", "web2", "web2", "db1", "db1"]


def test_the_live_display_starts_once_the_run_has_lasted(monkeypatch):
    from nsprov.reporting import progress
    monkeypatch.setattr(progress, "DELAY", 0.05)
    plans = {h: plan(h, [(0, 0), (0, 1)]) for h in HOSTS}
    buf = io.StringIO()
    console = Console(file=buf, width=200, force_terminal=True, color_system=None, highlight=False)
    with ConsoleReporter(console, HOSTS, {h: 2 for h in HOSTS}, {}, loops=loop_keys(plans)) as reporter:
        reporter("web1", {"event": "locked"})
        assert reporter.progress.live is None
        import time
        time.sleep(0.06)
        reporter.tick()
        assert reporter.progress.live is not None
        reporter("web1", task(0, "netns a"))
    assert "netns a" in buf.getvalue()


def test_deferred_reporter_keeps_the_order_of_what_came_before_it_was_made():
    import threading
    from nsprov.reporting.deferred import Deferred
    seen, made = [], []
    release = threading.Event()

    class Sink:
        def __call__(self, host, ev):
            seen.append((host, ev["n"]))

        def __exit__(self, *exc):
            seen.append(("exit", None))

    def make():
        made.append(1)
        release.wait(5)       # slow to make, as the first import of rich is
        return Sink()
    with Deferred(make) as d:
        d("a", {"event": "host_start", "n": 1})
        d("a", {"event": "locked", "n": 2})       # starts making it, in a thread
        d("b", {"event": "locked", "n": 3})
        release.set()
        d("a", {"event": "task", "n": 4})
    assert made == [1]
    assert seen == [("a", 1), ("a", 2), ("b", 3), ("a", 4), ("exit", None)]


def test_deferred_reporter_is_made_after_the_fallback_without_any_agent(monkeypatch):
    import time
    from nsprov.reporting import deferred
    monkeypatch.setattr(deferred, "FALLBACK", 0.02)
    made = []

    class Sink:
        def __call__(self, host, ev):
            pass

        def __exit__(self, *exc):
            pass
    with deferred.Deferred(lambda: made.append(time.monotonic()) or Sink()) as d:
        d("a", {"event": "host_start"})
        time.sleep(0.2)
        assert made, "not made after the fallback"


def test_a_fleet_shows_its_failures_in_full_and_the_rest_as_counts():
    """More than FLEET hosts: no line per host and task, but every failure, and a recap of the
    hosts that did not finish well, the others together, and the total."""
    from nsprov.reporting.console import FLEET, render_recap
    hosts = [f"h{i:03d}" for i in range(FLEET + 10)]
    per_host = {h: [task(0, "netns a"), task(1, "bridge br0", module="bridge", status="ok", reason="exists")]
                for h in hosts}
    per_host["h007"][1] = task(1, "bridge br0", module="bridge", status="failed", reason="boom")
    plans = {h: plan(h, [0, 1]) for h in hosts}
    out = render(stream(hosts, per_host, 3), plans)
    assert [line for line in out.splitlines() if line.startswith("h")] == [
        "h007 failed   bridge br0  boom"], out
    small = render(stream(hosts[:FLEET], {h: per_host[h] for h in hosts[:FLEET]}, 3),
                   {h: plans[h] for h in hosts[:FLEET]})
    assert sum(line.startswith("h0") for line in small.splitlines()) == 2 * FLEET     # the control: a line each

    class Outcome:
        def __init__(self, **counts):
            self.counts = counts
    results = {h: Outcome(ok=2, changed=1) for h in hosts}
    results["h007"] = Outcome(ok=1, changed=1, failed=1)
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(*render_recap(results))
    recap = buf.getvalue()
    assert "h007" in recap and f"{len(hosts) - 1} other host(s)" in recap and f"all {len(hosts)} hosts" in recap
    assert "h001" not in recap and "h029" not in recap
