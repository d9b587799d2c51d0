"""Ownership at the edges, tried as a deliberate attacker would, each with a control that shows
the fault or the foreign object is real, and checked on the host with `ip -j`, `nft -j` and
/proc, never by asking nsprov:
- a forward of the port the controller logs in at is refused before anything changes (by
  hand, the same rule does cut the host off);
- removing nsprov's address keeps an address someone else added in the same subnet (by hand,
  the kernel deletes it with the primary), and drift names the foreign one;
- what someone else put in a lab's netns (nft tables, routes in other tables, policy rules,
  rules and chains in the lab's own table) is reported by drift, and destroy names it;
- a sysctl two labs declare keeps its value until the last of them goes;
- edits of nat, port_forward, addresses and bridge mtu converge in one run, the next changes nothing.
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab


def ip_j(lab, host: str, *args: str):
    return json.loads(lab.ssh(host, "ip", "-j", *args).stdout or "[]")


def addresses(lab, host: str, dev: str, ns: str = "") -> list:
    args = ("-n", ns) if ns else ()
    return [f"{a['local']}/{a['prefixlen']}" for link in ip_j(lab, host, *args, "addr", "show", "dev", dev)
            for a in link["addr_info"] if a["family"] == "inet"]


def nft_tables(lab, host: str, ns: str = "") -> list:
    prefix = ("ip", "netns", "exec", ns) if ns else ()
    out = json.loads(lab.ssh(host, *prefix, "nft", "-j", "list", "tables").stdout)["nftables"]
    return sorted((t["table"]["family"], t["table"]["name"]) for t in out if "table" in t)


def run(lab, book, *extra, check=True):
    proc = nsprov("run", "-i", str(lab.inventory), str(book), "--json", *extra, check=check)
    return proc, json_events(proc.stdout)


def changed(events: list) -> int:
    return sum(e["status"] == "changed" for e in events if e["event"] == "task")


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# ------------------------------------------------------------------ 1. the management path
def test_a_forward_of_the_ssh_port_is_refused_before_anything_changes(lab3, tmp_path):
    book = write(tmp_path, "cutoff.yml", """\
        - hosts: lab1
          lab: cutoff
          tasks:
            - netns: {name: co1}
            - veth: {name: cov0, peer: eth0, peer_netns: co1, addresses: [10.80.1.1/24], peer_addresses: [10.80.1.2/24]}
            - port_forward: {port: 22, to: "10.80.1.2:22"}
        """)
    tables, links = nft_tables(lab3, "lab1"), ip_j(lab3, "lab1", "link")
    proc, events = run(lab3, book, check=False)
    assert proc.returncode == 1
    failed = [e for e in events if e["event"] == "task" and e["status"] == "failed"]
    assert len(failed) == 1 and "would redirect tcp port 22 of 10.231." in failed[0]["reason"]
    assert "allow_management_overlap" in failed[0]["reason"]
    assert nft_tables(lab3, "lab1") == tables and ip_j(lab3, "lab1", "link") == links    # nothing applied
    assert lab3.ssh("lab1", "true").returncode == 0
    # a forward of the same port arriving on another interface does not catch the controller
    other = write(tmp_path, "other.yml", book.read_text().replace(
        'port_forward: {port: 22, to: "10.80.1.2:22"}', 'port_forward: {port: 22, to: "10.80.1.2:22", in_interface: cov0}'))
    try:
        run(lab3, other)
        assert lab3.ssh("lab1", "true").returncode == 0
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(other), check=False)


def test_control_the_same_forward_made_by_hand_cuts_the_host_off(lab3):
    pid = str(lab3.status()["lab1"]["pid"])
    lab3.ssh("lab1", "sh", "-c", "nft add table ip ctlcut && nft add chain ip ctlcut pre "
                                 "'{ type nat hook prerouting priority -100; }' && "
                                 "nft add rule ip ctlcut pre tcp dport 22 dnat to 10.80.9.9:22")
    try:
        cut = subprocess.run(["ssh", "-F", str(lab3.ssh_config), "-o", "ConnectTimeout=2", "lab1", "true"],
                             capture_output=True, timeout=30)
        assert cut.returncode != 0        # the controller cannot log in any more
    finally:   # from outside: into the lab host's network namespace by its PID 1
        subprocess.run(["nsenter", "-t", pid, "-n", "nft", "delete", "table", "ip", "ctlcut"], check=True)
    assert lab3.ssh("lab1", "true").returncode == 0


def test_a_masquerade_of_the_hosts_own_management_address_is_refused(lab3, tmp_path):
    book = write(tmp_path, "masq.yml", """\
        - hosts: lab1
          lab: masq
          tasks:
            - nat: {source: 10.231.0.0/16, out_interface: eth0}
        """)
    tables = nft_tables(lab3, "lab1")
    proc, events = run(lab3, book, check=False)
    assert proc.returncode == 1 and "would masquerade packets from 10.231." in proc.stdout
    assert nft_tables(lab3, "lab1") == tables


# ------------------------------------------------------------------ 2. foreign addresses
def test_removing_nsprovs_address_keeps_a_foreign_one_in_the_same_subnet(lab3, tmp_path):
    book = write(tmp_path, "addrs.yml", """\
        - hosts: lab2
          lab: addrs
          tasks:
            - netns: {name: ad1}
            - veth: {name: adv0, peer: eth0, peer_netns: ad1, addresses: [10.81.1.1/24]}
            - bridge: {name: adbr0, addresses: [10.81.2.1/24]}
        """)
    try:
        run(lab3, book)
        lab3.ssh("lab2", "ip", "addr", "add", "10.81.1.77/24", "dev", "adv0")     # someone else's, secondary
        lab3.ssh("lab2", "ip", "addr", "add", "10.81.2.77/24", "dev", "adbr0")
        proc = nsprov("drift", "-i", str(lab3.inventory), str(book), "--json", check=False)
        found = {e["name"] for e in json_events(proc.stdout) if e["event"] == "drift"}
        assert proc.returncode == 1 and {"adv0/10.81.1.77/24", "adbr0/10.81.2.77/24"} <= found
        # nsprov's address replaced by another in the same subnet: one run, and both stay usable
        book.write_text(book.read_text().replace("10.81.1.1/24", "10.81.1.5/24").replace("10.81.2.1/24", "10.81.2.5/24"))
        proc, events = run(lab3, book)
        assert sorted(addresses(lab3, "lab2", "adv0")) == ["10.81.1.5/24", "10.81.1.77/24"]
        assert sorted(addresses(lab3, "lab2", "adbr0")) == ["10.81.2.5/24", "10.81.2.77/24"]
        assert lab3.ssh("lab2", "cat", "/proc/sys/net/ipv4/conf/adv0/promote_secondaries").stdout.strip() == "0"
        assert changed(run(lab3, book)[1]) == 0
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


def test_control_the_kernel_deletes_secondaries_with_the_primary(lab3):
    lab3.ssh("lab2", "sh", "-c", "ip link add ctlsec type bridge && ip addr add 10.82.0.1/24 dev ctlsec && "
                                 "ip addr add 10.82.0.77/24 dev ctlsec && ip addr del 10.82.0.1/24 dev ctlsec")
    try:
        assert addresses(lab3, "lab2", "ctlsec") == []        # the foreign .77 went with the primary
    finally:
        lab3.ssh("lab2", "ip", "link", "del", "ctlsec", check=False)


def test_an_address_task_on_a_foreign_link_keeps_the_secondaries_others_added(lab3, tmp_path):
    lab3.ssh("lab2", "ip", "link", "add", "fbr0", "type", "bridge")
    book = write(tmp_path, "onforeign.yml", """\
        - hosts: lab2
          lab: onforeign
          tasks:
            - address: {interface: fbr0, address: 10.83.0.1/24}
        """)
    try:
        run(lab3, book)
        lab3.ssh("lab2", "ip", "addr", "add", "10.83.0.77/24", "dev", "fbr0")
        nsprov("destroy", "-i", str(lab3.inventory), str(book))
        assert addresses(lab3, "lab2", "fbr0") == ["10.83.0.77/24"]
    finally:
        lab3.ssh("lab2", "ip", "link", "del", "fbr0", check=False)


# ------------------------------------------------------------------ 3. foreign objects in a lab's netns
def test_drift_reports_and_destroy_names_what_others_put_in_a_lab_netns(lab3, tmp_path):
    book = write(tmp_path, "foreign.yml", """\
        - hosts: lab3
          lab: foreign
          tasks:
            - netns: {name: fo1}
            - veth: {name: fov0, peer: eth0, peer_netns: fo1, addresses: [10.84.1.1/24], peer_addresses: [10.84.1.2/24]}
            - nat: {netns: fo1, source: 10.84.9.0/24, out_interface: eth0}
        """)
    try:
        run(lab3, book)
        assert json_events(nsprov("drift", "-i", str(lab3.inventory), str(book), "--json").stdout)[-1]["drift"] == \
            {"lab3": 0}
        lab3.ssh("lab3", "sh", "-c", "ip netns exec fo1 nft add table inet theirs && "
                                     "ip -n fo1 route add 10.99.0.0/16 dev eth0 table 100 && "
                                     "ip -n fo1 rule add from 10.84.1.0/24 lookup 100 prio 1000 && "
                                     "ip netns exec fo1 nft add rule ip nsprov_foreign postrouting counter && "
                                     "ip netns exec fo1 nft add chain ip nsprov_foreign handmade")
        # the control: they are there
        assert ("inet", "theirs") in nft_tables(lab3, "lab3", "fo1")
        assert ip_j(lab3, "lab3", "-n", "fo1", "route", "show", "table", "100")
        assert any(r.get("priority") == 1000 for r in ip_j(lab3, "lab3", "-n", "fo1", "rule"))
        proc = nsprov("drift", "-i", str(lab3.inventory), str(book), "--json", check=False)
        found = [e["what"] for e in json_events(proc.stdout) if e["event"] == "drift"]
        assert proc.returncode == 1
        for words in ("nft table inet theirs in netns fo1", "route 10.99.0.0/16 in table 100 in netns fo1",
                      "policy rule prio 1000 lookup 100 (ipv4) in netns fo1", "(chain handmade)",
                      "(rule in postrouting handle"):
            assert any(words in f for f in found), (words, found)
        proc = nsprov("destroy", "-i", str(lab3.inventory), str(book), "--json")
        reason = next(e["reason"] for e in json_events(proc.stdout) if e["event"] == "task" and e["name"] == "netns fo1")
        assert "it took down what nsprov did not make: nft table inet theirs, route 10.99.0.0/16 in table 100" in reason
        assert "policy rule prio 1000" in reason and "(chain handmade)" in reason
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
    assert "fo1" not in lab3.ssh("lab3", "ip", "netns", "list").stdout


def test_a_rule_added_by_hand_to_the_labs_own_table_is_never_deleted(lab3, tmp_path):
    book = write(tmp_path, "handrule.yml", """\
        - hosts: lab3
          lab: handrule
          tasks:
            - nat: {source: 10.85.0.0/24, out_interface: eth0}
        """)
    try:
        run(lab3, book)
        lab3.ssh("lab3", "nft", "add", "rule", "ip", "nsprov_handrule", "postrouting", "counter")
        proc = nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
        assert proc.returncode == 1 and "holds rules nsprov did not make" in proc.stdout
        rules = json.loads(lab3.ssh("lab3", "nft", "-j", "list", "table", "ip", "nsprov_handrule").stdout)
        assert [r["rule"] for r in rules["nftables"] if "rule" in r and "comment" not in r["rule"]]
    finally:
        lab3.ssh("lab3", "nft", "delete", "table", "ip", "nsprov_handrule", check=False)
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


# ------------------------------------------------------------------ 4. shared sysctls
def test_a_sysctl_two_labs_declare_keeps_its_value_until_the_last_goes(lab3, tmp_path):
    books = [write(tmp_path, f"share{x}.yml", f"""\
        - hosts: lab3
          lab: share{x}
          tasks:
            - sysctl: {{name: net.ipv4.ip_forward, value: 1}}
        """) for x in "ab"]
    value = lambda: lab3.ssh("lab3", "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip()   # noqa: E731
    assert value() == "0"
    try:
        for b in books:
            run(lab3, b)
        assert value() == "1"
        nsprov("destroy", "-i", str(lab3.inventory), str(books[0]))
        assert value() == "1"                         # lab b still declares it
        assert nsprov("drift", "-i", str(lab3.inventory), str(books[1])).returncode == 0
        nsprov("destroy", "-i", str(lab3.inventory), str(books[1]))
        assert value() == "0"                         # the last one put back what the first found
    finally:
        for b in books:
            nsprov("destroy", "-i", str(lab3.inventory), str(b), check=False)
        lab3.ssh("lab3", "sysctl", "-qw", "net.ipv4.ip_forward=0")


# ------------------------------------------------------------------ 5, 6. edits converge in one run
def test_edits_of_nat_port_forward_and_bridge_mtu_converge_in_one_run(lab3, tmp_path):
    book = write(tmp_path, "edits.yml", """\
        - hosts: lab3
          lab: edits
          tasks:
            - netns: {name: ed1}
            - bridge: {name: edbr0, mtu: 9000, addresses: [10.86.1.1/24]}
            - veth: {name: edv0, peer: eth0, peer_netns: ed1, bridge: edbr0, peer_addresses: [10.86.1.2/24]}
            - nat: {source: 10.86.1.0/24, out_interface: eth0}
            - port_forward: {port: 8080, to: "10.86.1.2:80"}
        """)
    try:
        run(lab3, book)
        assert ip_j(lab3, "lab3", "link", "show", "edbr0")[0]["mtu"] == 9000       # a port joined: it holds
        book.write_text(book.read_text().replace("10.86.1.0/24", "10.86.0.0/16").replace("port: 8080", "port: 8081")
                        + "    - veth: {name: edv1, peer: eth1, peer_netns: ed1, bridge: edbr0}\n")
        proc, events = run(lab3, book)
        assert changed(events) >= 3
        assert ip_j(lab3, "lab3", "link", "show", "edbr0")[0]["mtu"] == 9000       # another port: still
        rules = json.loads(lab3.ssh("lab3", "nft", "-j", "list", "table", "ip", "nsprov_edits").stdout)["nftables"]
        comments = sorted(r["rule"]["comment"] for r in rules if "rule" in r)
        assert comments == ["dnat tcp/8081->10.86.1.2:80", "dnat-local tcp/8081->10.86.1.2:80",
                            "hairpin tcp/8081->10.86.1.2:80", "masquerade 10.86.0.0/16 oif eth0"]
        proc, events = run(lab3, book)
        assert proc.returncode == 0 and changed(events) == 0
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
    assert ("ip", "nsprov_edits") not in nft_tables(lab3, "lab3")


def test_control_a_bridge_given_its_mtu_at_creation_drops_when_a_port_joins(lab3):
    lab3.ssh("lab3", "sh", "-c", "ip link add ctlmtu mtu 9000 type bridge && ip link add ctlp0 type veth peer ctlp1 && "
                                 "ip link set ctlp0 master ctlmtu")
    try:
        assert ip_j(lab3, "lab3", "link", "show", "ctlmtu")[0]["mtu"] == 1500
    finally:
        lab3.ssh("lab3", "sh", "-c", "ip link del ctlp0; ip link del ctlmtu", check=False)


# ------------------------------------------------------------------ 7, 8. a set made again
SET = """\
    - hosts: lab2
      lab: remade
      tasks:
        - namespace:
            name: rm1
            kinds: [uts, pid, mnt, user, net]
            hostname: rm1
            uid_map: [{inside: 0, outside: OUT, count: 65536}]
            gid_map: [{inside: 0, outside: OUT, count: 65536}]
            mounts: MOUNTS
        - veth: {name: rmv0, peer: eth0, peer_netns: rm1, addresses: [10.87.1.1/24], peer_addresses: [10.87.1.2/24]}
        - process: {name: rmsleep, namespace: rm1, command: [sleep, "3600"]}
