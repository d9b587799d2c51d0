"""Labs own exactly their objects: a lab is named (lab:, --lab, else the file stem) and claimed by
one playbook path; run converges (removes what the playbook no longer declares); drift reports,
read-only, with an exit code; the ledger never lies. Every result is checked on the hosts with
ip -j, nft -j and the ledger file, never by asking nsprov."""

from __future__ import annotations

import hashlib
import json
import shutil
import textwrap

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab


def run(*args: str):
    proc = nsprov(*args, "--json", check=False)
    return proc, json_events(proc.stdout)


def netns(lab, host: str) -> set:
    return {n["name"] for n in json.loads(lab.ssh(host, "ip", "-j", "netns", "list").stdout or "[]")}


def links(lab, host: str, ns: str = "") -> dict:
    argv = ["ip", "-j", "addr"] if not ns else ["ip", "-n", ns, "-j", "addr"]
    return {i["ifname"]: i for i in json.loads(lab.ssh(host, *argv).stdout)}


def tables(lab, host: str) -> dict:
    """{table name: [rule comments]} of the host's ip nft tables."""
    data = json.loads(lab.ssh(host, "nft", "-j", "list", "ruleset").stdout)["nftables"]
    out: dict = {}
    for item in data:
        if "table" in item and item["table"]["family"] == "ip":
            out.setdefault(item["table"]["name"], [])
        if "rule" in item and item["rule"]["family"] == "ip":
            out.setdefault(item["rule"]["table"], []).append(item["rule"].get("comment"))
    return out


def ledger(lab, host: str) -> dict:
    out = lab.ssh(host, "cat", "/var/lib/nsprov/ledger.json", check=False).stdout
    return json.loads(out) if out else {"labs": {}, "objects": []}


def records(lab, host: str, name: str) -> list:
    return [o for o in ledger(lab, host)["objects"] if o.get("lab") == name]


NET = textwrap.dedent("""\
    - hosts: lab1
      tasks:
        - netns: {name: NS}
        - veth: {name: VETH, peer: eth0, peer_netns: NS, addresses: [ADDR.1/24], peer_addresses: [ADDR.2/24]}
    """)


def book(path, ns: str, veth: str, addr: str = "10.61.1") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(NET.replace("NS", ns).replace("VETH", veth).replace("ADDR", addr))
    return str(path)


# ------------------------------------------------------------------ identity
def test_two_playbooks_with_the_same_name_are_not_one_lab(lab3, tmp_path):
    a = book(tmp_path / "projA" / "site.yml", "sa1", "sav0")
    b = book(tmp_path / "projB" / "site.yml", "sb1", "sbv0", "10.61.2")
    try:
        assert run("run", "-i", str(lab3.inventory), a)[0].returncode == 0
        for verb in ("run", "destroy"):
            proc, events = run(verb, "-i", str(lab3.inventory), b)
            assert proc.returncode == 1
            error = next(e for e in events if e["event"] == "host_done")["error"]
            assert f"made by {a}" in error and f"this run is from {b}" in error and "--take-over" in error
        assert "sa1" in netns(lab3, "lab1") and "sb1" not in netns(lab3, "lab1")   # projA's untouched
        # a copy is another lab (its stem), whose objects of the same names are the first lab's ...
        copy = tmp_path / "site-copy.yml"
        shutil.copy(a, copy)
        proc, events = run("run", "-i", str(lab3.inventory), str(copy))
        assert proc.returncode == 1 and "netns 'sa1' belongs to lab 'site', not 'site-copy'" in proc.stdout
        # ... and claiming that lab from the copy's path is refused, naming both
        proc, events = run("run", "-i", str(lab3.inventory), str(copy), "--lab", "site")
        assert proc.returncode == 1 and f"this run is from {copy}" in proc.stdout
        # --take-over moves the lab to projB's playbook, which then converges it to its own
        proc, events = run("run", "-i", str(lab3.inventory), b, "--take-over")
        assert proc.returncode == 0, proc.stdout[-2000:]
        assert "sb1" in netns(lab3, "lab1") and "sa1" not in netns(lab3, "lab1")
        assert ledger(lab3, "lab1")["labs"]["site"]["playbook"] == b
        assert ledger(lab3, "lab1")["labs"]["site"]["taken_over_from"] == a
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), "--lab", "site", check=False)
        nsprov("destroy", "-i", str(lab3.inventory), "--lab", "site-copy", check=False)
    assert not {"sa1", "sb1"} & netns(lab3, "lab1") and records(lab3, "lab1", "site") == []


