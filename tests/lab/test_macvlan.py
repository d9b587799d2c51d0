"""macvlan on real lab hosts, checked with `ip -j -d link` and ping, never by asking nsprov:
- two hosts' macvlans on their uplinks (eth0, on the lab switch) reach each other in bridge mode;
- a second run changes nothing (ifindex kept); a mode edit is made in place (ifindex kept), an
  MTU edit too; a new parent makes it again;
- a missing parent is refused before anything changes, naming it;
- a macvlan dies with its parent: by hand (the control), and in nsprov's plan, so a destroy of a
  macvlan on a veth end of a netns leaves nothing and no record;
- destroy removes the macvlan and leaves the parent as it was.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab


def link(lab, host: str, name: str, ns: str = ""):
    args = ("-n", ns) if ns else ()
    out = json.loads(lab.ssh(host, "ip", *args, "-j", "-d", "link", "show", "dev", name, check=False).stdout or "[]")
    return out[0] if out else None


def inet(lab, host: str, name: str, ns: str) -> list:
    out = json.loads(lab.ssh(host, "ip", "-n", ns, "-j", "addr", "show", "dev", name).stdout)
    return [f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"] if a["family"] == "inet"]


def run(lab, book, *extra, check=True):
    proc = nsprov("run", "-i", str(lab.inventory), str(book), "--json", *extra, check=check)
    return proc, json_events(proc.stdout)


def changed(events: list) -> int:
    return sum(e["status"] == "changed" for e in events if e["event"] == "task")


def book(tmp_path, mode="bridge", mtu=None, parent="eth0", name="mvlab.yml"):
    extra = f"\n                mtu: {mtu}" if mtu else ""
    path = tmp_path / name
    path.write_text(textwrap.dedent(f"""\
        - hosts: lab1:lab2
          lab: mvlab
          tasks:
            - netns: {{name: mva}}
            - macvlan:
                name: mv0
                link: {parent}
                netns: mva
                mode: {mode}
                addresses: ["10.81.0.{{{{ 1 if inventory_hostname == 'lab1' else 2 }}}}/24"]{extra}
        """))
    return path


def test_macvlans_on_two_hosts_reach_each_other_over_the_lab_switch_and_edit_in_place(lab3, tmp_path):
    uplink = {h: link(lab3, h, "eth0") for h in ("lab1", "lab2")}
    path = book(tmp_path)
    try:
        proc, events = run(lab3, path)
        assert changed(events) == 4
        for host, address in (("lab1", "10.81.0.1/24"), ("lab2", "10.81.0.2/24")):
            mv = link(lab3, host, "mv0", "mva")
            assert mv["linkinfo"]["info_kind"] == "macvlan" and mv["linkinfo"]["info_data"]["mode"] == "bridge"
            assert mv["ifalias"] == "nsprov:mvlab" and "UP" in mv["flags"]
            assert mv["link_index"] == uplink[host]["ifindex"] and mv["mtu"] == uplink[host]["mtu"]
            assert mv["address"] != uplink[host]["address"]          # a MAC of its own
            assert inet(lab3, host, "mv0", "mva") == [address]
        ping = lab3.ssh("lab1", "ip", "netns", "exec", "mva", "ping", "-c", "2", "-W", "2", "10.81.0.2", check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        index = link(lab3, "lab1", "mv0", "mva")["ifindex"]
        proc, events = run(lab3, path)
        assert changed(events) == 0 and link(lab3, "lab1", "mv0", "mva")["ifindex"] == index
        # a mode and an MTU edit are made in place
        proc, events = run(lab3, book(tmp_path, mode="private", mtu=1400))
        assert changed(events) == 2
        mv = link(lab3, "lab1", "mv0", "mva")
        assert mv["ifindex"] == index and mv["linkinfo"]["info_data"]["mode"] == "private" and mv["mtu"] == 1400
        proc, events = run(lab3, book(tmp_path, mode="private", mtu=1400))
        assert changed(events) == 0
        book(tmp_path)                        # the playbook says bridge and the parent's MTU again
        drift = nsprov("drift", "-i", str(lab3.inventory), str(path), check=False)
        assert drift.returncode == 1, drift.stdout
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)
    for host in ("lab1", "lab2"):
        assert link(lab3, host, "mv0", "mva") is None
        assert lab3.ssh(host, "ip", "netns", "list").stdout.split().count("mva") == 0
        after = link(lab3, host, "eth0")
        assert (after["ifindex"], after["mtu"], after["address"], after.get("ifalias")) == (
            uplink[host]["ifindex"], uplink[host]["mtu"], uplink[host]["address"], uplink[host].get("ifalias"))


def test_a_missing_parent_is_refused_before_anything_changes_naming_it(lab3, tmp_path):
    netns = lab3.ssh("lab1", "ip", "netns", "list").stdout
    path = book(tmp_path, parent="eth7")
    proc, events = run(lab3, path, check=False)
    assert proc.returncode == 1
    failed = [e for e in events if e["event"] == "task" and e["status"] == "failed"]
    assert failed and "its parent link 'eth7' does not exist in the host's namespace" in failed[0]["reason"]
    assert lab3.ssh("lab1", "ip", "netns", "list").stdout == netns          # the netns task did not run either
    nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)


def test_a_macvlan_dies_with_its_parent_and_nsprov_plans_it_so(lab3, tmp_path):
    # control: the kernel does take a macvlan with its parent
    lab3.ssh("lab1", "sh", "-c", "ip link add ctlv0 type veth peer name ctlv1 && "
                                 "ip link add ctlm0 link ctlv0 type macvlan mode bridge && ip link del ctlv0")
    assert link(lab3, "lab1", "ctlm0") is None
    path = tmp_path / "chain.yml"
    path.write_text(textwrap.dedent("""\
        - hosts: lab1
          lab: mvchain
          tasks:
            - netns: {name: mvred}
            - netns: {name: mvblue}
            - veth: {name: mvh0, peer: eth0, peer_netns: mvred}
            - macvlan: {name: mvb0, link: mvh0, netns: mvblue, addresses: [10.82.0.1/24]}
        """))
    try:
        run(lab3, path)
        assert link(lab3, "lab1", "mvb0", "mvblue")["link_index"] == link(lab3, "lab1", "mvh0")["ifindex"]
        check = nsprov("destroy", "-i", str(lab3.inventory), str(path), "--check", "--json")
        reasons = {e["name"]: e["reason"] for e in json_events(check.stdout) if e["event"] == "task"}
        assert any("removed with" in r for n, r in reasons.items() if "mvb0" in n), reasons
    finally:
        proc = nsprov("destroy", "-i", str(lab3.inventory), str(path), "--json", check=False)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert link(lab3, "lab1", "mvh0") is None
    names = lab3.ssh("lab1", "ip", "netns", "list").stdout.split()
    assert "mvred" not in names and "mvblue" not in names
    labs = [e for e in json_events(nsprov("labs", "-i", str(lab3.inventory), "--json").stdout) if e["event"] == "labs"]
    assert labs and all("mvchain" not in e["labs"] for e in labs)      # no record left behind
