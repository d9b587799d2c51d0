"""vxlan on real lab hosts, checked with `ip -j -d link`, real traffic and the kernel's own
lists, never by asking nsprov:
- two hosts' vxlans on their uplinks (the lab switch) carry a segment between two namespaces
  that have no other link; the id, remote, port, underlay, learning and the MTU (the underlay's
  less 50) are the kernel's; a second run changes nothing (ifindex kept);
- an MTU edit is made in place; a new remote or learning makes it again;
- a change made by hand to a vxlan's own attribute is drift, and the next run puts it back;
- a missing underlay is refused before anything changes, naming it;
- a vxlan dies with its underlay: by hand (the control), and in nsprov's plan;
- destroy removes every vxlan and leaves the uplink as it was;
- the kinds together across two hosts: a vxlan with IPv4 and IPv6, a token bucket on it, a
  firewall drop on one side (the other side, with none, is the control) and names by `hosts:`.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab
HOSTS = ("lab1", "lab2")


def link(lab, host: str, name: str, ns: str = ""):
    args = ("-n", ns) if ns else ()
    out = json.loads(lab.ssh(host, "ip", *args, "-j", "-d", "link", "show", "dev", name, check=False).stdout or "[]")
    return out[0] if out else None


def uplink_ip(lab, host: str) -> str:
    out = json.loads(lab.ssh(host, "ip", "-j", "-4", "addr", "show", "dev", "eth0").stdout)
    return out[0]["addr_info"][0]["local"]


def run(lab, book, *extra, check=True):
    proc = nsprov("run", "-i", str(lab.inventory), str(book), "--json", *extra, check=check)
    return proc, json_events(proc.stdout)


def changed(events: list) -> int:
    return sum(e["status"] == "changed" for e in events if e["event"] == "task")


def book(tmp_path, ips: dict, remote: dict = None, dev="eth0", name="vxlab.yml", **more):
    remote = remote or {"lab1": ips["lab2"], "lab2": ips["lab1"]}
    extra = "".join(f"\n                {k}: {json.dumps(v)}" for k, v in more.items())
    path = tmp_path / name
    path.write_text(textwrap.dedent(f"""\
        - hosts: lab1:lab2
          lab: vxlab
          tasks:
            - netns: {{name: vxa}}
            - vxlan:
                name: vx42
                id: 42
                dev: {dev}
                remote: "{{{{ '{remote['lab1']}' if inventory_hostname == 'lab1' else '{remote['lab2']}' }}}}"
                netns: vxa
                addresses: ["10.83.0.{{{{ 1 if inventory_hostname == 'lab1' else 2 }}}}/24"]{extra}
        """))
    return path


def test_vxlans_on_two_hosts_carry_a_segment_over_the_lab_switch(lab3, tmp_path):
    ips = {h: uplink_ip(lab3, h) for h in HOSTS}
    uplink = {h: link(lab3, h, "eth0") for h in HOSTS}
    path = book(tmp_path, ips)
    try:
        proc, events = run(lab3, path)
        assert changed(events) == 4
        for host, other in (("lab1", "lab2"), ("lab2", "lab1")):
            vx = link(lab3, host, "vx42", "vxa")
            data = vx["linkinfo"]["info_data"]
            assert vx["linkinfo"]["info_kind"] == "vxlan" and vx["ifalias"] == "nsprov:vxlab"
            assert (data["id"], data["remote"], data["port"], data["learning"]) == (42, ips[other], 4789, True)
            assert vx["mtu"] == uplink[host]["mtu"] - 50
        # the namespaces have no link but the vxlan: the ping crosses the lab switch inside UDP 4789
        ping = lab3.ssh("lab1", "ip", "netns", "exec", "vxa", "ping", "-c", "2", "-W", "2", "10.83.0.2", check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        fdb = lab3.ssh("lab1", "bridge", "-n", "vxa", "-j", "fdb", "show", "dev", "vx42").stdout
        assert ips["lab2"] in fdb                  # the kernel learned lab2's end behind lab2's address
        index = link(lab3, "lab1", "vx42", "vxa")["ifindex"]
        proc, events = run(lab3, path)
        assert changed(events) == 0 and link(lab3, "lab1", "vx42", "vxa")["ifindex"] == index
        # an MTU edit is made in place; learning off makes it again (the kernel keeps it for life)
        proc, events = run(lab3, book(tmp_path, ips, mtu=1400))
        assert changed(events) == 2 and link(lab3, "lab1", "vx42", "vxa")["ifindex"] == index
        assert link(lab3, "lab1", "vx42", "vxa")["mtu"] == 1400
        proc, events = run(lab3, book(tmp_path, ips, mtu=1400, learning=False))
        assert changed(events) == 2
        vx = link(lab3, "lab1", "vx42", "vxa")
        assert vx["ifindex"] != index and vx["linkinfo"]["info_data"]["learning"] is False and vx["mtu"] == 1400
        # a hand edit of its own attribute is drift; a run puts it back
        lab3.ssh("lab2", "ip", "-n", "vxa", "link", "set", "vx42", "type", "vxlan", "learning")
        drift = nsprov("drift", "-i", str(lab3.inventory), str(path), "--json", check=False)
        drifted = [e for e in json_events(drift.stdout) if e["event"] == "task" and e["status"] == "changed"]
        assert drift.returncode == 1 and [e["host"] for e in drifted] == ["lab2"], drift.stdout
        proc, events = run(lab3, path)
        assert changed(events) == 1 and link(lab3, "lab2", "vx42", "vxa")["linkinfo"]["info_data"]["learning"] is False
        # a new remote makes it again, toward the new address
        proc, events = run(lab3, book(tmp_path, ips, remote={"lab1": "192.0.2.9", "lab2": ips["lab1"]},
                                      mtu=1400, learning=False))
        assert changed(events) == 1                # lab1's; lab2's remote is as it was
        assert link(lab3, "lab1", "vx42", "vxa")["linkinfo"]["info_data"]["remote"] == "192.0.2.9"
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)
    for host in HOSTS:
        assert link(lab3, host, "vx42", "vxa") is None
        assert "vxa" not in lab3.ssh(host, "ip", "netns", "list").stdout.split()
        after = link(lab3, host, "eth0")
        assert (after["ifindex"], after["mtu"], after["address"]) == (
            uplink[host]["ifindex"], uplink[host]["mtu"], uplink[host]["address"])


def test_a_missing_underlay_is_refused_before_anything_changes_naming_it(lab3, tmp_path):
    ips = {h: uplink_ip(lab3, h) for h in HOSTS}
    netns = lab3.ssh("lab1", "ip", "netns", "list").stdout
    path = book(tmp_path, ips, dev="eth7")
    proc, events = run(lab3, path, check=False)
    assert proc.returncode == 1
    failed = [e for e in events if e["event"] == "task" and e["status"] == "failed"]
    assert failed and "its underlay link 'eth7' does not exist in the host's namespace" in failed[0]["reason"]
    assert lab3.ssh("lab1", "ip", "netns", "list").stdout == netns
    nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)


def test_a_vxlan_dies_with_its_underlay_and_nsprov_plans_it_so(lab3, tmp_path):
    # control: the kernel does take a vxlan with its underlay
    lab3.ssh("lab1", "sh", "-c", "ip link add ctxv0 type veth peer name ctxv1 && "
                                 "ip link add ctx42 type vxlan id 9 dev ctxv0 remote 192.0.2.1 dstport 4789 && "
                                 "ip link del ctxv0")
    assert link(lab3, "lab1", "ctx42") is None
    path = tmp_path / "chain.yml"
    path.write_text(textwrap.dedent("""\
        - hosts: lab1
          lab: vxchain
          tasks:
            - netns: {name: vxred}
            - netns: {name: vxblue}
            - veth: {name: vxh0, peer: eth0, peer_netns: vxred, addresses: [10.84.0.1/24]}
            - vxlan: {name: vxb0, id: 7, dev: vxh0, remote: 10.84.0.2, netns: vxblue, addresses: [10.85.0.1/24]}
        """))
    try:
        run(lab3, path)       # the underlay is made by the same run: the vxlan is bound to it by index
        vx = link(lab3, "lab1", "vxb0", "vxblue")
        data = vx["linkinfo"]["info_data"]
        assert "link" in data or "link_index" in data, data       # bound to its underlay
        assert vx["mtu"] == 1450
        check = nsprov("destroy", "-i", str(lab3.inventory), str(path), "--check", "--json")
        reasons = {e["name"]: e["reason"] for e in json_events(check.stdout) if e["event"] == "task"}
        assert any("removed with" in r for n, r in reasons.items() if "vxb0" in n), reasons
    finally:
        proc = nsprov("destroy", "-i", str(lab3.inventory), str(path), "--json", check=False)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert link(lab3, "lab1", "vxh0") is None
    names = lab3.ssh("lab1", "ip", "netns", "list").stdout.split()
    assert "vxred" not in names and "vxblue" not in names
    labs = [e for e in json_events(nsprov("labs", "-i", str(lab3.inventory), "--json").stdout) if e["event"] == "labs"]
    assert labs and all("vxchain" not in e["labs"] for e in labs)


CLASH = """\
- hosts: lab3
  lab: LAB
  tasks:
    - netns: {name: NS}
    - vxlan: {name: vxc, id: ID, remote: REMOTE, netns: NS}