def test_a_renamed_playbook_is_found_by_labs_and_destroyed_by_name(lab3, tmp_path):
    path = tmp_path / "named.yml"
    path.write_text("- hosts: lab1\n  lab: kept-name\n  tasks:\n    - netns: {name: kn1}\n    - netns: {name: kn2}\n")
    assert run("run", "-i", str(lab3.inventory), str(path))[0].returncode == 0
    path.rename(tmp_path / "renamed.yml")
    import os
    proc = nsprov("labs", "-i", str(lab3.inventory), "--limit", "lab1", check=False,
                  env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 0 and "kept-name" in proc.stdout and "gone from this controller" in proc.stdout
    proc, events = run("labs", "-i", str(lab3.inventory), "--limit", "lab1")
    labs = next(e for e in events if e["event"] == "labs")["labs"]
    assert labs["kept-name"]["objects"] == 2 and labs["kept-name"]["playbook_exists"] is False
    assert labs["kept-name"]["playbook"] == str(path)
    proc, events = run("destroy", "-i", str(lab3.inventory), "--lab", "kept-name", "--limit", "lab1")
    assert proc.returncode == 0 and events[-1]["objects"]["lab1"]["removed"] == 2
    assert not {"kn1", "kn2"} & netns(lab3, "lab1")
    assert "kept-name" not in ledger(lab3, "lab1")["labs"]


def test_labs_differing_only_by_punctuation_have_their_own_tables(lab3, tmp_path):
    text = "- hosts: lab2\n  lab: LAB\n  tasks:\n    - nat: {source: SRC, out_interface: eth0}\n"
    (tmp_path / "a.yml").write_text(text.replace("LAB", "t-x").replace("SRC", "10.62.1.0/24"))
    (tmp_path / "b.yml").write_text(text.replace("LAB", "t_x").replace("SRC", "10.62.2.0/24"))
    try:
        for f in ("a.yml", "b.yml"):
            assert run("run", "-i", str(lab3.inventory), str(tmp_path / f))[0].returncode == 0
        t = tables(lab3, "lab2")
        assert t["nsprov_t-x"] == ["masquerade 10.62.1.0/24 oif eth0"]
        assert t["nsprov_t_x"] == ["masquerade 10.62.2.0/24 oif eth0"]
        assert run("destroy", "-i", str(lab3.inventory), str(tmp_path / "a.yml"))[0].returncode == 0
        t = tables(lab3, "lab2")
        assert "nsprov_t-x" not in t and t["nsprov_t_x"] == ["masquerade 10.62.2.0/24 oif eth0"]
    finally:
        for f in ("a.yml", "b.yml"):
            nsprov("destroy", "-i", str(lab3.inventory), str(tmp_path / f), check=False)


def test_all_plays_of_a_file_name_one_lab(lab3, tmp_path):
    path = tmp_path / "two-labs.yml"
    path.write_text("- hosts: lab1\n  lab: one\n  tasks: []\n- hosts: lab1\n  lab: two\n  tasks: []\n")
    proc = nsprov("run", "-i", str(lab3.inventory), str(path), check=False)
    assert proc.returncode == 2
    assert f"{path}:5: play[1].lab: 'two' differs from lab 'one' at line 2" in proc.stderr


# ------------------------------------------------------------------ never adopt
def test_a_hand_made_table_or_rule_with_nsprovs_name_is_never_adopted(lab3, tmp_path):
    path = tmp_path / "adopt.yml"
    path.write_text("- hosts: lab2\n  tasks:\n    - nat: {source: 10.63.0.0/24, out_interface: eth0}\n")
    lab3.ssh("lab2", "sh", "-c", "nft add table ip nsprov_adopt && nft add chain ip nsprov_adopt mine")
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(path))
        assert proc.returncode == 1
        failed = next(e for e in events if e["event"] == "task" and e["status"] == "failed")
        assert "firewall table 'nsprov_adopt' exists and was not created by nsprov; not adopting it" in failed["reason"]
        assert tables(lab3, "lab2")["nsprov_adopt"] == []             # no rule and no chain was added
        chains = [x["chain"]["name"] for x in json.loads(lab3.ssh("lab2", "nft", "-j", "list", "table", "ip",
                                                                   "nsprov_adopt").stdout)["nftables"] if "chain" in x]
        assert chains == ["mine"]
        run("destroy", "-i", str(lab3.inventory), str(path))
        assert "nsprov_adopt" in tables(lab3, "lab2")                 # destroy leaves it: not ours
    finally:
        lab3.ssh("lab2", "nft", "delete", "table", "ip", "nsprov_adopt", check=False)
    # and a rule carrying nsprov's comment, added by hand to the lab's own table, is reported, not taken
    try:
        assert run("run", "-i", str(lab3.inventory), str(path))[0].returncode == 0
        lab3.ssh("lab2", "nft", "add", "rule", "ip", "nsprov_adopt", "postrouting", "ip", "saddr", "10.64.0.0/24",
                 "masquerade", "comment", '"masquerade 10.64.0.0/24 oif eth0"')
        proc, events = run("drift", "-i", str(lab3.inventory), str(path))
        assert proc.returncode == 1
        assert any(e["event"] == "drift" and e["kind"] == "rule" for e in events)
        proc, events = run("destroy", "-i", str(lab3.inventory), str(path))
        assert proc.returncode == 1 and "holds rules nsprov did not make" in json.dumps(events)
    finally:
        lab3.ssh("lab2", "nft", "delete", "table", "ip", "nsprov_adopt", check=False)
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)


