"""`ansible_connection: ssh`: the OpenSSH client with a ControlMaster kept for ControlPersist,
~/.ssh/config-style options and ProxyJump through another lab host, host keys strictly checked,
become through sudo, and still one command per host. Checked on the hosts (their sshd logs,
`ip -j`), never by asking nsprov. Every master a test starts is ended by its control socket."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from tests.conftest import add_sudo_user, end_masters, host_entry, json_events, nsprov, sh, sshd_counts, sshd_log, write_inventory

pytestmark = pytest.mark.lab

BOOK = """\
- hosts: all
  lab: openssh
  tasks:
    - netns: {name: "ossh-{{ inventory_hostname }}"}
"""


@pytest.fixture
def control_dir():
    """Where the tests' masters keep their sockets (a short path: a Unix socket's is at most 107
    bytes); every master there is ended afterwards, by its socket."""
    directory = Path(tempfile.mkdtemp(prefix="nsprov-cp-"))
    try:
        yield directory
    finally:
        end_masters(directory)


def netns(lab, host: str) -> set:
    return {n["name"] for n in json.loads(lab.ssh(host, "ip", "-j", "netns", "list").stdout or "[]")}


def ssh_entry(lab, host: str, control_dir, **more) -> dict:
    return host_entry(lab, host, ansible_connection="ssh", ansible_control_path_dir=str(control_dir), **more)


def run(inv, book, *more: str):
    proc = nsprov("run", "-i", str(inv), str(book), "--json", *more, check=False)
    return proc, json_events(proc.stdout)


def test_a_second_run_within_control_persist_reuses_the_master(lab3, tmp_path, control_dir):
    inv = write_inventory(tmp_path / "inv.yml", {"lab2": ssh_entry(lab3, "lab2", control_dir)})
    book = tmp_path / "book.yml"
    book.write_text(BOOK)
    try:
        before = sshd_counts(lab3, "lab2")
        proc, events = run(inv, book)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        first = sshd_counts(lab3, "lab2")         # (read before the checks' own ssh logins)
        assert first["connections"] - before["connections"] == 1
        assert first["commands"] - before["commands"] == 1
        assert len(list(control_dir.iterdir())) == 1             # the master's socket, kept
        assert "ossh-lab2" in netns(lab3, "lab2")
        first = sshd_counts(lab3, "lab2")

        proc, events = run(inv, book)                             # within ControlPersist
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert events[-1]["hosts"]["lab2"]["changed"] == 0
        second = sshd_counts(lab3, "lab2")
        assert second["connections"] == first["connections"]      # no new TCP connection, no new login
        assert second["commands"] - first["commands"] == 1        # and still one command
        done = next(e for e in events if e["event"] == "host_done")
        assert done["transport"]["connections"] == 0 and done["transport"]["commands"] == 1
    finally:
        nsprov("destroy", "-i", str(inv), str(book), check=False)
    assert "ossh-lab2" not in netns(lab3, "lab2")


def test_a_host_reached_through_another_lab_host_as_jump_host(lab3, tmp_path, control_dir):
    """lab3 through lab1 (ProxyJump from the lab's ssh config, given in ansible_ssh_common_args):
    lab1's sshd forwarded the connection, and lab3 saw it come from lab1's address."""
    inv = write_inventory(tmp_path / "inv.yml", {"lab3": ssh_entry(
        lab3, "lab3", control_dir, ansible_ssh_common_args=f"-F {lab3.ssh_config} -o ProxyJump=lab1")})
    book = tmp_path / "book.yml"
    book.write_text(BOOK)
    target, jump = lab3.address("lab3"), lab3.address("lab1")
    forwarded = f"target {target} port 22"
    seen_before = sum(forwarded in x for x in sshd_log(lab3, "lab1"))
    from_jump_before = sum(f"Connection from {jump} " in x for x in sshd_log(lab3, "lab3"))
    try:
        proc, events = run(inv, book)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "ossh-lab3" in netns(lab3, "lab3")
        assert sum(forwarded in x for x in sshd_log(lab3, "lab1")) == seen_before + 1
        assert sum(f"Connection from {jump} " in x for x in sshd_log(lab3, "lab3")) == from_jump_before + 1
    finally:
        nsprov("destroy", "-i", str(inv), str(book), check=False)
    assert "ossh-lab3" not in netns(lab3, "lab3")


def test_control_without_the_jump_host_lab1_forwards_nothing(lab3, tmp_path, control_dir):
    """The count above moves because of ProxyJump: a direct ssh connection leaves lab1's log alone."""
    inv = write_inventory(tmp_path / "inv.yml", {"lab3": ssh_entry(lab3, "lab3", control_dir)})
    book = tmp_path / "book.yml"
    book.write_text(BOOK)
    before = sshd_log(lab3, "lab1")
    try:
        proc, _ = run(inv, book)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        after = sshd_log(lab3, "lab1")
        assert sum("server_request_direct_tcpip" in x for x in after) == sum(
            "server_request_direct_tcpip" in x for x in before)
    finally:
        nsprov("destroy", "-i", str(inv), str(book), check=False)


def _forged_known_hosts(lab, tmp_path, host: str):
    """known_hosts where HOST's address carries another host's key."""
    address, other = lab.address(host), lab.address("lab1" if host != "lab1" else "lab2")
    lines = lab.known_hosts.read_text().splitlines()
    theirs = next(x for x in lines if other in x.split()[0].split(","))
    forged = tmp_path / "known_hosts"
    forged.write_text(f"{address} {' '.join(theirs.split()[1:])}\n")
    return forged


def test_a_changed_host_key_is_refused_whatever_the_extra_arguments_say(lab3, tmp_path, control_dir):
    forged = _forged_known_hosts(lab3, tmp_path, "lab2")
    inv = write_inventory(tmp_path / "inv.yml", {"lab2": ssh_entry(
        lab3, "lab2", control_dir, nsprov_known_hosts=str(forged),
        ansible_ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")})
    book = tmp_path / "book.yml"
    book.write_text(BOOK)
    before = sshd_counts(lab3, "lab2")
    proc, events = run(inv, book)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    unreachable = [e for e in events if e["event"] == "host_done" and e["status"] == "unreachable"]
    assert unreachable and "CHANGED" in unreachable[0]["error"]
    assert sshd_counts(lab3, "lab2")["commands"] == before["commands"]     # nothing ran there
    assert not list(control_dir.glob("*"))                                 # and no master left


def test_control_the_same_extra_arguments_first_would_have_connected(lab3, tmp_path):
    """Where the loosening options come first (as ssh takes the first value), the forged key is
    accepted: nsprov's strict options before the user's are what refuses it above."""
    forged = _forged_known_hosts(lab3, tmp_path, "lab2")
    entry = host_entry(lab3, "lab2")
    proc = sh("ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
              "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={forged}", "-o", "BatchMode=yes",
              "-i", entry["ansible_ssh_private_key_file"], "-l", "root", lab3.address("lab2"), "hostname",
              check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "lab2", proc.stderr


def test_become_through_sudo_over_openssh(lab3, tmp_path, control_dir):
    add_sudo_user(lab3, "lab3", "olivia", "0livia-pw")   # a user of its own: others set their own passwords
    inv = write_inventory(tmp_path / "inv.yml", {"lab3": ssh_entry(
        lab3, "lab3", control_dir, ansible_user="olivia", ansible_become=True, ansible_become_password="0livia-pw")})
    book = tmp_path / "book.yml"
    book.write_text(BOOK)
    try:
        proc, events = run(inv, book)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "0livia-pw" not in proc.stdout + proc.stderr
        assert any("Accepted publickey for olivia" in x for x in sshd_log(lab3, "lab3"))
        assert "ossh-lab3" in netns(lab3, "lab3")                 # made as root: only root can
        owner = lab3.ssh("lab3", "stat", "-c", "%U", "/run/netns/ossh-lab3").stdout.strip()
        assert owner == "root"
    finally:
        nsprov("destroy", "-i", str(inv), str(book), check=False)
    assert "ossh-lab3" not in netns(lab3, "lab3")


def test_a_control_path_dir_too_long_for_a_socket_is_said_before_connecting(lab3, tmp_path):
    long = tmp_path / ("d" * 60)
    inv = write_inventory(tmp_path / "inv.yml", {"lab2": host_entry(
        lab3, "lab2", ansible_connection="ssh", ansible_control_path_dir=str(long))})
    book = tmp_path / "book.yml"
    book.write_text(BOOK)
    proc, events = run(inv, book)
    assert proc.returncode == 2
    done = next(e for e in events if e["event"] == "host_done")
    assert "too long for a control socket" in done["error"] and "ansible_control_path_dir" in done["error"]


def test_a_password_in_the_inventory_is_refused_before_connecting(lab3, tmp_path, control_dir):
    inv = write_inventory(tmp_path / "inv.yml", {"lab2": ssh_entry(lab3, "lab2", control_dir,
                                                                    ansible_password="pw")})
    book = tmp_path / "book.yml"
    book.write_text(BOOK)
    before = sshd_counts(lab3, "lab2")
    proc, events = run(inv, book)
    assert proc.returncode == 2
    done = next(e for e in events if e["event"] == "host_done")
    assert "ansible_connection: paramiko" in done["error"]
    assert sshd_counts(lab3, "lab2")["connections"] == before["connections"]