"""


def test_a_vni_another_lab_uses_on_the_host_is_refused_naming_the_cause(lab3, tmp_path):
    """Two labs' tunnels cannot share an id and port on one host (the kernel's rule): the second
    is refused before any change, naming the lab that holds it; the first is untouched; the
    control, another id, runs."""
    remote = lab3.address("lab1")
    first, second = tmp_path / "clash1.yml", tmp_path / "clash2.yml"
    first.write_text(CLASH.replace("LAB", "clash1").replace("NS", "vc1").replace("ID", "777").replace("REMOTE", remote))
    second.write_text(CLASH.replace("LAB", "clash2").replace("NS", "vc2").replace("ID", "777").replace("REMOTE", remote))
    try:
        run(lab3, first)
        before = link(lab3, "lab3", "vxc", "vc1")
        proc, events = run(lab3, second, check=False)
        failed = [e for e in events if e["event"] == "task" and e["status"] == "failed"]
        assert proc.returncode != 0 and failed and "id 777 (port 4789) is lab clash1's on this host" in str(failed)
        assert link(lab3, "lab3", "vxc", "vc1")["ifindex"] == before["ifindex"]
        assert "vc2" not in lab3.ssh("lab3", "ip", "netns", "list").stdout        # undone, whole
        second.write_text(second.read_text().replace("777", "778"))
        run(lab3, second)
        assert link(lab3, "lab3", "vxc", "vc2")["linkinfo"]["info_data"]["id"] == 778
    finally:
        for path in (second, first):
            nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)


MIXED = """\
- hosts: lab1:lab2
  lab: vxmix
  vars:
    me: "{{ 1 if inventory_hostname == 'lab1' else 2 }}"
  tasks:
    - netns:
        name: vxm
        hosts: {vx-a: [10.86.0.1, "fd00:86::1"], vx-b: [10.86.0.2, "fd00:86::2"]}
    - vxlan:
        name: vx86
        id: 86
        dev: eth0
        remote: "{{ 'LAB2' if inventory_hostname == 'lab1' else 'LAB1' }}"
        netns: vxm
        addresses: ["10.86.0.{{ me }}/24", "fd00:86::{{ me }}/64"]
    - netem: {link: vx86, netns: vxm, rate: 50mbit}
    - process: {name: vxm-web, netns: vxm, command: [python3, -m, http.server, -b, "::", "8086"]}
    - process: {name: vxm-web2, netns: vxm, command: [python3, -m, http.server, -b, "::", "8087"]}
    - firewall:
        netns: vxm
        rules: [{action: drop, proto: tcp, port: 8087}]
      when: inventory_hostname == 'lab2'
