"""A lab that survives a real reboot (`vagrant reload`: the VM is shut down and started again),
checked on the VM with `ip`, `nsenter`, `nft`, `systemctl`, `journalctl` and real HTTP through
the NAT and the port forward, never by asking nsprov:
- the persisted lab (a namespace set of five kinds, veths on a bridge, NAT, a port forward and
  two processes) comes back at boot by its own unit, which says in the journal what it
  restored; the process with `restart: always` is supervised again (killed, it comes back);
  `nsprov labs` says it was restored, `drift` says in sync, `verify` passes;
- a lab that was not persisted, on the same VM, does not come back: `labs` says the host
  rebooted since, and a re-run of it builds it again;
- destroy leaves no unit, no stored state and no kept bundle behind.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import json_events, nsprov
from tests.vagrant.test_vagrant import PIN, _get, run, vms  # noqa: F401  (vms: the session's VMs)

pytestmark = pytest.mark.vagrant

KEEP = """\
- hosts: node1
  lab: keep
  persist: true
  tasks:
    - namespace: {name: kbox, kinds: [uts, ipc, pid, mnt, net], hostname: kbox}
    - bridge: {name: kbr0, addresses: [10.40.1.1/24]}
    - netns: {name: "{{ item }}"}
      loop: [ka, ku]
    - veth: {name: ka-host, bridge: kbr0, peer: eth0, peer_netns: ka, peer_addresses: [10.40.1.2/24]}
    - veth: {name: kbox-host, bridge: kbr0, peer: eth0, peer_netns: kbox, peer_addresses: [10.40.1.3/24]}
    - veth: {name: ku-host, addresses: [10.40.9.1/24], peer: eth0, peer_netns: ku, peer_addresses: [10.40.9.2/24]}
    - route: {netns: ka, to: default, via: 10.40.1.1}
    - sysctl: {name: net.ipv4.ip_forward, value: 1}
    - nat: {source: 10.40.1.0/24, out_interface: ku-host}
    - port_forward: {port: 8081, to: "10.40.1.2:8000", in_interface: ku-host}
    - process: {name: ka-web, netns: ka, command: [python3, -m, http.server, "8000", --bind, 10.40.1.2, --directory, /srv]}
    - process: {name: ku-web, netns: ku, restart: always,
                command: [python3, -m, http.server, "8001", --bind, 10.40.9.2, --directory, /srv]}
    - verify:
        reach:
          - {from: ka, to: 10.40.9.2, port: 8001}
          - {from: ku, to: 10.40.9.1, port: 8081}
          - {from: ka, to: 10.40.1.3}
"""
PASSING = """\
- hosts: node1
  lab: passing
  tasks:
    - netns: {name: pa}
    - veth: {name: pa-host, addresses: [10.41.0.1/24], peer: eth0, peer_netns: pa, peer_addresses: [10.41.0.2/24]}
"""
UNIT = "/etc/systemd/system/nsprov-lab-keep.service"


def _reload(vms, name: str) -> None:
    """A real reboot: vagrant shuts the VM down and boots it again (it returns once ssh answers)."""
    import subprocess
    proc = subprocess.run(["vagrant", "reload", name], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def _log(vms, name: str) -> str:
    return vms.sh("node1", f"cat /var/lib/nsprov/log/keep/{name}.log")


def _labs(vms) -> dict:
    proc = nsprov("labs", "-i", vms.inventory, "--limit", "node1", "--json")
    return next(e for e in json_events(proc.stdout) if e["event"] == "labs")["labs"]


def _built(vms) -> None:
    """The persisted lab, as the VM's own tools see it."""
    n1 = vms["node1"]
    assert {"ka", "ku", "kbox"} <= vms.netns("node1")
    assert n1.check_output(f"nsenter --uts={PIN}/kbox/uts hostname") == "kbox"
    ports = {x["ifname"] for x in json.loads(vms.sh("node1", "ip -j link show master kbr0"))}
    assert ports == {"ka-host", "kbox-host"}
    comments = {e["rule"]["comment"] for e in json.loads(vms.sh("node1", "nft -j list table ip nsprov_keep"))["nftables"]
                if "rule" in e}
    assert "masquerade 10.40.1.0/24 oif ku-host" in comments
    _get(vms, "node1", "http://10.40.9.2:8001/", netns="ka")        # out through the masquerade
    assert "10.40.9.1 - - " in _log(vms, "ku-web") and "10.40.1.2 - - " not in _log(vms, "ku-web")
    _get(vms, "node1", "http://10.40.9.1:8081/", netns="ku")        # in through the port forward
    assert "10.40.9.2 - - " in _log(vms, "ka-web")


