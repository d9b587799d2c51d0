"""Network playbooks through the real CLI over SSH, checked on the hosts with plain ssh + `ip -j`,
`nft -j`, /proc and real traffic; never by asking nsprov what it did."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.conftest import host_entry, json_events, nsprov, sshd_counts, write_inventory

pytestmark = pytest.mark.lab
PLAYBOOKS = Path(__file__).parents[2] / "playbooks"


def run(*args: str, check: bool = False):
    proc = nsprov(*args, "--json", check=False)
    events = json_events(proc.stdout)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    recap = events[-1]["hosts"] if events and events[-1].get("event") == "recap" else {}
    return proc, events, recap


def links(lab, host: str, netns: str = "") -> dict:
    argv = ["ip", "-j", "addr"] if not netns else ["ip", "-n", netns, "-j", "addr"]
    return {i["ifname"]: i for i in json.loads(lab.ssh(host, *argv).stdout)}


def netns_list(lab, host: str) -> list:
    return [n["name"] for n in json.loads(lab.ssh(host, "ip", "-j", "netns", "list").stdout or "[]")]


def ipv4(link: dict) -> list:
    return sorted(f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"] if a["family"] == "inet")


def ledger(lab, host: str) -> list:
    out = lab.ssh(host, "cat", "/var/lib/nsprov/ledger.json", check=False).stdout
    return json.loads(out)["objects"] if out else []


def copy_playbook(tmp_path: Path, name: str, new_stem: str) -> str:
    dst = tmp_path / f"{new_stem}.yml"
    shutil.copy(PLAYBOOKS / name, dst)
    return str(dst)


@pytest.fixture
def net_on_lab1(lab3, tmp_path):
    """playbooks/net.yml limited to lab1, destroyed afterwards whatever happens."""
    book = copy_playbook(tmp_path, "net.yml", "net")
    yield book
    nsprov("destroy", "-i", str(lab3.inventory), book, "--limit", "lab1", check=False)


def test_net_playbook_builds_the_seed_demo_and_is_idempotent(lab3, net_on_lab1):
    proc, events, recap = run("run", "-i", str(lab3.inventory), net_on_lab1, "--limit", "lab1", check=True)
    assert recap == {"lab1": {"ok": 3, "changed": 2, "failed": 0, "skipped": 0, "unreachable": False}}
    assert "netns1" in netns_list(lab3, "lab1")
    host, inside = links(lab3, "lab1"), links(lab3, "lab1", "netns1")
    assert ipv4(host["veth0"]) == ["10.1.1.2/24"] and ipv4(inside["veth1"]) == ["10.1.1.1/24"]
    assert "UP" in inside["lo"]["flags"] and "UP" in inside["veth1"]["flags"]
    routes = json.loads(lab3.ssh("lab1", "ip", "-n", "netns1", "-j", "route").stdout)
    assert [(r["dst"], r["dev"]) for r in routes] == [("10.1.1.0/24", "veth1")]
    lab3.ssh("lab1", "ping", "-c", "1", "-W", "2", "10.1.1.1")
    lab3.ssh("lab1", "ip", "netns", "exec", "netns1", "ping", "-c", "1", "-W", "2", "10.1.1.2")
    lab3.ssh("lab1", "ip", "netns", "exec", "netns1", "ping", "-c", "1", "-W", "2", "127.0.0.1")
    indexes = (host["veth0"]["ifindex"], inside["veth1"]["ifindex"])
    # second run: nothing changes, and the kernel objects are the very same ones
    proc, events, recap = run("run", "-i", str(lab3.inventory), net_on_lab1, "--limit", "lab1", check=True)
    assert recap["lab1"]["changed"] == 0 and recap["lab1"]["ok"] == 3
    assert (links(lab3, "lab1")["veth0"]["ifindex"], links(lab3, "lab1", "netns1")["veth1"]["ifindex"]) == indexes
    assert all(e["status"] == "ok" and e["reason"] for e in events if e["event"] == "task")


def test_check_mode_reports_changes_and_makes_none(lab3, net_on_lab1):
    before_links = set(links(lab3, "lab1"))
    proc, events, recap = run("run", "-i", str(lab3.inventory), net_on_lab1, "--limit", "lab1", "--check",
                              check=True)
    assert recap["lab1"]["changed"] == 2 and recap["lab1"]["skipped"] == 1   # verify waits for a real run
    tasks = [e for e in events if e["event"] == "task"]
    assert tasks[1]["reason"].startswith("created veth veth0 <-> netns1/veth1")   # sees task 1's netns
    assert "netns1" not in netns_list(lab3, "lab1")
    assert set(links(lab3, "lab1")) == before_links
    assert not [e for e in ledger(lab3, "lab1") if e["name"] in ("veth0", "netns1")]


def test_diff_shows_before_and_after(lab3, net_on_lab1):
    proc = nsprov("run", "-i", str(lab3.inventory), net_on_lab1, "--limit", "lab1", "--diff")
    assert "--- before:" in proc.stdout and "+++ after:" in proc.stdout
    assert '"addresses": ["10.1.1.1/24"]' in proc.stdout


def test_destroy_removes_what_nsprov_made_and_leaves_foreign_lookalikes(lab3, tmp_path):
    book = copy_playbook(tmp_path, "net.yml", "net-destroy")
    lab3.ssh("lab1", "sh", "-c", "ip netns add netns1-foreign && ip link add veth0x type bridge "
                                 "&& nft add table ip nsprov_net_destroy_x && nft add table ip nsprov_netdestroy")
    try:
        foreign_index = links(lab3, "lab1")["veth0x"]["ifindex"]
        run("run", "-i", str(lab3.inventory), book, "--limit", "lab1", check=True)
        proc, events, recap = run("destroy", "-i", str(lab3.inventory), book, "--limit", "lab1", check=True)
        assert recap["lab1"]["changed"] >= 2
        assert "netns1" not in netns_list(lab3, "lab1")
        assert "veth0" not in links(lab3, "lab1")
        assert not [e for e in ledger(lab3, "lab1") if e["name"] in ("veth0", "netns1")]
        # the look-alikes are untouched
        assert "netns1-foreign" in netns_list(lab3, "lab1")
        assert links(lab3, "lab1")["veth0x"]["ifindex"] == foreign_index
        tables = {t["table"]["name"] for t in json.loads(lab3.ssh("lab1", "nft", "-j", "list", "tables").stdout)[
            "nftables"] if "table" in t}
        assert {"nsprov_net_destroy_x", "nsprov_netdestroy"} <= tables
        # destroy again: nothing left to do
        proc, events, recap = run("destroy", "-i", str(lab3.inventory), book, "--limit", "lab1", check=True)
        assert recap["lab1"]["changed"] == 0
    finally:
        lab3.ssh("lab1", "sh", "-c", "ip netns del netns1-foreign; ip link del veth0x; "
                                     "nft delete table ip nsprov_net_destroy_x; nft delete table ip nsprov_netdestroy",
                 check=False)


def test_a_same_named_foreign_netns_is_an_error_and_nothing_is_touched(lab3, tmp_path):
    book = copy_playbook(tmp_path, "net.yml", "net-foreign")
    lab3.ssh("lab2", "ip", "netns", "add", "netns1")
    try:
        inode = lab3.ssh("lab2", "stat", "-c", "%i", "/run/netns/netns1").stdout
        proc, events, recap = run("run", "-i", str(lab3.inventory), book, "--limit", "lab2")
        assert proc.returncode == 1
        failed = [e for e in events if e["event"] == "task" and e["status"] == "failed"]
        assert failed and "netns 'netns1' exists and was not created by nsprov; not adopting it" in failed[0]["reason"]
        assert "veth0" not in links(lab3, "lab2")
        run("destroy", "-i", str(lab3.inventory), book, "--limit", "lab2", check=True)
        assert lab3.ssh("lab2", "stat", "-c", "%i", "/run/netns/netns1").stdout == inode
    finally:
        lab3.ssh("lab2", "ip", "netns", "del", "netns1", check=False)


def test_a_failing_task_rolls_back_what_the_run_did_and_a_rerun_converges(lab3, tmp_path):
    book = tmp_path / "rollback.yml"
    text = textwrap.dedent("""\
        - hosts: lab2
          tasks:
            - netns: {name: rb1}
            - bridge: {name: rbbr0, addresses: [10.77.0.1/24]}
            - veth: {name: rbv0, bridge: rbbr0, peer: eth0, peer_netns: rb1, peer_addresses: [10.77.0.2/24]}
            - sysctl: {name: net.ipv4.conf.all.rp_filter, value: 2, netns: rb1}
            - route: {netns: rb1, to: 10.88.0.0/24, via: GATEWAY}
        """)
    # the gateway is on no connected subnet: the kernel refuses the route at apply time
    book.write_text(text.replace("GATEWAY", "10.99.99.1"))
    before = set(links(lab3, "lab2"))
    try:
        proc, events, recap = run("run", "-i", str(lab3.inventory), str(book))
        assert proc.returncode == 1
        failed = next(e for e in events if e["event"] == "task" and e["status"] == "failed")
        assert failed["reason"] == "could not add route '10.88.0.0/24' in netns 'rb1': Network is unreachable"
        rollback = next(e for e in events if e["event"] == "rollback")
        assert len(rollback["undone"]) >= 5 and rollback["errors"] == []
        assert "rb1" not in netns_list(lab3, "lab2")
        assert set(links(lab3, "lab2")) == before
        assert ledger(lab3, "lab2") == []
        # fixed, the same playbook converges
        book.write_text(text.replace("GATEWAY", "10.77.0.1"))
        run("run", "-i", str(lab3.inventory), str(book), check=True)
        routes = json.loads(lab3.ssh("lab2", "ip", "-n", "rb1", "-j", "route").stdout)
        assert {"dst": "10.88.0.0/24", "gateway": "10.77.0.1"}.items() <= next(
            r for r in routes if r["dst"] == "10.88.0.0/24").items()
        assert lab3.ssh("lab2", "ip", "netns", "exec", "rb1", "sysctl", "-n",
                        "net.ipv4.conf.all.rp_filter").stdout.strip() == "2"
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
    assert "rb1" not in netns_list(lab3, "lab2") and set(links(lab3, "lab2")) == before


def _http_get(lab, host: str, url: str, netns: str = "") -> None:
    code = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=5).read()"
    argv = (["ip", "netns", "exec", netns] if netns else []) + ["python3", "-c", code]
    lab.ssh(host, *argv)


def _start_server(lab, host: str, port: int, netns: str = "", bind: str = "0.0.0.0") -> str:
    """A web server on a lab host (in a netns if given) that logs client addresses; returns its PID."""
    prefix = f"ip netns exec {netns} " if netns else ""
    log = f"/tmp/http-{netns or 'host'}-{port}.log"
    pid = lab.ssh(host, "sh", "-c", f"setsid {prefix}python3 -u -m http.server {port} --bind {bind} "
                                    f"> {log} 2>&1 < /dev/null & echo $!").stdout.strip()
    lab.ssh(host, "sh", "-c", f"for i in $(seq 100); do grep -q Serving {log} && exit 0; sleep 0.05; done; exit 1")
    return pid


FOREIGN_RULE = ["-s", "10.98.0.0/24", "-o", "eth0", "-m", "comment", "--comment", "foreign-lookalike",
                "-j", "MASQUERADE"]


def _nat_comments(lab, firewall: str) -> list:
    """nsprov's NAT rules on lab1, read with the firewall's own tool."""
    if firewall == "nftables":
        table = json.loads(lab.ssh("lab1", "nft", "-j", "list", "table", "ip", "nsprov_bridge-nat").stdout)
        return sorted(e["rule"]["comment"] for e in table["nftables"] if "rule" in e)
    prefix = "nsprov:nsprov_bridge-nat:"
    return sorted(line.split(prefix, 1)[1].split('"')[0]
                  for line in lab.ssh("lab1", "iptables", "-w", "-t", "nat", "-S").stdout.splitlines() if prefix in line)


@pytest.mark.parametrize("firewall", ["nftables", "iptables"])
def test_bridge_nat_reaches_the_upstream_translated_and_forwards_a_port(lab3, tmp_path, firewall):
    book = copy_playbook(tmp_path, "bridge-nat.yml", "bridge-nat")
    inventory = str(lab3.inventory)
    if firewall == "iptables":   # the fallback for hosts without nft, chosen per host
        inventory = str(write_inventory(tmp_path / "inv.yml", {h: host_entry(lab3, h, **(
            {"nsprov_firewall": "iptables"} if h == "lab1" else {})) for h in ("lab1", "lab2", "lab3")}))
        lab3.ssh("lab1", "iptables", "-w", "-t", "nat", "-A", "POSTROUTING", *FOREIGN_RULE)
    lab1, lab2 = lab3.address("lab1"), lab3.address("lab2")
    pids = []
    try:
        proc, events, recap = run("run", "-i", inventory, book, check=True)
        assert recap["lab1"]["changed"] == 13 and recap["lab1"]["ok"] == 14 and "lab2" not in recap
        # independent look at the firewall: nsprov's own rules, with the masquerade rule
        comments = _nat_comments(lab3, firewall)
        assert "masquerade 10.2.0.0/24 oif eth0" in comments and "dnat tcp/8080->10.2.0.2:80" in comments
        if firewall == "iptables":
            assert lab3.ssh("lab1", "nft", "list", "table", "ip", "nsprov_bridge-nat", check=False).returncode != 0
        assert lab3.ssh("lab1", "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        # NAT: the upstream (lab2) sees lab1's address, not the namespace's
        pids.append(("lab2", _start_server(lab3, "lab2", 8000)))
        _http_get(lab3, "lab1", f"http://{lab2}:8000/", netns="green")
        upstream_log = lab3.ssh("lab2", "cat", "/tmp/http-host-8000.log").stdout
        assert f"{lab1} - - " in upstream_log and "10.2.0.3" not in upstream_log
        # port forward: lab2 → lab1:8080 → red:80, and hairpin from blue on the same bridge
        pids.append(("lab1", _start_server(lab3, "lab1", 80, netns="red", bind="10.2.0.2")))
        _http_get(lab3, "lab2", f"http://{lab1}:8080/")
        _http_get(lab3, "lab1", "http://10.2.0.1:8080/", netns="blue")
        red_log = lab3.ssh("lab1", "cat", "/tmp/http-red-80.log").stdout
        assert f"{lab2} - - " in red_log and "10.2.0.1 - - " in red_log
        # idempotent
        proc, events, recap = run("run", "-i", inventory, book, check=True)
        assert recap["lab1"]["changed"] == 0
        while pids:   # a server still inside red would keep the namespace (and br0-red) alive
            host, pid = pids.pop()
            lab3.ssh(host, "sh", "-c", f"kill {pid}; while kill -0 {pid} 2>/dev/null; do sleep 0.05; done")
        nsprov("destroy", "-i", inventory, book)
        saved = lab3.ssh("lab1", "iptables", "-w", "-t", "nat", "-S").stdout
        assert "nsprov:" not in saved
        if firewall == "iptables":
            assert "foreign-lookalike" in saved   # someone else's rule stays
    finally:
        for host, pid in pids:
            lab3.ssh(host, "kill", pid, check=False)
        nsprov("destroy", "-i", inventory, book, check=False)
        if firewall == "iptables":
            lab3.ssh("lab1", "iptables", "-w", "-t", "nat", "-D", "POSTROUTING", *FOREIGN_RULE, check=False)
    assert lab3.ssh("lab1", "nft", "list", "table", "ip", "nsprov_bridge-nat", check=False).returncode != 0
    assert lab3.ssh("lab1", "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    assert not set(netns_list(lab3, "lab1")) & {"red", "green", "blue"}
    assert "br0" not in links(lab3, "lab1")


def test_tags_select_tasks(lab3, tmp_path):
    book = copy_playbook(tmp_path, "bridge-nat.yml", "bridge-nat-tags")
    proc, events, recap = run("run", "-i", str(lab3.inventory), book, "--check", "--skip-tags", "nat", check=True)
    names = [e["name"] for e in events if e["event"] == "task"]
    assert len(names) == 10 and not any("masquerade" in n for n in names)
    proc, events, recap = run("run", "-i", str(lab3.inventory), book, "--check", "--tags", "nat", check=True)
    assert [e["module"] for e in events if e["event"] == "task"] == ["sysctl", "nat", "port_forward", "verify"]


BAD = {
    "malformed_yaml": ("- hosts: lab1\n  tasks:\n    - netns: {name: a\n", 3, "invalid YAML"),
    "unknown_module": ("- hosts: lab1\n  tasks:\n    - netnz: {name: a}\n", 3, "tasks[0].netnz: unknown module"),
    "unknown_parameter": ("- hosts: lab1\n  tasks:\n    - netns:\n        name: a\n        colour: red\n", 5,
                          "netns.colour: unknown parameter for netns"),
    "bad_cidr": ("- hosts: lab1\n  tasks:\n    - bridge:\n        name: b0\n        addresses: [10.0.0.300/24]\n",
                 5, "bridge.addresses: invalid address '10.0.0.300/24'"),
    "missing_prefix": ("- hosts: lab1\n  tasks:\n    - bridge: {name: b0, addresses: [10.0.0.1]}\n", 3,
                       "needs a prefix length"),
    "long_ifname": ("- hosts: lab1\n  tasks:\n    - bridge:\n        name: abcdefghijklmnop\n", 4,
                    "bridge.name: interface name 'abcdefghijklmnop' is 16 bytes; the kernel allows 15"),
    "ifname_characters": ("- hosts: lab1\n  tasks:\n    - bridge: {name: 'x; rm'}\n", 3,
                          "is not allowed"),
    "duplicate_names": ("- hosts: lab1\n  tasks:\n    - netns: {name: a}\n    - netns: {name: a}\n", 4,
                        "duplicate netns 'a': already declared at"),
    "undeclared_netns": ("- hosts: lab1\n  tasks:\n    - veth:\n        name: v0\n        peer: v1\n"
                         "        peer_netns: ghost\n", 6, "netns 'ghost' is not declared in this playbook"),
    "clashing_addresses": ("- hosts: lab1\n  tasks:\n    - bridge: {name: b0, addresses: [10.5.0.1/24]}\n"
                           "    - bridge: {name: b1, addresses: [10.5.0.1/16]}\n", 4, "address 10.5.0.1/16 clashes"),
    "undefined_variable": ("- hosts: lab1\n  tasks:\n    - netns: {name: '{{ nope }}'}\n", 3,
                           "undefined variable: 'nope' is undefined"),
    "missing_required": ("- hosts: lab1\n  tasks:\n    - veth: {name: v0}\n", 3, "veth.peer: is required"),
    "port_with_a_fraction": ("- hosts: lab1\n  tasks:\n    - port_forward: {port: 80.9, to: '10.0.0.2:80'}\n", 3,
                             "port_forward.port: port must be a whole number, not 80.9"),
    "root_mapped_to_root": ("- hosts: lab1\n  tasks:\n    - namespace:\n        name: u\n        kinds: [user]\n"
                            "        uid_map: [{inside: 0, outside: 0, count: 1}]\n"
                            "        gid_map: [{inside: 0, outside: 100000, count: 1}]\n", 6,
                            "namespace.uid_map: maps uid 0 inside to uid 0 on the host"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_reported_with_file_line_and_field_before_any_host_is_touched(lab3, tmp_path, case):
    text, line, message = BAD[case]
    book = tmp_path / f"{case}.yml"
    book.write_text(text)
    before = sshd_counts(lab3, "lab1")
    proc = nsprov("run", "-i", str(lab3.inventory), str(book), check=False)
    assert proc.returncode == 2
    assert "no host was touched" in proc.stderr
    lines = [x.strip() for x in proc.stderr.splitlines() if x.strip().startswith(str(book))]
    assert any(x.startswith(f"{book}:{line}:") and message in x for x in lines), proc.stderr
    assert sshd_counts(lab3, "lab1") == before


def test_every_problem_is_reported_at_once(lab3, tmp_path):
    book = tmp_path / "many.yml"
    book.write_text("- hosts: lab1\n  tasks:\n    - netnz: {}\n    - bridge: {name: abcdefghijklmnop}\n"
                    "    - route: {to: 10.0.0.0/33, via: 1.2.3.4}\n")
    proc = nsprov("run", "-i", str(lab3.inventory), str(book), check=False)
    assert proc.returncode == 2
    assert "3 problem(s)" in proc.stderr
    for line in (3, 4, 5):
        assert f"{book}:{line}:" in proc.stderr


def test_a_netns_loop_made_two_at_a_time_pins_each_its_own_namespace(lab3, tmp_path):
    """The agent makes a loop's namespaces on two threads: every pin must hold a namespace of
    its own (never the host's, never a sibling's), with lo up, and a re-run changes nothing."""
    book = tmp_path / "many.yml"
    book.write_text(textwrap.dedent("""\
        - hosts: lab2
          tasks:
            - netns: {name: "m{{ item }}"}
              loop: "{{ range(40) | list }}"
        """))
    try:
        proc, events, recap = run("run", "-i", str(lab3.inventory), str(book), check=True)
        assert recap["lab2"]["changed"] == 40
        names = [f"m{i}" for i in range(40)]
        assert set(names) <= set(netns_list(lab3, "lab2"))
        script = ("for n in " + " ".join(names) + "; do "
                  "printf '%s %s %s %s\\n' $n $(stat -f -c %T /run/netns/$n) $(stat -L -c %i /run/netns/$n) "
                  "\"$(ip -n $n -j link show lo)\"; done; stat -L -c 'host %i' /proc/self/ns/net")
        out = lab3.ssh("lab2", "sh", "-c", script).stdout.splitlines()
        host_inode = next(x.split()[1] for x in out if x.startswith("host "))
        inodes = set()
        for line in out[:-1]:
            name, fstype, inode, lo = line.split(" ", 3)
            assert fstype == "nsfs", f"{name} is pinned on {fstype}, not a namespace"
            assert "UP" in json.loads(lo)[0]["flags"], f"lo of {name} is down"
            inodes.add(inode)
        assert len(inodes) == 40 and host_inode not in inodes
        proc, events, recap = run("run", "-i", str(lab3.inventory), str(book), check=True)
        assert recap["lab2"]["changed"] == 0
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
    assert not set(netns_list(lab3, "lab2")) & {f"m{i}" for i in range(40)}


def test_destroy_names_the_process_that_keeps_a_netns_alive(lab3, net_on_lab1):
    """A process still inside a namespace keeps it (and its veth) after nsprov unpins it: destroy
    says so at once, naming the process, and a destroy after it exits finishes the job."""
    run("run", "-i", str(lab3.inventory), net_on_lab1, "--limit", "lab1", check=True)
    pid = lab3.ssh("lab1", "sh", "-c", "setsid ip netns exec netns1 sleep 300 > /dev/null 2>&1 < /dev/null & "
                                       "echo $!").stdout.strip()
    try:
        lab3.ssh("lab1", "sh", "-c", f"for i in $(seq 100); do [ $(readlink /proc/{pid}/ns/net) = "
                                     f"$(readlink /proc/self/ns/net) ] || exit 0; sleep 0.05; done; exit 1")
        proc, events, recap = run("destroy", "-i", str(lab3.inventory), net_on_lab1, "--limit", "lab1")
        assert proc.returncode == 1
        failed = [e for e in events if e.get("event") == "task" and e["status"] == "failed"]
        assert len(failed) == 1 and "host/veth0" in failed[0]["reason"]
        assert f"netns netns1 lives on in pid {pid} (sleep)" in failed[0]["reason"]
        assert "veth0" in links(lab3, "lab1")   # the kernel keeps it while sleep lives, as reported
        assert "netns1" not in netns_list(lab3, "lab1")
    finally:
        lab3.ssh("lab1", "sh", "-c", f"kill {pid}; while kill -0 {pid} 2>/dev/null; do sleep 0.05; done")
    proc, events, recap = run("destroy", "-i", str(lab3.inventory), net_on_lab1, "--limit", "lab1", check=True)
    assert "veth0" not in links(lab3, "lab1")
    assert not [e for e in ledger(lab3, "lab1") if e["name"] in ("veth0", "netns1")]


def test_register_names_the_task_in_json_and_a_later_read_is_refused(lab3, tmp_path):
    book = tmp_path / "registered.yml"
    book.write_text(textwrap.dedent("""\
        - hosts: lab1
          tasks:
            - netns: {name: reg1}
            - exec: {command: [ip, -o, link, show, lo], netns: reg1}
              register: lo_link
            - exec: {command: ["true"], netns: reg1}
        """))
    try:
        proc, events, recap = run("run", "-i", str(lab3.inventory), str(book), check=True)
        tasks = [e for e in events if e["event"] == "task"]
        assert [(e["module"], e.get("register")) for e in tasks] == [("netns", None), ("exec", "lo_link"),
                                                                     ("exec", None)]
        assert "reg1" in netns_list(lab3, "lab1")   # it ran on the host
        # a later `when` that reads the result cannot work (it is settled before the run): refused
        bad = tmp_path / "registered-when.yml"
        bad.write_text(book.read_text() + "    - sysctl: {name: net.ipv4.ip_forward, value: 1}\n"
                                          "      when: lo_link.changed\n")
        before = sshd_counts(lab3, "lab1")
        proc = nsprov("run", "-i", str(lab3.inventory), str(bad), check=False)
        assert proc.returncode == 2 and "no host was touched" in proc.stderr
        assert f"{bad}:8: play[0].tasks[3].when: 'lo_link' is the result registered at line 4" in proc.stderr
        assert sshd_counts(lab3, "lab1") == before
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
    assert "reg1" not in netns_list(lab3, "lab1")


PATH_BOOK = """\
- hosts: lab1
  lab: hops
  tasks:
    - netns: {name: ha}
    - netns: {name: hr, forwarding: true}
    - netns: {name: hb}
    - veth: {name: a0, netns: ha, peer: r0, peer_netns: hr, addresses: [10.67.1.2/24], peer_addresses: [10.67.1.1/24]}
    - veth: {name: r1, netns: hr, peer: b0, peer_netns: hb, addresses: [10.67.2.1/24], peer_addresses: [10.67.2.2/24]}
    - route: {netns: ha, to: default, via: 10.67.1.1}
    - route: {netns: hb, to: default, via: 10.67.2.1}
    - verify:
        path: [{from: ha, to: 10.67.2.2, via: [VIA]}]
"""


def test_a_path_check_sees_the_hops_the_packets_take(lab3, tmp_path):
    """The hops come from TTL-limited probes: the router's address holds; a hop the packets do not
    take (the control) fails, naming the hops seen."""
    book = tmp_path / "hops.yml"
    try:
        book.write_text(PATH_BOOK.replace("VIA", "10.67.1.1"))
        proc, events, recap = run("run", "-i", str(lab3.inventory), str(book))
        checks = [c for e in events if e["event"] == "task" for c in e.get("checks", []) if c["check"] == "path"]
        assert proc.returncode == 0 and [c["passed"] for c in checks] == [True], proc.stdout[-3000:]
        assert checks[0]["observed"] == "10.67.1.1 10.67.2.2"
        book.write_text(PATH_BOOK.replace("VIA", "10.67.2.1"))      # r's other side: not a hop from a
        proc, events, recap = run("verify", "-i", str(lab3.inventory), str(book))
        checks = [e for e in events if e["event"] == "check" and e["check"] == "path"]
        assert proc.returncode != 0 and [c["passed"] for c in checks] == [False]
        assert checks[0]["observed"] == "10.67.1.1 10.67.2.2"
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
    assert not {"ha", "hr", "hb"} & set(netns_list(lab3, "lab1"))
