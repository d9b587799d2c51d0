"""Controller ↔ agent over real SSH: one connection and one command per host, a cached bundle
that is checked before it runs, strict host keys, become through sudo, and facts that agree
with what the host says about itself. Counts come from each lab host's own sshd log."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import add_sudo_user, host_entry, json_events, nsprov, sh, sshd_counts, write_inventory

pytestmark = pytest.mark.lab


def _facts(*args: str, check: bool = False):
    proc = nsprov("facts", *args, "--json", check=check)
    return proc, json_events(proc.stdout)


def _host_done(events: list[dict], host: str) -> dict:
    return next(e for e in events if e["event"] == "host_done" and e["host"] == host)


def test_facts_agree_with_the_hosts_own_ip_json(lab3):
    lab3.ssh("lab1", "sh", "-c", "ip netns add factsns && ip link add fx0 type veth peer name fx1 netns factsns "
                                 "&& ip -n factsns addr add 10.99.0.1/24 dev fx1 && ip -n factsns link set fx1 up "
                                 "&& ip link add fbr0 type bridge && ip link set fx0 master fbr0")
    try:
        proc, events = _facts("-i", str(lab3.inventory), "--limit", "lab1")
        assert proc.returncode == 0, proc.stderr
        facts = next(e for e in events if e["event"] == "facts")["facts"]
        assert facts["hostname"] == "lab1"
        assert facts["netns"] == ["factsns"]
        for ns, argv in (("", ["ip", "-j", "-d", "addr"]), ("factsns", ["ip", "-n", "factsns", "-j", "-d", "addr"])):
            theirs = json.loads(lab3.ssh("lab1", *argv).stdout)
            expect = {(i["ifname"], i.get("linkinfo", {}).get("info_kind"), i.get("master"),
                       tuple(sorted(f"{a['local']}/{a['prefixlen']}" for a in i["addr_info"]))) for i in theirs}
            ours = {(link["name"], None if link["kind"] in ("loopback", "device") else link["kind"], link["master"],
                     tuple(sorted(link["addresses"]))) for link in facts["links"][ns]}
            assert ours == expect
        assert facts["ip_forward"] == int(lab3.ssh("lab1", "cat", "/proc/sys/net/ipv4/ip_forward").stdout)
        assert facts["kernel"] == lab3.ssh("lab1", "uname", "-r").stdout.strip()
    finally:
        lab3.ssh("lab1", "sh", "-c", "ip link del fbr0; ip link del fx0; ip netns del factsns", check=False)


# what iproute2 makes of each kind in a throwaway netns (`unshare -n`): the oracle for facts
IP_ASKS = {"veth": "ip link add t0 type veth", "bridge": "ip link add t0 type bridge",
           "dummy": "ip link add t0 type dummy", "vxlan": "ip link add t0 type vxlan id 1 dstport 4789",
           "macvlan": "ip link add t0 link lo type macvlan", "ipvlan": "ip link add t0 link lo type ipvlan",
           "vlan": "ip link add t0 link lo type vlan id 5"}
TC_ASKS = {"tbf": "tc qdisc add dev lo root tbf rate 1mbit burst 32kbit latency 400ms",
           "netem": "tc qdisc add dev lo root netem delay 1ms"}


def test_facts_say_which_link_kinds_and_qdiscs_the_kernel_has_and_a_task_needing_one_it_lacks_fails_first(
        lab3, tmp_path):
    """facts agree with iproute2 asking the same kernel in a throwaway netns (it says "Unknown
    device type" / "qdisc kind is unknown" for what the kernel lacks); a run that needs a kind
    the host lacks fails while planning, naming the kind and the host, and changes nothing,
    while the control, the same run with a kind the host has, goes through."""
    proc, events = _facts("-i", str(lab3.inventory), "--limit", "lab1")
    facts = next(e for e in events if e["event"] == "facts")["facts"]
    oracle = {}
    for kinds, asks, unknown in (("link_kinds", IP_ASKS, "Unknown device type"), ("qdiscs", TC_ASKS, "unknown")):
        for kind, command in asks.items():
            out = lab3.ssh("lab1", "unshare", "-n", "sh", "-c", f"ip link set lo up; {command}", check=False)
            oracle.setdefault(kinds, {})[kind] = unknown not in out.stderr
    assert {k: facts[k] for k in oracle} == oracle
    assert not all(oracle["link_kinds"].values()) and any(oracle["link_kinds"].values())   # both answers occur
    lacking = next(k for k, v in oracle["link_kinds"].items() if not v and k in ("ipvlan", "vlan", "dummy"))
    having = "macvlan" if oracle["link_kinds"]["macvlan"] else "veth"
    netns = lab3.ssh("lab1", "ip", "netns", "list").stdout
    task = {"ipvlan": "ipvlan: {name: k0, link: eth0, netns: kx}", "vlan": "vlan: {name: k0, link: eth0, id: 7, netns: kx}",
            "dummy": "dummy: {name: k0, netns: kx}"}[lacking]
    book = tmp_path / "kinds.yml"
    book.write_text(f"- hosts: lab1\n  lab: kinds\n  tasks:\n    - netns: {{name: kx}}\n    - {task}\n")
    proc = nsprov("run", "-i", str(lab3.inventory), str(book), "--json", check=False)
    failed = [e for e in json_events(proc.stdout) if e["event"] == "task" and e["status"] == "failed"]
    assert proc.returncode == 1 and len(failed) == 1, proc.stdout
    assert "host lab1's kernel" in failed[0]["reason"] and f"has no {lacking} links" in failed[0]["reason"]
    assert lab3.ssh("lab1", "ip", "netns", "list").stdout == netns          # nothing changed, the netns not even made
    control = {"macvlan": "macvlan: {name: k0, link: eth0, netns: kx}",
               "veth": "veth: {name: k0, netns: kx, peer: k1}"}[having]
    book.write_text(f"- hosts: lab1\n  lab: kinds\n  tasks:\n    - netns: {{name: kx}}\n    - {control}\n")
    try:
        nsprov("run", "-i", str(lab3.inventory), str(book))
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)


def test_one_connection_one_command_per_host_and_the_second_run_uploads_nothing(lab3, tmp_path):
    lab3.ssh("lab2", "rm", "-rf", "/var/lib/nsprov/agent")
    # facts only reads: with nothing cached it brings the agent each time and keeps nothing
    for _ in range(2):
        proc, events = _facts("-i", str(lab3.inventory), "--limit", "lab2", check=True)
        assert _host_done(events, "lab2")["transport"]["bundle_uploads"] == 1
        assert _host_done(events, "lab2")["transport"]["bytes_sent"] > 10000        # the bundle went
    assert lab3.ssh("lab2", "test", "-e", "/var/lib/nsprov/agent", check=False).returncode != 0
    # a run caches it, for every later command
    book = tmp_path / "cache.yml"
    book.write_text("- hosts: lab2\n  lab: cache\n  tasks:\n    - netns: {name: cache1}\n")
    nsprov("run", "-i", str(lab3.inventory), str(book))
    nsprov("destroy", "-i", str(lab3.inventory), str(book))
    before = sshd_counts(lab3, "lab2")
    proc, events = _facts("-i", str(lab3.inventory), "--limit", "lab2", check=True)
    first = _host_done(events, "lab2")["transport"]
    middle = sshd_counts(lab3, "lab2")
    proc, events = _facts("-i", str(lab3.inventory), "--limit", "lab2", check=True)
    second = _host_done(events, "lab2")["transport"]
    after = sshd_counts(lab3, "lab2")
    # independent: the host's sshd saw one connection and one command per run, and no sftp
    assert (middle["connections"] - before["connections"], middle["commands"] - before["commands"]) == (1, 1)
    assert (after["connections"] - middle["connections"], after["commands"] - middle["commands"]) == (1, 1)
    assert after["sftp"] == before["sftp"]
    assert (first["bundle_uploads"], second["bundle_uploads"]) == (0, 0)
    assert first["bytes_sent"] < 1000 and second["bytes_sent"] < 1000      # the request alone, no bundle
    listing = lab3.ssh("lab2", "ls", "-la", "/var/lib/nsprov/agent").stdout
    assert listing.splitlines()[1].startswith("drwx------")


def _cache_agent(lab, host: str) -> None:
    """A run caches the agent on HOST (facts, drift and labs only read: they cache nothing)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        book = Path(d) / "cache.yml"
        book.write_text(f"- hosts: {host}\n  lab: cache\n  tasks:\n    - netns: {{name: cache1}}\n")
        nsprov("run", "-i", str(lab.inventory), str(book))
        nsprov("destroy", "-i", str(lab.inventory), str(book))


def test_a_tampered_cached_bundle_is_replaced_and_never_run(lab3):
    _cache_agent(lab3, "lab3")
    cached = lab3.ssh("lab3", "sh", "-c", "ls /var/lib/nsprov/agent/*.pyz").stdout.strip()
    sha = cached.rsplit("/", 1)[1][:-len(".pyz")]
    # a valid zipapp that would leave a mark if it ever ran
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("__main__.py", "open('/tmp/pwned', 'w').write('ran')\n")
    subprocess.run(["ssh", "-F", str(lab3.ssh_config), "lab3", f"cat > {cached}"], input=buf.getvalue(), check=True)
    # facts (read-only) brings the real agent and runs it from memory; the tampered file is never run
    proc, events = _facts("-i", str(lab3.inventory), "--limit", "lab3", check=True)
    assert _host_done(events, "lab3")["transport"]["bundle_uploads"] == 1
    assert lab3.ssh("lab3", "test", "-e", "/tmp/pwned", check=False).returncode == 1
    # a run replaces it
    _cache_agent(lab3, "lab3")
    assert lab3.ssh("lab3", "test", "-e", "/tmp/pwned", check=False).returncode == 1
    remote_sum = lab3.ssh("lab3", "sha256sum", cached).stdout.split()[0]
    assert remote_sum == sha


def test_a_cache_directory_others_can_write_is_refused(lab3):
    _cache_agent(lab3, "lab3")
    lab3.ssh("lab3", "chmod", "0777", "/var/lib/nsprov/agent")
    try:
        proc, events = _facts("-i", str(lab3.inventory), "--limit", "lab3")
        assert proc.returncode == 1
        assert "refusing /var/lib/nsprov/agent" in _host_done(events, "lab3")["error"]
        assert not any(e["event"] == "facts" for e in events)
    finally:
        lab3.ssh("lab3", "chmod", "0700", "/var/lib/nsprov/agent")


def test_a_changed_host_key_makes_the_host_unreachable_before_any_command(lab3, tmp_path):
    lines = lab3.known_hosts.read_text().splitlines()
    key_of = {line.split()[0].split(",")[0]: " ".join(line.split()[1:]) for line in lines}
    forged = tmp_path / "known_hosts"
    forged.write_text(f"{lab3.address('lab1')} {key_of['lab2']}\n")
    inv = write_inventory(tmp_path / "inv.yml", {"lab1": host_entry(lab3, "lab1", nsprov_known_hosts=str(forged))})
    before = sshd_counts(lab3, "lab1")
    proc, events = _facts("-i", str(inv))
    assert proc.returncode == 2
    done = _host_done(events, "lab1")
    assert done["status"] == "unreachable" and "CHANGED" in done["error"]
    # both keys by their SHA256 fingerprints, as `ssh-keygen -lf` prints them: the two differ
    printed = {}
    for host in ("lab1", "lab2"):
        pub = lab3.dir / "hosts" / host / "ssh_host_ed25519_key.pub"
        printed[host] = sh("ssh-keygen", "-lf", str(pub)).stdout.split()[1]
    assert f"expected ED25519 {printed['lab2']}, the host offers ED25519 {printed['lab1']}" in done["error"]
    assert printed["lab1"] != printed["lab2"]
    assert json_events(proc.stdout)[-1]["hosts"]["lab1"]["unreachable"] is True
    assert sshd_counts(lab3, "lab1")["commands"] == before["commands"]


def test_an_unknown_host_key_is_refused_unless_accept_new(lab3, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    inv = write_inventory(tmp_path / "inv.yml", {"lab1": host_entry(lab3, "lab1", nsprov_known_hosts=str(known))})
    before = sshd_counts(lab3, "lab1")
    proc, events = _facts("-i", str(inv))
    assert proc.returncode == 2 and "not in" in _host_done(events, "lab1")["error"]
    assert sshd_counts(lab3, "lab1")["commands"] == before["commands"]
    proc, events = _facts("-i", str(inv), "--accept-new-host-keys")
    assert proc.returncode == 0, proc.stdout
    real = next(line for line in lab3.known_hosts.read_text().splitlines() if line.startswith("lab1,"))
    assert known.read_text().split()[1:] == real.split()[1:]
    # now remembered: strict mode accepts it
    assert _facts("-i", str(inv))[0].returncode == 0


def test_limit_picks_the_hosts_ansible_would(lab3):
    before = {h: sshd_counts(lab3, h)["commands"] for h in ("lab1", "lab2", "lab3")}
    proc, events = _facts("-i", str(lab3.inventory), "--limit", "lab[0:1]:!lab1", check=True)
    assert list(events[-1]["hosts"]) == ["lab2"]
    after = {h: sshd_counts(lab3, h)["commands"] for h in ("lab1", "lab2", "lab3")}
    assert {h: after[h] - before[h] for h in after} == {"lab1": 0, "lab2": 1, "lab3": 0}


def test_an_unreachable_host_does_not_stop_the_others(lab3, tmp_path):
    inv = write_inventory(tmp_path / "inv.yml", {
        "lab1": host_entry(lab3, "lab1"),
        "ghost": host_entry(lab3, "lab2", ansible_port=2),   # nothing listens there: refused at once
    })
    proc, events = _facts("-i", str(inv))
    assert proc.returncode == 2
    recap = events[-1]["hosts"]
    assert recap["lab1"] == {"ok": 1, "changed": 0, "failed": 0, "skipped": 0, "unreachable": False}
    assert recap["ghost"]["unreachable"] is True
    assert "refused the connection after" in _host_done(events, "ghost")["error"]


@pytest.fixture(scope="module")
def alice(lab3):
    """An ordinary user on lab3 who must use sudo with a password (lab3's /etc is its own)."""
    add_sudo_user(lab3, "lab3", "alice", "s3cret-pw")
    return host_entry(lab3, "lab3", ansible_user="alice", ansible_become=True)


def test_become_through_sudo_with_a_password_that_never_shows(lab3, alice, tmp_path):
    inv = write_inventory(tmp_path / "inv.yml", {"lab3": {**alice, "ansible_become_password": "s3cret-pw"}})
    proc, events = _facts("-i", str(inv))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("Accepted publickey for alice" in line
               for line in (lab3.dir / "hosts/lab3/sshd.log").read_text().splitlines())
    assert next(e for e in events if e["event"] == "facts")["facts"]["hostname"] == "lab3"
    assert "s3cret-pw" not in proc.stdout + proc.stderr


def test_become_password_from_ask_become_pass_on_stdin(lab3, alice, tmp_path):
    inv = write_inventory(tmp_path / "inv.yml", {"lab3": alice})
    proc = subprocess.run([sys.executable, "-m", "nsprov.cli", "facts", "-i", str(inv), "-K", "--json"],
                          input="s3cret-pw\n", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "s3cret-pw" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("password,message", [(None, "sudo asks for a password"),
                                              ("wrong", "sudo refused the become password")])
def test_become_without_the_right_password_fails_clearly(lab3, alice, tmp_path, password, message):
    entry = dict(alice) if password is None else {**alice, "ansible_become_password": password}
    inv = write_inventory(tmp_path / "inv.yml", {"lab3": entry})
    proc, events = _facts("-i", str(inv))
    assert proc.returncode == 1
    assert message in _host_done(events, "lab3")["error"]
    if password:
        assert password not in proc.stdout + proc.stderr


def test_bundle_hash_on_host_matches_the_controllers_build(lab3):
    from nsprov.controller.bundle import build_bundle
    _cache_agent(lab3, "lab1")
    sha = build_bundle().sha256
    remote = lab3.ssh("lab1", "sha256sum", f"/var/lib/nsprov/agent/{sha}.pyz").stdout.split()[0]
    assert remote == sha == hashlib.sha256(build_bundle().data).hexdigest()


def test_the_users_ssh_config_is_honoured(lab3, tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        f"Host labalias\n  HostName {lab3.address('lab2')}\n  User root\n  IdentityFile {lab3.key}\n")
    inv = write_inventory(tmp_path / "inv.yml", {"labalias": {"nsprov_known_hosts": str(lab3.known_hosts)}})
    proc = subprocess.run([sys.executable, "-m", "nsprov.cli", "facts", "-i", str(inv), "--json"],
                          capture_output=True, text=True, env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts = next(e for e in json_events(proc.stdout) if e["event"] == "facts")["facts"]
    assert facts["hostname"] == "lab2"


def test_fifty_hosts_at_once_each_answer_over_their_own_connection(tmp_path):
    """--forks 50 against 50 lab hosts, five times: every host answers every time with its own
    facts, over one connection and one command each (the sshd logs count them). Once caught
    fabric Configs shared between the threads (a Config re-merges itself, so another thread
    read it empty: 'No attribute or config key found for port')."""
    from tests.conftest import lab_down, lab_up
    lab = lab_up(tmp_path / "lab50", 50)
    try:
        hosts = [f"lab{i}" for i in range(1, 51)]
        before = {h: sshd_counts(lab, h) for h in hosts}
        for _ in range(5):
            proc, events = _facts("-i", str(lab.inventory), "--forks", "50")
            assert proc.returncode == 0, [e["error"] for e in events if e.get("event") == "host_done" and e["error"]][:3]
            hostnames = {e["host"]: e["facts"]["hostname"] for e in events if e["event"] == "facts"}
            assert hostnames == {h: h for h in hosts}
        for h in hosts:
            after = sshd_counts(lab, h)
            assert (after["connections"] - before[h]["connections"], after["commands"] - before[h]["commands"]) == (5, 5)
    finally:
        lab_down(lab.dir)


def test_a_paramiko_connection_waits_quietly_and_its_thread_ends_at_close(lab3):
    """While the host works, paramiko's transport thread reads the socket when data comes and
    every IDLE_WAKE s, not every 0.1 s (at 200 hosts at once, ~2,000 wake-ups a second of the
    controller's interpreter); a close ends it at once. The control: with paramiko's own 0.1 s
    the same wait wakes the thread ten times a second."""
    import time

    from nsprov.controller import ssh_paramiko
    from nsprov.controller.inventory_files import load_inventory
    from nsprov.controller.transport import link_for
    conn = load_inventory((str(lab3.inventory),)).connection("lab1")
    reads = []
    recv = ssh_paramiko.PromptSocket.recv

    def counted(self, size):
        reads.append(time.monotonic())
        return recv(self, size)

    def wakeups_while_the_host_sleeps(timeout=None) -> int:
        link = link_for(conn, 10.0, False)
        link.open()
        transport = link.client.get_transport()
        if timeout is not None:
            transport.sock.settimeout(timeout)
        chan = link.exec("sleep 1.5")
        time.sleep(0.2)             # the session is open; from here the host is silent for ~1.3 s
        reads.clear()
        time.sleep(1.0)
        woke = len(reads)
        assert chan.exit_status() == 0
        chan.close()
        link.close()
        transport.join(1.0)
        assert not transport.is_alive()
        return woke

    ssh_paramiko.PromptSocket.recv = counted
    try:
        assert wakeups_while_the_host_sleeps() <= 1
        assert wakeups_while_the_host_sleeps(timeout=0.1) >= 8       # the control: paramiko's own
    finally:
        ssh_paramiko.PromptSocket.recv = recv
