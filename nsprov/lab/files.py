"""The files a lab writes for its users: keys, known_hosts, ssh_config, inventory.yml, state."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from nsprov.lab.system import run

SSHD_CONFIG = """\
# sshd of nsprov lab host {name}; nothing here is shared with the machine's own sshd
ListenAddress {address}
Port 22
HostKey /run/nsprov-lab/ssh/ssh_host_ed25519_key
PidFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile /etc/ssh/authorized_keys/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
MaxStartups 200:30:400
# VERBOSE logs one "Starting session" line per command: tests count round trips with it;
# and every connection forwarded through this host (ProxyJump), which sshd logs at debug only
LogLevel VERBOSE
LogVerbose serverloop.c:server_request_direct_tcpip():*
MaxSessions 200
LoginGraceTime 30
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
"""


@dataclass
class HostRecord:
    name: str
    address: str
    pid: int = 0            # PID 1 of the host's PID namespace, as the machine sees it
    started: int = 0        # its start time (clock ticks), so a reused PID is never killed
    unshare_pid: int = 0
    unshare_started: int = 0


@dataclass
class LabState:
    lab_id: str
    subnet_prefix: str      # "10.231.7": hosts are .1 .. .N, the controller is .254
    hosts: dict[str, HostRecord] = field(default_factory=dict)

    @property
    def controller_address(self) -> str:
        return f"{self.subnet_prefix}.254"

    @classmethod
    def load(cls, path: Path) -> Optional["LabState"]:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        hosts = {n: HostRecord(**h) for n, h in raw.get("hosts", {}).items()}
        return cls(lab_id=raw["lab_id"], subnet_prefix=raw["subnet_prefix"], hosts=hosts)

    def save(self, path: Path) -> None:
        data = {"lab_id": self.lab_id, "subnet_prefix": self.subnet_prefix,
                "hosts": {n: asdict(h) for n, h in self.hosts.items()}}
        write_atomic(path, json.dumps(data, indent=2) + "\n")


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def ensure_keypair(path: Path, comment: str) -> None:
    if path.exists() and path.with_suffix(".pub").exists():
        return
    for p in (path, path.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    path.chmod(0o600)


def public_key(path: Path) -> str:
    """'ssh-ed25519 AAAA...' without the comment."""
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def write_host_files(hostdir: Path, name: str, address: str, client_key: Path) -> None:
    hostdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ensure_keypair(hostdir / "ssh_host_ed25519_key", f"nsprov-lab host key {name}")
    write_atomic(hostdir / "sshd_config", SSHD_CONFIG.format(name=name, address=address))
    write_atomic(hostdir / "authorized_keys", public_key(client_key) + "\n", mode=0o600)


def write_client_files(directory: Path, state: LabState) -> None:
    """known_hosts, ssh_config and inventory.yml for every host in the state."""
    key = directory / "id_ed25519"
    known = directory / "known_hosts"
    hosts = sorted(state.hosts.values(), key=lambda h: int(h.name[3:]))
    write_atomic(known, "".join(
        f"{h.name},{h.address} {public_key(directory / 'hosts' / h.name / 'ssh_host_ed25519_key')}\n"
        for h in hosts))
    write_atomic(directory / "ssh_config", "".join(
        f"Host {h.name}\n"
        f"  HostName {h.address}\n"
        f"  User root\n"
        f"  IdentityFile {key}\n"
        f"  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known}\n"
        f"  GlobalKnownHostsFile /dev/null\n"
        f"  StrictHostKeyChecking yes\n"
        f"  HostKeyAlias {h.name}\n"
        f"  BatchMode yes\n\n"
        for h in hosts))
    inventory = {"all": {"children": {"lab": {"hosts": {
        h.name: {
            "ansible_host": h.address,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(key),
            "nsprov_known_hosts": str(known),
        } for h in hosts}}}}}
    write_atomic(directory / "inventory.yml",
                 "# written by `nsprov lab up`; removed by `nsprov lab down`\n"
                 + yaml.safe_dump(inventory, sort_keys=False))


CLIENT_FILES = ("inventory.yml", "known_hosts", "ssh_config", "id_ed25519", "id_ed25519.pub",
                "state.json")


def remove_lab_files(directory: Path) -> None:
    """Remove exactly the files a lab wrote; the directory too if nothing else is left in it."""
    for name in CLIENT_FILES:
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / "hosts", ignore_errors=True)
    try:
        directory.rmdir()
    except OSError:
        pass
