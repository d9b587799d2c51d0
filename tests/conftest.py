"""Shared test helpers: run the real `nsprov` CLI and bring lab hosts up and down."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

NSPROV = [sys.executable, "-m", "nsprov.cli"]


def nsprov(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process, as a user would."""
    proc = subprocess.run([*NSPROV, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"nsprov {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def sh(*argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a command on this machine (argv, never a shell string)."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr}")
    return proc


class LabHosts:
    """A running lab, seen from the outside: its files and plain-ssh access to its hosts."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.inventory = directory / "inventory.yml"
        self.ssh_config = directory / "ssh_config"
        self.known_hosts = directory / "known_hosts"
        self.key = directory / "id_ed25519"

    def status(self) -> dict:
        return json.loads(nsprov("lab", "status", "--dir", str(self.dir), "--json").stdout)

    def address(self, host: str) -> str:
        return self.status()[host]["address"]

    def ssh(self, host: str, *command: str, check: bool = True, options: tuple = ()) -> subprocess.CompletedProcess:
        """Plain OpenSSH with strict host key checking: independent of nsprov's transport.
        OPTIONS: more ssh options (a ControlMaster of the caller's, say)."""
        # ssh hands the remote shell one string: quote each argument
        return sh("ssh", "-F", str(self.ssh_config), "-o", "StrictHostKeyChecking=yes", *options, host, "--",
                  shlex.join(command), check=check)


def end_masters(directory: Path) -> None:
    """End every OpenSSH master whose control socket is in DIRECTORY (by its socket), and remove
    the directory."""
    import shutil
    for sock in directory.glob("*"):
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "master"], capture_output=True)
    shutil.rmtree(directory, ignore_errors=True)


def lab_up(directory: Path, hosts: int) -> LabHosts:
    nsprov("lab", "up", "--hosts", str(hosts), "--dir", str(directory))
    return LabHosts(directory)


def lab_down(directory: Path) -> None:
    nsprov("lab", "down", "--dir", str(directory), check=False)


@pytest.fixture(scope="session")
def lab3(tmp_path_factory) -> LabHosts:
    """Three lab hosts shared by the tests of a session; always torn down."""
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (CI runs as root); run: sudo .venv/bin/pytest -m lab")
    directory = tmp_path_factory.mktemp("lab3") / "lab"
    try:
        yield lab_up(directory, 3)
    finally:
        lab_down(directory)


def sshd_log(lab: LabHosts, host: str) -> list[str]:
    """The lab host's own sshd log (LogLevel VERBOSE): an independent count of what reached it."""
    return (lab.dir / "hosts" / host / "sshd.log").read_text().splitlines()


def sshd_counts(lab: LabHosts, host: str) -> dict:
    lines = sshd_log(lab, host)
    return {"connections": sum("Connection from" in x for x in lines),
            "commands": sum("Starting session: command" in x for x in lines),
            "sftp": sum("subsystem" in x.lower() and "sftp" in x for x in lines)}


def write_inventory(path: Path, hosts: dict) -> Path:
    import yaml
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


def host_entry(lab: LabHosts, host: str, **overrides) -> dict:
    """A lab host's inventory entry, with some variables replaced."""
    import yaml
    entry = dict(yaml.safe_load(lab.inventory.read_text())["all"]["children"]["lab"]["hosts"][host])
    entry.update(overrides)
    return entry


def add_sudo_user(lab: LabHosts, host: str, user: str, password: str) -> None:
    """An ordinary user on HOST (its /etc is its own) who logs in with the lab key and must give
    sudo a password."""
    lab.ssh(host, "sh", "-c",
            f"id {user} >/dev/null 2>&1 || (useradd -M -d /nonexistent -s /bin/sh {user} "
            f"&& echo {user}:{password} | chpasswd "
            f"&& install -m 600 -o {user} /etc/ssh/authorized_keys/root /etc/ssh/authorized_keys/{user} "
            f"&& echo '{user} ALL=(ALL:ALL) ALL' > /etc/sudoers.d/{user} && chmod 440 /etc/sudoers.d/{user})")


def add_hostile_user(lab: LabHosts, host: str, user: str, password: str) -> str:
    """An ordinary user on HOST who must give sudo a password, with a real home (in the host's
    private /var), bash as shell, and a sudoers entry that keeps PYTHON* variables and HOME: the
    friendliest setting for an attack on what nsprov runs as root. Returns the home."""
    home = f"/var/lib/{user}-home"
    lab.ssh(host, "sh", "-c",
            f"id {user} >/dev/null 2>&1 || (useradd -m -d {home} -s /bin/bash {user} "
            f"&& echo {user}:{password} | chpasswd "
            f"&& install -m 600 -o {user} /etc/ssh/authorized_keys/root /etc/ssh/authorized_keys/{user} "
            f"&& printf '%s\n' '{user} ALL=(ALL:ALL) ALL' "
            f"'Defaults:{user} env_keep += \"PYTHONPATH PYTHONSTARTUP PYTHONHOME PYTHONUSERBASE HOME\"' "
            f"> /etc/sudoers.d/{user} && chmod 440 /etc/sudoers.d/{user} && visudo -cq)")
    return home


def json_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def pytest_addoption(parser):
    group = parser.getgroup("nsprov-vagrant", "the Vagrant suite (tests/vagrant, run by vagrant/run-suite.sh)")
    group.addoption("--vagrant-inventory", default=None, help="inventory made by `nsprov inventory from-vagrant`")
    group.addoption("--vagrant-ssh-config", default=None, help="`vagrant ssh-config` output, strict host keys")


@pytest.fixture
def scratch_netns():
    """A throwaway named netns (needs root, as the lab suite does)."""
    import uuid
    if os.geteuid() != 0:
        pytest.fail("needs root (CI runs as root)")
    name = f"nsprov-t-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)