# ------------------------------------------------------------------ converge
CONVERGE = textwrap.dedent("""\
    - hosts: lab3
      lab: converge
      tasks:
        - bridge: {name: cvbr, addresses: [10.65.0.1/24]}
        - netns: {name: "cv-{{ item }}"}
          loop: HOSTS
        - veth: {name: "cv-{{ item }}", bridge: cvbr, peer: eth0, peer_netns: "cv-{{ item }}",
                 peer_addresses: ["10.65.0.{{ 10 + loop_index | default(0) }}/24"]}
          loop: HOSTS
    """)


def converge_book(tmp_path, hosts: list) -> str:
    path = tmp_path / "converge.yml"
    items = "[" + ", ".join(hosts) + "]"
    text = CONVERGE.replace("HOSTS", items)
    # each host its own address: h1 .11, h2 .12 ...
    text = text.replace('peer_addresses: ["10.65.0.{{ 10 + loop_index | default(0) }}/24"]',
                        'peer_addresses: ["10.65.0.{{ item[1:] | int + 10 }}/24"]')
    path.write_text(text)
    return str(path)


def test_run_removes_what_the_playbook_no_longer_declares(lab3, tmp_path):
    path = converge_book(tmp_path, ["h1", "h2"])
    try:
        assert run("run", "-i", str(lab3.inventory), path)[0].returncode == 0
        lab3.ssh("lab3", "ping", "-c1", "-W2", "10.65.0.11")
        path = converge_book(tmp_path, ["h2"])          # h1 dropped from the lab
        # --check and --diff show it, and change nothing
        proc, events = run("run", "-i", str(lab3.inventory), path, "--check", "--diff")
        pruned = [e for e in events if e["event"] == "task" and e.get("pruned")]
        assert sorted(e["name"] for e in pruned) == ["netns cv-h1", "veth cv-h1<->cv-h1/eth0"]
        assert all(e["status"] == "changed" and e["reason"].startswith("no longer declared") for e in pruned)
        assert "cv-h1" in netns(lab3, "lab3")
        # --tags: nothing pruned, and said so
        proc, events = run("run", "-i", str(lab3.inventory), path, "--tags", "all")
        note = next(e for e in events if e["event"] == "prune")
        assert "--tags" in note["why"] and "cv-h1" in netns(lab3, "lab3")
        # --keep-undeclared: kept
        proc, events = run("run", "-i", str(lab3.inventory), path, "--keep-undeclared")
        assert proc.returncode == 0 and "cv-h1" in netns(lab3, "lab3")
        # a plain run removes them
        proc, events = run("run", "-i", str(lab3.inventory), path)
        assert proc.returncode == 0
        assert "cv-h1" not in netns(lab3, "lab3") and "cv-h1" not in links(lab3, "lab3")
        assert lab3.ssh("lab3", "ping", "-c1", "-W1", "10.65.0.11", check=False).returncode != 0
        assert not [r for r in records(lab3, "lab3", "converge") if "h1" in r["name"]]
        assert "cv-h2" in netns(lab3, "lab3")
        proc, events = run("run", "-i", str(lab3.inventory), path)
        assert events[-1]["hosts"]["lab3"]["changed"] == 0
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), path, check=False)