"""


def _set_state(lab) -> dict:
    """The set as the host shows it: its init's user namespace, uid map and mounts; the veth's
    ends; the process nsprov started (its uid on the host and its user namespace)."""
    init = json.loads(lab.ssh("lab2", "cat", "/run/nsprov/ns/rm1/init.json").stdout)["pid"]
    userns = lab.ssh("lab2", "readlink", f"/proc/{init}/ns/user").stdout.strip()
    sleeper = [line.split()[0] for line in lab.ssh("lab2", "ps", "-eo", "pid=,args=").stdout.splitlines()
               if line.split()[1:] == ["sleep", "3600"]]
    return {"userns": userns,
            "uid_map": lab.ssh("lab2", "cat", f"/proc/{init}/uid_map").stdout.split(),
            "mounts": sorted({line.split()[4] for line in lab.ssh("lab2", "cat", f"/proc/{init}/mountinfo").stdout
                             .splitlines() if line.split()[4] in ("/tmp", "/srv")}),
            "host_end": [x["ifindex"] for x in ip_j(lab, "lab2", "link", "show", "rmv0")],
            "inside": addresses(lab, "lab2", "eth0", "rm1"),
            "sleepers": [(lab.ssh("lab2", "stat", "-c", "%u", f"/proc/{p}").stdout.strip(),
                          lab.ssh("lab2", "readlink", f"/proc/{p}/ns/user").stdout.strip()) for p in sleeper]}


def test_a_set_whose_maps_or_mounts_change_is_made_again_with_its_links_and_processes(lab3, tmp_path):
    book = tmp_path / "remade.yml"
    write_set = lambda out, mounts: book.write_text(textwrap.dedent(SET).replace("OUT", out)   # noqa: E731
                                                    .replace("MOUNTS", mounts))
    write_set("100000", "[{type: tmpfs, target: /tmp}]")
    try:
        run(lab3, book)
        first = _set_state(lab3)
        assert first["uid_map"] == ["0", "100000", "65536"] and first["sleepers"][0][0] == "100000"
        # a new map: drift names it, --diff shows it, one run makes it all again
        write_set("200000", "[{type: tmpfs, target: /tmp}]")
        proc = nsprov("drift", "-i", str(lab3.inventory), str(book), "--json", check=False)
        assert proc.returncode == 1 and "uid/gid maps changed" in proc.stdout
        proc, events = run(lab3, book, "--diff")
        task = next(e for e in events if e["event"] == "task" and e["module"] == "namespace")
        assert "made again" in task["reason"] and task["diff"]["after"]["uid_map"][0]["outside"] == 200000
        second = _set_state(lab3)
        assert second["uid_map"] == ["0", "200000", "65536"] and second["userns"] != first["userns"]
        assert second["inside"] == ["10.87.1.2/24"] and second["host_end"] != first["host_end"]
        assert second["sleepers"] == [("200000", second["userns"])]       # restarted, in the new set
        assert changed(run(lab3, book)[1]) == 0
        assert _set_state(lab3) == second
        # a new mount: the same, in one run
        write_set("200000", "[{type: tmpfs, target: /tmp}, {type: tmpfs, target: /srv}]")
        run(lab3, book)
        third = _set_state(lab3)
        assert third["mounts"] == ["/srv", "/tmp"] and third["sleepers"] == [("200000", third["userns"])]
        assert changed(run(lab3, book)[1]) == 0
        # a set the kernel cannot make: the run fails, and the old set, its veth and process stay as they were
        write_set("300000", "[{type: bind, source: /nonexistent-nsprov, target: /srv}]")
        proc, events = run(lab3, book, check=False)
        assert proc.returncode == 1
        assert _set_state(lab3) == third
        assert ".rm1.new" not in lab3.ssh("lab2", "ls", "-a", "/run/nsprov/ns").stdout
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
    assert "rm1" not in lab3.ssh("lab2", "ls", "/run/nsprov/ns").stdout
