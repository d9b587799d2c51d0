"""The firewall kind on a real lab host, checked with `nft -j` and real packets from another
namespace, never by asking nsprov what it did:
- the lab's table holds the chains with the declared policies; allowed traffic passes, the rest
  does not (TCP to a served port, ping, UDP answered by the agent's own responder); the control:
  the same probes, before the firewall exists, all pass, so the `no_reach` is the firewall's;
- a second run changes nothing; a rule added by hand to the lab's table is drift (exit 1 naming
  the task) and goes on the next run; a foreign table in the same netns is never touched;
- in the host's own namespace, a rule set dropping the controller's SSH is refused before
  anything changes; with the controller's connection accepted first it is applied, and the next
  run still gets in;
- destroy removes the lab's table and nothing else.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab
HOST = "lab1"


def sh(lab, command: str, check: bool = True):
    return lab.ssh(HOST, "sh", "-c", command, check=check)


def run(lab, path, *extra, check=True):
    proc = nsprov(*extra or ("run",), "-i", str(lab.inventory), str(path), "--json", check=check)
    return proc, json_events(proc.stdout)


def tables(lab, ns: str = "") -> dict:
    prefix = f"ip netns exec {ns} " if ns else ""
    out = json.loads(sh(lab, f"{prefix}nft -j list ruleset").stdout)["nftables"]
    found = {}
    for item in out:
        if "chain" in item:
            c = item["chain"]
            found.setdefault((c["family"], c["table"]), {})[c["name"]] = c.get("policy")
        elif "table" in item:
            found.setdefault((item["table"]["family"], item["table"]["name"]), {})
    return found


ALLOWED = ["{from: fwa, to: 10.61.0.2}", "{from: fwa, to: 10.61.0.2, port: 8061}",
           "{from: fwa, to: 10.61.0.2, port: 5061, proto: udp}"]
STOPPED = ["{from: fwa, to: 10.61.0.2, port: 5062, proto: udp}", "{from: fwa, to: 10.61.0.2, port: 8062}"]


def probes(**checks) -> str:
    return "    - verify:\n" + "".join(f"        {k}:\n" + "".join(f"          - {x}\n" for x in v)
                                     for k, v in checks.items())


def book(tmp_path, firewall: str, probes: str = ""):
    path = tmp_path / "fw.yml"
    path.write_text(textwrap.dedent("""\
        - hosts: lab1
          lab: fw
          tasks:
            - netns: {name: fwa}
            - netns: {name: fwb}
            - veth: {name: eth0, netns: fwa, peer: eth0, peer_netns: fwb, addresses: [10.61.0.1/24],
                     peer_addresses: [10.61.0.2/24]}
            - process: {name: fw-web, netns: fwb, command: [python3, -m, http.server, -b, 10.61.0.2, "8061"]}
            - process: {name: fw-web2, netns: fwb, command: [python3, -m, http.server, -b, 10.61.0.2, "8062"]}
        """) + textwrap.indent(firewall, "    ") + probes)
    return path


FIREWALL = """\
- firewall:
    netns: fwb
    policy: {in: drop}
    rules:
      - {action: accept, proto: icmp}
      - {action: accept, proto: tcp, port: 8061, from: 10.61.0.0/24}
      - {action: accept, proto: udp, port: 5061}
      - {action: reject, proto: tcp, port: 8062}
"""


def test_a_netns_firewall_lets_through_what_it_declares_and_nothing_else(lab3, tmp_path):
    try:
        # the control: with no firewall, every probe the firewall will stop gets through
        proc, events = run(lab3, book(tmp_path, "", probes(reach=ALLOWED + STOPPED)))
        assert proc.returncode == 0
        checks = [e for e in events if e["event"] == "check"] or [
            c for e in events if e["event"] == "task" for c in e.get("checks", [])]
        assert checks and all(c["passed"] for c in checks)
        sh(lab3, "ip netns exec fwb nft add table inet foreign && "
                 "ip netns exec fwb nft add chain inet foreign c '{ type filter hook input priority 10; }'")
        path = book(tmp_path, FIREWALL, probes(reach=ALLOWED, no_reach=STOPPED))
        proc, events = run(lab3, path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        found = tables(lab3, "fwb")
        assert found[("inet", "nsprov_fw")] == {"input": "drop", "output": "accept", "forward": "accept"}
        assert ("inet", "foreign") in found
        assert ("inet", "nsprov_fw") not in tables(lab3, "fwa")
        # real packets from the other namespace, by hand
        assert sh(lab3, "ip netns exec fwa ping -c1 -W2 10.61.0.2", check=False).returncode == 0
        refused = sh(lab3, "ip netns exec fwa python3 -c \"import socket; s=socket.socket(); s.settimeout(3); "
                           "s.connect(('10.61.0.2', 8062))\"", check=False)
        assert "ConnectionRefusedError" in refused.stderr      # reject: a reset, not a timeout
        proc, events = run(lab3, path)
        assert sum(e["status"] == "changed" for e in events if e["event"] == "task") == 0
        # a rule added by hand to the lab's table is drift, and goes
        sh(lab3, "ip netns exec fwb nft insert rule inet nsprov_fw input tcp dport 8062 accept")
        proc, events = run(lab3, path, "drift", check=False)
        assert proc.returncode == 1
        assert any("firewall fwb" in json.dumps(e) for e in events if e["event"] == "task" and e["status"] == "changed")
        run(lab3, path)
        assert "8062 accept" not in sh(lab3, "ip netns exec fwb nft list table inet nsprov_fw").stdout
        nsprov("destroy", "-i", str(lab3.inventory), str(path))
        assert sh(lab3, "test -e /run/netns/fwb", check=False).returncode == 1
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book(tmp_path, FIREWALL)), check=False)


HOST_BOOK = """\
- hosts: lab1
  lab: fwh
  tasks:
    - firewall:
        policy: {{in: drop}}
        rules:
{rules}
"""


def test_a_host_firewall_never_cuts_the_controller_off(lab3, tmp_path):
    path = tmp_path / "fwh.yml"
    path.write_text(HOST_BOOK.format(rules="          - {action: accept, proto: icmp}"))
    before = tables(lab3)
    try:
        proc, events = run(lab3, path, check=False)
        assert proc.returncode != 0
        assert "would drop a new connection from the controller" in proc.stdout + proc.stderr
        assert tables(lab3) == before                        # refused before anything changed
        path.write_text(HOST_BOOK.format(rules="          - {action: accept, proto: tcp, port: 22}"))
        proc, events = run(lab3, path)
        assert tables(lab3)[("inet", "nsprov_fwh")]["input"] == "drop"
        proc, events = run(lab3, path)                       # a new connection still gets in
        assert sum(e["status"] == "changed" for e in events if e["event"] == "task") == 0
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)
    assert ("inet", "nsprov_fwh") not in tables(lab3)
    assert tables(lab3) == before
