"""`nsprov inventory from-vagrant`: ssh-config parsing, host keys from a console log, the inventory."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nsprov.controller.inventory_files import load_inventory
from nsprov.controller.vagrant import (VagrantError, console_host_keys, from_vagrant, known_hosts_lines,
                                       parse_ssh_config)

SSH_CONFIG = """\
Host node1
  HostName 192.168.121.23
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant
  IdentityFile /root/.vagrant.d/insecure_private_key
  IdentitiesOnly yes
  LogLevel FATAL

Host node2
  HostName 192.168.121.87
  User vagrant
  Port 2200
  IdentityFile "/path with space/key"
"""
ED1 = "AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+XCqQ1sEkq5m2zAP8sYv"
ED2 = "AAAAC3NzaC1lZDI1NTE5AAAAIGX3Q0mUZkQ9N2b0mY6yq3yq9hYH2o0m2lq9r8Yk7v1Z"
RSA = "AAAAB3NzaC1yc2EAAAADAQABAAABgQC7"
CONSOLE = (f"[    0.000000] Linux version 6.1.0\r\n"
           f"-----BEGIN SSH HOST KEY KEYS-----\r\nssh-ed25519 {ED2} root@old\r\n-----END SSH HOST KEY KEYS-----\r\n"
           f"[    3.1] random: crng init done\r\n"
           f"-----BEGIN SSH HOST KEY KEYS-----\r\n"
           f"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= root@nsprov-box\r\n"
           f"[    4.2] systemd[1]: noise in the middle\r\n"
           f"ssh-ed25519 {ED1} root@nsprov-box\r\nssh-rsa {RSA} root@nsprov-box\r\n"
           f"-----END SSH HOST KEY KEYS-----\r\nDebian GNU/Linux 12 nsprov-box ttyS0\r\n")


def test_ssh_config_is_parsed_with_the_first_identity_and_ports():
    m1, m2 = parse_ssh_config(SSH_CONFIG)
    assert (m1.name, m1.address, m1.port, m1.user) == ("node1", "192.168.121.23", 22, "vagrant")
    assert m1.key_file.endswith("keys/vagrant")
    assert (m2.port, m2.key_file) == (2200, "/path with space/key")


def test_ssh_config_without_an_address_is_an_error():
    with pytest.raises(VagrantError, match="node1.*hostname"):
        parse_ssh_config("Host node1\n  User vagrant\n  IdentityFile /k\n")


def test_the_last_printed_block_wins_and_console_noise_is_dropped():
    keys = console_host_keys(CONSOLE)
    assert keys == ["ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=",
                    f"ssh-ed25519 {ED1}", f"ssh-rsa {RSA}"]
    assert console_host_keys("booting...\nno keys here\n") == []
    assert console_host_keys(CONSOLE.split("-----END")[0]) == []       # a block still being printed


def test_known_hosts_uses_brackets_for_other_ports():
    m1, m2 = parse_ssh_config(SSH_CONFIG)
    assert known_hosts_lines(m1, ["ssh-ed25519 X"]) == ["192.168.121.23 ssh-ed25519 X"]
    assert known_hosts_lines(m2, ["ssh-ed25519 X"]) == ["[192.168.121.87]:2200 ssh-ed25519 X"]


def test_inventory_loads_with_become_and_pinned_keys(tmp_path):
    consoles = tmp_path / "vm" / ".console"
    consoles.mkdir(parents=True)
    (consoles / "node1.log").write_text(CONSOLE)
    (consoles / "node2.log").write_text(CONSOLE.replace(ED1, ED2))
    kh = tmp_path / "out" / "known_hosts"
    text, counts = from_vagrant(str(tmp_path / "vm"), str(kh), group="lab", ssh_config_text=SSH_CONFIG)
    assert counts == {"node1": 3, "node2": 3}
    assert oct(kh.stat().st_mode & 0o777) == "0o600"
    lines = kh.read_text().splitlines()
    assert f"192.168.121.23 ssh-ed25519 {ED1}" in lines and f"[192.168.121.87]:2200 ssh-ed25519 {ED2}" in lines
    inv_path = tmp_path / "out" / "inventory.yml"
    inv_path.write_text(text)
    inv = load_inventory([str(inv_path)])
    assert sorted(inv.groups["lab"].hosts) == ["node1", "node2"]
    c = inv.connection("node2")
    assert (c.address, c.port, c.user, c.key_file, c.become, c.known_hosts) == \
        ("192.168.121.87", 2200, "vagrant", "/path with space/key", True, str(kh))


def test_a_vm_that_printed_no_keys_is_refused_not_trusted(tmp_path):
    (tmp_path / ".console").mkdir()
    (tmp_path / ".console" / "node1.log").write_text(CONSOLE)
    with pytest.raises(VagrantError, match=r"node2\.log: no host keys printed by node2.*--trust-first-use"):
        from_vagrant(str(tmp_path), str(tmp_path / "kh"), ssh_config_text=SSH_CONFIG)
    assert not (tmp_path / "kh").exists()


def test_cli_reports_a_directory_without_vagrant_machines(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nsprov.cli", "inventory", "from-vagrant", str(tmp_path)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert "vagrant" in proc.stderr and "Traceback" not in proc.stderr