# ------------------------------------------------------------------ the ledger never lies
def test_netns_absent_takes_its_records_and_a_later_lab_can_use_the_names(lab3, tmp_path):
    path = tmp_path / "first.yml"
    path.write_text(textwrap.dedent("""\
        - hosts: lab1
          tasks:
            - netns: {name: gone1}
            - veth: {name: gonev, peer: eth0, peer_netns: gone1, peer_addresses: [10.66.0.2/24]}
            - route: {netns: gone1, to: 10.67.0.0/24, dev: eth0}
        """))
    other = tmp_path / "second.yml"
    other.write_text("- hosts: lab1\n  tasks:\n    - bridge: {name: gonev}\n")
    try:
        assert run("run", "-i", str(lab3.inventory), str(path))[0].returncode == 0
        path.write_text(path.read_text().replace("{name: gone1}", "{name: gone1, state: absent}")
                        .replace("    - veth:", "#").replace("    - route:", "#"))
        proc, events = run("run", "-i", str(lab3.inventory), str(path), "--keep-undeclared")
        assert proc.returncode == 0, proc.stdout[-2000:]
        assert "gone1" not in netns(lab3, "lab1") and "gonev" not in links(lab3, "lab1")
        assert records(lab3, "lab1", "first") == []        # the veth's and the route's records went too
        assert run("run", "-i", str(lab3.inventory), str(other))[0].returncode == 0
        assert [r["name"] for r in records(lab3, "lab1", "second")] == ["gonev"]
        assert run("destroy", "-i", str(lab3.inventory), str(other))[0].returncode == 0
        assert "gonev" not in links(lab3, "lab1")
    finally:
        for f in (path, other):
            nsprov("destroy", "-i", str(lab3.inventory), str(f), check=False)


def test_a_refused_destroy_keeps_every_record_and_converges_after(lab3, tmp_path):
    path = tmp_path / "refused.yml"
    path.write_text("- hosts: lab1\n  tasks:\n    - netns: {name: rf1}\n"
                    "    - veth: {name: rfv0, peer: eth0, peer_netns: rf1}\n")
    try:
        assert run("run", "-i", str(lab3.inventory), str(path))[0].returncode == 0
        lab3.ssh("lab1", "sh", "-c", "ip -n rf1 link add intruder type bridge")
        before = records(lab3, "lab1", "refused")
        proc, events = run("destroy", "-i", str(lab3.inventory), str(path))
        assert proc.returncode == 1 and "holds links nsprov did not create (intruder)" in json.dumps(events)
        assert records(lab3, "lab1", "refused") == before and "rf1" in netns(lab3, "lab1")
        lab3.ssh("lab1", "ip", "-n", "rf1", "link", "del", "intruder")
        assert run("destroy", "-i", str(lab3.inventory), str(path))[0].returncode == 0
        assert records(lab3, "lab1", "refused") == [] and "rfv0" not in links(lab3, "lab1")
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)