"""
CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()"


def connects(lab, host: str, to: str, port: int, tries: int = 10) -> bool:
    """A TCP connection from the host's vxm to `to`, retried while a server may still be starting
    (a refusal comes at once; a drop waits out the 2 s timeout and is not retried)."""
    for _ in range(tries):
        proc = lab.ssh(host, "ip", "netns", "exec", "vxm", "python3", "-c", CONNECT, to, str(port), check=False)
        if proc.returncode == 0:
            return True
        if "timed out" in proc.stderr:
            return False
        lab.ssh(host, "sleep", "0.3")
    return False


def test_two_hosts_over_a_declared_vxlan_with_ipv6_a_rate_a_firewall_drop_and_names(lab3, tmp_path):
    """The kinds together across two lab hosts, each checked by the kernel's own tools and real
    packets: names resolve inside the netns only; IPv4 and IPv6 cross the vxlan (IPv6 usable right
    after the run: a TCP connection by name over IPv6 at once); the token bucket is on the vxlan;
    lab2's firewall drops one port, and the control is the same port on lab1, which has no
    firewall and answers; a re-run changes nothing; destroy leaves nothing."""
    ips = {h: uplink_ip(lab3, h) for h in HOSTS}
    path = tmp_path / "vxmix.yml"
    path.write_text(MIXED.replace("LAB1", ips["lab1"]).replace("LAB2", ips["lab2"]))
    try:
        proc, events = run(lab3, path)
        # IPv6 by name, straight after the run (no DAD wait), then IPv4 and IPv6 pings
        assert lab3.ssh("lab1", "ip", "netns", "exec", "vxm", "getent", "ahostsv6", "vx-b").stdout.split()[0] == "fd00:86::2"
        assert connects(lab3, "lab1", "vx-b", 8086)
        for target in ("10.86.0.2", "fd00:86::2"):
            ping = lab3.ssh("lab1", "ip", "netns", "exec", "vxm", "ping", "-c", "2", "-W", "2", target, check=False)
            assert ping.returncode == 0, ping.stdout + ping.stderr
        assert lab3.ssh("lab1", "getent", "hosts", "vx-b", check=False).returncode != 0   # the host's names untouched
        # the token bucket on the vxlan, as tc reads it
        qdiscs = json.loads(lab3.ssh("lab1", "ip", "netns", "exec", "vxm", "tc", "-j", "qdisc", "show",
                                     "dev", "vx86", "root").stdout)
        assert [(q["kind"], q["options"]["rate"]) for q in qdiscs] == [("tbf", 6250000)]
        # lab2 drops 8087 (its table, as nft lists it); lab1 has no firewall and answers on 8087
        ruleset = json.loads(lab3.ssh("lab2", "ip", "netns", "exec", "vxm", "nft", "-j", "list", "ruleset").stdout)
        drops = [i["rule"] for i in ruleset["nftables"] if "rule" in i and any("drop" in x for x in i["rule"]["expr"])]
        assert [r["table"] for r in drops] == ["nsprov_vxmix"], ruleset
        assert "nsprov_vxmix" not in lab3.ssh("lab1", "ip", "netns", "exec", "vxm", "nft", "list", "tables").stdout
        assert not connects(lab3, "lab1", "fd00:86::2", 8087) and not connects(lab3, "lab1", "10.86.0.2", 8087)
        assert connects(lab3, "lab2", "vx-a", 8087) and connects(lab3, "lab2", "10.86.0.1", 8087)   # the control
        index = {h: link(lab3, h, "vx86", "vxm")["ifindex"] for h in HOSTS}
        proc, events = run(lab3, path)
        assert changed(events) == 0 and {h: link(lab3, h, "vx86", "vxm")["ifindex"] for h in HOSTS} == index
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)
    for host in HOSTS:
        assert "vxm" not in lab3.ssh(host, "ip", "netns", "list").stdout.split()
        assert lab3.ssh(host, "test", "-e", "/etc/netns/vxm", check=False).returncode == 1
