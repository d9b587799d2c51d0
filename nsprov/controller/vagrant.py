"""An inventory from a Vagrant directory, with host keys the VMs told us themselves.

`vagrant ssh-config` gives each machine's address, port, user and key. Host keys do not come
from that (Vagrant itself connects with StrictHostKeyChecking=no): every VM of nsprov's box
prints its freshly made host keys on its serial console at first boot, between cloud-init's
markers, and the Vagrantfile writes that console to `.console/NAME.log`. So the known_hosts we
write holds what the VM printed out of band, and strict host key checking stays on.
`trust_first_use` (ssh-keyscan) exists for boxes that print nothing, and says what it is.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

BEGIN, END = "-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----"
_KEY = re.compile(r"^((?:ssh|ecdsa|sk)-[\w@.-]+)\s+([A-Za-z0-9+/]+={0,3})(?:\s|$)")


class VagrantError(Exception):
    """What went wrong, in one line a person can act on."""


@dataclass
class Machine:
    name: str
    address: str
    port: int
    user: str
    key_file: str


def parse_ssh_config(text: str) -> list[Machine]:
    """`vagrant ssh-config` output -> machines, in the order given."""
    machines, cur = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, value = line.partition(" ")
        word, value = word.lower(), value.strip().strip('"')
        if word == "host":
            cur = {"name": value}
            machines.append(cur)
        elif cur is not None and word in ("hostname", "port", "user", "identityfile"):
            cur.setdefault(word, value)      # the first IdentityFile is the one vagrant uses
    out = []
    for m in machines:
        missing = [k for k in ("hostname", "user", "identityfile") if k not in m]
        if missing:
            raise VagrantError(f"vagrant ssh-config: machine {m['name']!r} has no {', '.join(missing)}")
        out.append(Machine(m["name"], m["hostname"], int(m.get("port", 22)), m["user"], m["identityfile"]))
    return out


def console_host_keys(text: str) -> list[str]:
    """`TYPE BASE64` lines of the last host-key block printed on a console (kernel noise ignored)."""
    text = text.replace("\r", "")
    end = text.rfind(END)
    start = text.rfind(BEGIN, 0, end if end >= 0 else None)
    if start < 0 or end < 0:
        return []
    keys = []
    for line in text[start + len(BEGIN):end].splitlines():
        m = _KEY.match(line.strip())
        if m:
            keys.append(f"{m.group(1)} {m.group(2)}")
    return keys


def known_hosts_lines(machine: Machine, keys: list[str]) -> list[str]:
    host = machine.address if machine.port == 22 else f"[{machine.address}]:{machine.port}"
    return [f"{host} {key}" for key in keys]


def inventory_document(machines: list[Machine], known_hosts: str, group: str, source: str) -> str:
    hosts = {m.name: {"ansible_host": m.address, "ansible_port": m.port, "ansible_user": m.user,
                      "ansible_ssh_private_key_file": m.key_file, "ansible_become": m.user != "root"}
             for m in machines}
    doc = {"all": {"vars": {"nsprov_known_hosts": known_hosts}, "children": {group: {"hosts": hosts}}}}
    return (f"# made by `nsprov inventory from-vagrant` from {source}\n"
            f"# host keys in {known_hosts}, as the VMs printed them on their consoles\n"
            + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))


def _vagrant_ssh_config(directory: Path) -> str:
    env = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1"}
    try:
        proc = subprocess.run(["vagrant", "ssh-config"], cwd=directory, capture_output=True, text=True,
                              env=env, stdin=subprocess.DEVNULL, timeout=300)
    except FileNotFoundError:
        raise VagrantError("vagrant is not installed (apt-get install vagrant vagrant-libvirt)") from None
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise VagrantError(f"`vagrant ssh-config` in {directory} failed: {why[0]} (are the VMs up?)")
    return proc.stdout


def _keyscan(machine: Machine) -> list[str]:
    proc = subprocess.run(["ssh-keyscan", "-T", "10", "-p", str(machine.port), machine.address],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    return [" ".join(line.split()[1:3]) for line in proc.stdout.splitlines()
            if line and not line.startswith("#") and len(line.split()) >= 3]


def from_vagrant(directory: str, known_hosts: str, group: str = "vagrant", console_dir: str | None = None,
                 trust_first_use: bool = False, ssh_config_text: str | None = None) -> tuple[str, dict]:
    """-> (inventory YAML, {machine: number of keys}); writes KNOWN_HOSTS (0600)."""
    vdir = Path(directory).resolve()
    machines = parse_ssh_config(ssh_config_text if ssh_config_text is not None else _vagrant_ssh_config(vdir))
    if not machines:
        raise VagrantError(f"`vagrant ssh-config` in {vdir} lists no machines")
    consoles = Path(console_dir).resolve() if console_dir else vdir / ".console"
    lines, counts = [], {}
    for m in machines:
        log = consoles / f"{m.name}.log"
        keys = console_host_keys(log.read_text(errors="replace")) if log.is_file() else []
        if not keys and trust_first_use:
            keys = _keyscan(m)
        if not keys:
            raise VagrantError(f"{log}: no host keys printed by {m.name} (its box must print them on the serial "
                               f"console between {BEGIN!r} markers; or pass --trust-first-use to scan them over "
                               "the network, which trusts whoever answers)")
        lines += known_hosts_lines(m, keys)
        counts[m.name] = len(keys)
    kh = Path(known_hosts).resolve()
    kh.parent.mkdir(parents=True, exist_ok=True)
    tmp = kh.with_name(kh.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, kh)
    return inventory_document(machines, str(kh), group, str(vdir)), counts