# ------------------------------------------------------------------ drift
DRIFT = textwrap.dedent("""\
    - hosts: lab2
      tasks:
        - netns: {name: dr1}
        - veth: {name: drv0, peer: eth0, peer_netns: dr1, addresses: [10.68.0.1/24], peer_addresses: [10.68.0.2/24]}
        - namespace: {name: drbox, kinds: [uts, pid, mnt], hostname: drbox}
        - process: {name: drsleep, namespace: drbox, command: [sleep, "600"]}
    """)


def _host_state(lab, host: str) -> str:
    """Everything drift could have changed on the host, as text: links, addresses and routes of
    every namespace, nft, pins, the ledger and nsprov's files byte for byte."""
    # IPv4 only: IPv6 duplicate address detection goes on by itself, in the kernel, after a link is up
    script = ("ip -d -j link; ip -4 -j addr; ip -j route; for n in $(ip netns list | cut -d' ' -f1); do "
              "ip -n $n -d -j link; ip -n $n -4 -j addr; ip -n $n -j route; done; nft -j list ruleset; "
              "ls -la --time-style=full-iso /run/netns /run/nsprov "
              "/run/nsprov/proc /var/lib/nsprov 2>&1; sha256sum /var/lib/nsprov/ledger.json /var/lib/nsprov/lock "
              "/run/nsprov/proc/* 2>&1")
    return lab.ssh(host, "sh", "-c", script).stdout


def test_drift_is_read_only_and_says_in_sync_or_what_differs(lab3, tmp_path):
    path = tmp_path / "drift.yml"
    path.write_text(DRIFT)
    try:
        assert run("run", "-i", str(lab3.inventory), str(path))[0].returncode == 0
        before = _host_state(lab3, "lab2")
        proc, events = run("drift", "-i", str(lab3.inventory), str(path))
        assert proc.returncode == 0 and events[-1]["drift"] == {"lab2": 0}
        assert "in sync" in nsprov("drift", "-i", str(lab3.inventory), str(path)).stdout
        assert _host_state(lab3, "lab2") == before                   # byte for byte, after two drifts
        # now change things by hand: a missing veth end's address, an extra route inside dr1, a dead
        # process, a changed hostname
        pid = json.loads(lab3.ssh("lab2", "cat", "/run/nsprov/proc/drsleep.json").stdout)["pid"]
        lab3.ssh("lab2", "sh", "-c", f"ip addr del 10.68.0.1/24 dev drv0; ip -n dr1 route add 10.69.0.0/24 dev eth0; "
                                     f"kill {pid}; nsenter --uts=/run/nsprov/ns/drbox/uts hostname other")
        before = _host_state(lab3, "lab2")
        proc, events = run("drift", "-i", str(lab3.inventory), str(path))
        assert proc.returncode == 1
        text = json.dumps(events)
        assert "drv0: +10.68.0.1/24" in text                          # missing
        assert "route 10.69.0.0/24 in netns dr1 was not made by nsprov" in text   # undeclared inside
        assert "restarted (pid" in text and "hostname other" in text  # dead process, changed hostname
        assert events[-1]["drift"]["lab2"] == 4
        assert _host_state(lab3, "lab2") == before                   # still untouched
        # run repairs what is nsprov's, and leaves the hand-made route (not its to remove)
        assert run("run", "-i", str(lab3.inventory), str(path))[0].returncode == 0
        routes = json.loads(lab3.ssh("lab2", "ip", "-n", "dr1", "-j", "route").stdout)
        assert any(r["dst"] == "10.69.0.0/24" for r in routes)
        proc, events = run("drift", "-i", str(lab3.inventory), str(path))
        assert proc.returncode == 1 and events[-1]["drift"]["lab2"] == 1
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)


