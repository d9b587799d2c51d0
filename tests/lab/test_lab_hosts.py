"""Lab hosts behave like remote machines: reached over real SSH, isolated, and fully removable.

Everything here is checked from outside nsprov: plain OpenSSH, fabric/paramiko, `ip -j`,
`nft -j` and /proc on this machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import paramiko
import pytest
from fabric import Connection

from tests.conftest import lab_down, lab_up, nsprov, sh

pytestmark = pytest.mark.lab


def test_plain_ssh_with_strict_host_keys_reaches_each_host_by_name(lab3):
    for n in (1, 2, 3):
        assert lab3.ssh(f"lab{n}", "hostname").stdout.strip() == f"lab{n}"


def test_a_host_presenting_another_hosts_key_is_rejected(lab3):
    # connect to lab2's address but check its key against lab1's known_hosts entry
    proc = sh("ssh", "-F", str(lab3.ssh_config), "-o", "StrictHostKeyChecking=yes",
              "-o", f"HostName={lab3.address('lab2')}", "-o", "HostKeyAlias=lab1", "lab1", "hostname",
              check=False)
    assert proc.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in proc.stderr
    assert "lab2" not in proc.stdout


def test_fabric_with_a_reject_unknown_policy_runs_commands_and_uploads(lab3, tmp_path):
    conn = Connection(lab3.address("lab1"), user="root",
                      connect_kwargs={"key_filename": str(lab3.key), "look_for_keys": False,
                                      "allow_agent": False})
    conn.client.load_host_keys(str(lab3.known_hosts))
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        assert conn.run("hostname", hide=True, in_stream=False).stdout.strip() == "lab1"
        payload = os.urandom(256 * 1024)
        local = tmp_path / "payload.bin"
        local.write_bytes(payload)
        conn.put(str(local), "/tmp/payload.bin")
        remote_sum = conn.run("sha256sum /tmp/payload.bin", hide=True, in_stream=False).stdout.split()[0]
        assert remote_sum == hashlib.sha256(payload).hexdigest()
    finally:
        conn.close()


def test_fabric_refuses_a_host_missing_from_known_hosts(lab3, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    conn = Connection(lab3.address("lab1"), user="root",
                      connect_kwargs={"key_filename": str(lab3.key), "look_for_keys": False})
    conn.client.load_host_keys(str(empty))
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        conn.run("touch /tmp/should-not-exist", hide=True, in_stream=False)
    conn.close()
    assert lab3.ssh("lab1", "test", "-e", "/tmp/should-not-exist", check=False).returncode == 1


def test_ip_netns_add_inside_a_host_is_invisible_on_the_machine(lab3):
    name = "nsprov-test-inside"
    lab3.ssh("lab1", "ip", "netns", "add", name)
    try:
        assert name in lab3.ssh("lab1", "ip", "netns", "list").stdout
        assert name not in sh("ip", "netns", "list").stdout
        assert not os.path.exists(f"/run/netns/{name}")
        assert name not in lab3.ssh("lab2", "ip", "netns", "list").stdout
    finally:
        lab3.ssh("lab1", "ip", "netns", "del", name)


@pytest.mark.parametrize("path", ["/proc/sys/kernel/hostname", "/proc/sys/vm/swappiness",
                                  "/proc/sys/fs/file-max", "/proc/sys/kernel/pid_max"])
def test_a_host_cannot_write_global_sysctls(lab3, path):
    before = Path(path).read_text()
    proc = lab3.ssh("lab1", "sh", "-c", f'cat {path} > /tmp/v && cat /tmp/v > {path}', check=False)
    assert proc.returncode != 0
    assert "Read-only file system" in proc.stderr
    assert Path(path).read_text() == before


def test_a_host_can_write_its_own_network_sysctls_without_touching_the_machine(lab3):
    machine = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    assert lab3.ssh("lab2", "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    lab3.ssh("lab2", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    try:
        assert lab3.ssh("lab2", "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == machine
    finally:
        lab3.ssh("lab2", "sysctl", "-qw", "net.ipv4.ip_forward=0")


def test_hosts_reach_each_other_but_have_no_default_route(lab3):
    routes = json.loads(lab3.ssh("lab1", "ip", "-j", "route", "show").stdout)
    assert routes and all(r["dst"] != "default" for r in routes)
    lab3.ssh("lab1", "ping", "-c", "1", "-W", "2", lab3.address("lab3"))


def test_the_lab_cannot_open_connections_to_the_machine_or_be_forwarded(lab3):
    state = json.loads((lab3.dir / "state.json").read_text())
    lab_id, controller = state["lab_id"], state["subnet_prefix"] + ".254"
    # the controller reaches the host (replies pass the guard) ...
    sh("ping", "-c", "1", "-W", "2", lab3.address("lab1"))
    # ... the host cannot start anything towards the machine
    assert lab3.ssh("lab1", "ping", "-c", "1", "-W", "1", controller, check=False).returncode != 0
    table = json.loads(sh("nft", "-j", "list", "table", "inet", f"nsprov_lab_{lab_id}").stdout)
    rules = [e["rule"] for e in table["nftables"] if "rule" in e]
    forward_drops = [r for r in rules if r["chain"] == "forward" and any("drop" in x for x in r["expr"])]
    assert {json.dumps(r["expr"][0]) for r in forward_drops} >= {
        json.dumps({"match": {"op": "==", "left": {"meta": {"key": k}}, "right": f"nslab{lab_id}"}})
        for k in ("iifname", "oifname")}


def test_up_again_is_a_no_op(lab3):
    before = lab3.status()
    out = nsprov("lab", "up", "--hosts", "3", "--dir", str(lab3.dir), "--json")
    assert json.loads(out.stdout)["started"] == []
    assert lab3.status() == before


def _lab_traces(lab_id: str, directory: Path) -> dict:
    """What of this lab is visible on the machine: links, netns, nft tables, processes, files."""
    links = {link["ifname"] for link in json.loads(sh("ip", "-j", "link", "show").stdout)}
    netns = set(sh("ip", "netns", "list").stdout.split())
    tables = {t["table"]["name"] for t in json.loads(sh("nft", "-j", "list", "tables").stdout)["nftables"]
              if "table" in t}
    procs = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(directory).encode() in a for a in argv):
            procs.add(pid)
    return {"links": {x for x in links if lab_id in x}, "netns": {x for x in netns if lab_id in x},
            "tables": {x for x in tables if lab_id in x}, "procs": procs,
            "files": set(os.listdir(directory)) if directory.exists() else set()}


def test_up_grows_and_down_removes_every_trace(tmp_path):
    directory = tmp_path / "grow"
    links_before = {link["ifname"] for link in json.loads(sh("ip", "-j", "link", "show").stdout)}
    try:
        lab = lab_up(directory, 2)
        first = lab.status()
        lab_id = json.loads((directory / "state.json").read_text())["lab_id"]
        grown = json.loads(nsprov("lab", "up", "--hosts", "3", "--dir", str(directory), "--json").stdout)
        assert grown["started"] == ["lab3"]
        after = lab.status()
        assert {h: after[h]["pid"] for h in first} == {h: first[h]["pid"] for h in first}
        assert lab.ssh("lab3", "hostname").stdout.strip() == "lab3"
        traces = _lab_traces(lab_id, directory)
        assert traces["links"] and traces["netns"] and traces["tables"] and len(traces["procs"]) >= 3
    finally:
        nsprov("lab", "down", "--dir", str(directory))
    assert _lab_traces(lab_id, directory) == {"links": set(), "netns": set(), "tables": set(),
                                              "procs": set(), "files": set()}
    assert not directory.exists()
    assert {link["ifname"] for link in json.loads(sh("ip", "-j", "link", "show").stdout)} == links_before


def test_down_recovers_after_the_controller_lost_its_state(tmp_path):
    directory = tmp_path / "crash"
    try:
        lab_up(directory, 2)
        lab_id = json.loads((directory / "state.json").read_text())["lab_id"]
        # as if the controller had crashed before it could record its hosts
        (directory / "state.json").unlink()
        assert len(_lab_traces(lab_id, directory)["procs"]) >= 2
    finally:
        out = nsprov("lab", "down", "--dir", str(directory))
    assert "unrecorded" in out.stdout
    assert _lab_traces(lab_id, directory)["procs"] == set()
    assert _lab_traces(lab_id, directory)["links"] == set()


def test_down_of_a_lab_that_is_already_gone_succeeds(tmp_path):
    out = nsprov("lab", "down", "--dir", str(tmp_path / "never"))
    assert "removed 0 object(s)" in out.stdout


def test_missing_requirements_give_one_line_with_the_fix_and_exit_2(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("unshare", "nsenter", "ip", "ssh-keygen"):   # everything but nft
        (bin_dir / tool).symlink_to(shutil.which(tool))
    proc = nsprov("lab", "up", "--dir", str(tmp_path / "l"), check=False, env={**os.environ, "PATH": str(bin_dir)})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: `nft` not found: apt-get install -y nftables"]
    assert not (tmp_path / "l").exists()
