"""netem on a real lab host (this kernel lacks sch_netem, so here a rate alone, which is a token
bucket; netem's delay and loss run in the Vagrant VMs), checked with `tc -j` and `ip -j`, never by
asking nsprov, and measured with verify's `link` check:
- the qdisc is on the declared link end, at the declared rate; a second run changes nothing and
  keeps the link's ifindex; the measured throughput matches the rate, and the control, a check
  that claims ten times the rate (or a 50 ms RTT), fails: the check can tell;
- a rate changed by hand is drift (exit 1) and the next run puts it back;
- state: absent gives the link back its default; destroy leaves nothing.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab
HOST = "lab2"


def sh(lab, command: str, check: bool = True):
    return lab.ssh(HOST, "sh", "-c", command, check=check)


def run(lab, path, *extra, check=True):
    proc = nsprov(*extra or ("run",), "-i", str(lab.inventory), str(path), "--json", check=check)
    return proc, json_events(proc.stdout)


def qdisc(lab) -> list:
    return json.loads(sh(lab, "ip netns exec qa tc -j qdisc show dev eth0 root").stdout)


def ifindex(lab) -> int:
    return json.loads(sh(lab, "ip -n qa -j link show eth0").stdout)[0]["ifindex"]


def checks(events) -> list:
    return [c for e in events if e["event"] == "task" for c in e.get("checks", [])] or [
        e for e in events if e["event"] == "check"]


def book(tmp_path, netem: str, link_checks: str = "") -> str:
    path = tmp_path / "netem.yml"
    path.write_text(textwrap.dedent(f"""\
        - hosts: {HOST}
          lab: nq
          tasks:
            - netns: {{name: qa}}
            - netns: {{name: qb}}
            - veth: {{name: eth0, netns: qa, peer: eth0, peer_netns: qb, addresses: [10.62.0.1/24],
                     peer_addresses: [10.62.0.2/24]}}
            {netem}
        """) + (f"    - verify:\n        link:\n{link_checks}" if link_checks else ""))
    return path


def test_a_rate_alone_is_a_token_bucket_measured_by_the_link_check(lab3, tmp_path):
    netem = "- netem: {link: eth0, netns: qa, rate: 20mbit}"
    path = book(tmp_path, netem, "          - {from: qa, to: 10.62.0.2, rate: 20mbit, rtt: 0.1ms}\n")
    try:
        proc, events = run(lab3, path)
        found = qdisc(lab3)
        assert [(q["kind"], q["options"]["rate"]) for q in found] == [("tbf", 2500000)]
        passed = {c["check"]: c for c in checks(events)}
        assert passed["link: throughput"]["passed"] and passed["link: rtt"]["passed"], passed
        index = ifindex(lab3)
        proc, events = run(lab3, book(tmp_path, netem))
        assert sum(e["status"] == "changed" for e in events if e["event"] == "task") == 0
        assert ifindex(lab3) == index
        # the control: the same link, claimed ten times faster and 50 ms slower, fails
        claimed = book(tmp_path, netem, "          - {from: qa, to: 10.62.0.2, rate: 200mbit, rtt: 50ms}\n")
        proc, events = run(lab3, claimed, check=False)
        assert proc.returncode != 0
        failed = {c["check"] for c in checks(events) if not c["passed"]}
        assert failed == {"link: throughput", "link: rtt"}
        # changed by hand: drift, and put back
        sh(lab3, "ip netns exec qa tc qdisc replace dev eth0 root tbf rate 5mbit burst 8kb latency 50ms")
        proc, events = run(lab3, book(tmp_path, netem), "drift", check=False)
        assert proc.returncode == 1
        run(lab3, book(tmp_path, netem))
        assert qdisc(lab3)[0]["options"]["rate"] == 2500000
        # absent: the default again
        run(lab3, book(tmp_path, "- netem: {link: eth0, netns: qa, state: absent}"))
        assert [q["kind"] for q in qdisc(lab3) if q.get("handle") not in (None, "0:")] == []
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book(tmp_path, netem)), check=False)
    assert sh(lab3, "test -e /run/netns/qa", check=False).returncode == 1