def test_drift_of_an_unreachable_host_exits_2(lab3, tmp_path):
    from tests.conftest import host_entry, write_inventory
    inv = write_inventory(tmp_path / "inv.yml", {"lab2": host_entry(lab3, "lab2", ansible_port=2)})
    path = tmp_path / "d.yml"
    path.write_text("- hosts: lab2\n  tasks:\n    - netns: {name: x1}\n")
    assert nsprov("drift", "-i", str(inv), str(path), check=False).returncode == 2


# ------------------------------------------------------------------ honest summaries, logs
def test_summaries_say_what_stays_and_destroy_counts_tasks_and_objects(lab3, tmp_path):
    path = tmp_path / "honest.yml"
    path.write_text(textwrap.dedent("""\
        - hosts: lab1
          tasks:
            - netns: {name: hn1}
            - veth: {name: hnv0, peer: eth0, peer_netns: hn1, addresses: [10.70.0.1/24]}
            - process: {name: hn-echo, netns: hn1, command: [sh, -c, "echo hello from hn1; exec sleep 600"]}
            - verify: {reach: [{from: hn1, to: 10.70.0.99}]}
        """))
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(path))
        assert proc.returncode == 1
        error = next(e for e in events if e["event"] == "host_done")["error"]
        assert error == "1 task(s) failed; 3 change(s) made before stay"
        lab3.ssh("lab1", "sh", "-c", "for i in $(seq 50); do grep -q hello /var/lib/nsprov/log/honest/hn-echo.log "
                                     "&& exit 0; sleep 0.1; done; exit 1")
        proc, events = run("destroy", "-i", str(lab3.inventory), str(path), "--keep-logs")
        recap, objects = events[-1]["hosts"]["lab1"], events[-1]["objects"]["lab1"]
        assert recap["changed"] == 3                         # one a task: netns, veth, process
        assert objects["removed"] == 4                       # netns, both veth ends, process
        assert lab3.ssh("lab1", "test", "-f", "/var/lib/nsprov/log/honest/hn-echo.log", check=False).returncode == 0
        assert run("run", "-i", str(lab3.inventory), str(path))[0].returncode == 1
        run("destroy", "-i", str(lab3.inventory), str(path))
        assert lab3.ssh("lab1", "test", "-e", "/var/lib/nsprov/log/honest", check=False).returncode == 1
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)


def test_a_ledger_of_the_first_version_is_read_and_migrated(lab3, tmp_path):
    path = tmp_path / "old.yml"
    path.write_text("- hosts: lab1\n  tasks:\n    - netns: {name: old1}\n")
    assert run("run", "-i", str(lab3.inventory), str(path))[0].returncode == 0
    data = ledger(lab3, "lab1")
    v1 = {"version": 1, "objects": [{**{k: v for k, v in o.items() if k not in ("lab", "module", "play")},
                                     "owner": o["lab"]} for o in data["objects"]]}
    lab3.ssh("lab1", "sh", "-c", f"cat > /var/lib/nsprov/ledger.json <<'EOF'\n{json.dumps(v1)}\nEOF")
    proc, events = run("run", "-i", str(lab3.inventory), str(path))
    assert proc.returncode == 0 and events[-1]["hosts"]["lab1"]["changed"] == 0
    migrated = ledger(lab3, "lab1")
    assert migrated["version"] == 2 and migrated["labs"]["old"]["playbook"] == str(path)
    assert run("destroy", "-i", str(lab3.inventory), str(path))[0].returncode == 0
    assert "old1" not in netns(lab3, "lab1")
    digest = hashlib.sha256(json.dumps(records(lab3, "lab1", "old")).encode()).hexdigest()
    assert digest == hashlib.sha256(b"[]").hexdigest()