def _supervised(vms) -> tuple:
    """(pid, its supervisor's pid) of ku-web's server, from the VM's process table."""
    rows = [r.split(None, 2) for r in vms.sh("node1", "ps -eo pid=,ppid=,args=").splitlines()]
    args = {int(p): a for p, _, a in rows}
    [(pid, parent)] = [(int(p), int(pp)) for p, pp, a in rows if a.startswith("python3 -m http.server 8001")]
    assert "supervise always" in args[parent]
    return pid, parent


def test_a_persisted_lab_comes_back_after_a_reboot_and_one_not_persisted_does_not(vms, tmp_path):
    keep, passing = tmp_path / "keep.yml", tmp_path / "passing.yml"
    keep.write_text(KEEP)
    passing.write_text(PASSING)
    try:
        proc, events, _ = run("run", "-i", vms.inventory, str(keep))
        assert [e["status"] for e in events if e["event"] == "persist"] == ["kept"]
        run("run", "-i", vms.inventory, str(passing))
        assert vms.sh("node1", "systemctl is-enabled nsprov-lab-keep.service").strip() == "enabled"
        _built(vms)
        vms.sh("node1", "rm -f /var/lib/nsprov/log/keep/*.log")
        _reload(vms, "node1")
        # the unit ran at boot, and said what it restored, one line per task
        state = vms.sh("node1", "for i in $(seq 120); do s=$(systemctl is-active nsprov-lab-keep.service); "
                                "[ \"$s\" = activating ] || break; sleep 1; done; echo $s").strip()
        assert state == "active", vms.sh("node1", "systemctl status nsprov-lab-keep.service --no-pager; true")
        journal = vms.sh("node1", "journalctl -b -u nsprov-lab-keep.service --no-pager -o cat")
        restored = [x for x in journal.splitlines() if x.startswith("lab keep: restored: ")]
        assert len(restored) == 13 and "lab keep: outcome: restored (13 task(s) restored, 0 failed)" in journal, journal
        assert "lab keep: gone with the reboot: " in journal
        _built(vms)
        # restart: always is supervised after the boot as after a run: killed, the server comes back
        pid, supervisor = _supervised(vms)
        vms.sh("node1", f"kill -9 {pid}")
        _get(vms, "node1", "http://10.40.9.2:8001/", netns="ka")
        again = _supervised(vms)
        assert again[0] != pid and again[1] == supervisor
        labs = _labs(vms)
        assert labs["keep"]["persist"]["result"] == "restored" and labs["keep"]["persist"]["failed"] == []
        assert labs["passing"]["rebooted_since"] is True and labs["passing"]["persist"] is None
        assert "pa" not in vms.netns("node1")                            # not persisted: gone
        proc = nsprov("drift", "-i", vms.inventory, str(keep), "--json", check=False)
        assert proc.returncode == 0, proc.stdout[-3000:]
        run("verify", "-i", vms.inventory, str(keep))
        # the lab that was not persisted runs again from scratch
        proc, events, recap = run("run", "-i", vms.inventory, str(passing))
        assert recap["node1"]["changed"] == 2 and "pa" in vms.netns("node1")
    finally:
        nsprov("destroy", "-i", vms.inventory, str(passing), check=False)
        nsprov("destroy", "-i", vms.inventory, str(keep), check=False)
    assert vms.netns("node1") == set()
    assert vms["node1"].run(f"test -e {UNIT}").rc == 1
    assert vms["node1"].run("systemctl is-enabled nsprov-lab-keep.service").rc != 0
    assert vms.sh("node1", "ls -A /var/lib/nsprov/persist 2>/dev/null; ls -A /var/lib/nsprov/persist/agent "
                           "2>/dev/null; true").split() in ([], ["agent"])
