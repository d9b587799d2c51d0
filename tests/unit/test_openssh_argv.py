"""The OpenSSH connection's command line: nsprov's strict host-key options come before anything
the inventory adds (ssh keeps the first value it is given), ~/.ssh/config-style arguments pass
through, the master's socket is ours unless the user manages control sockets, and
ansible_connection is read as Ansible reads it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from nsprov.controller.exits import Unreachable
from nsprov.controller.inventory_files import load_inventory
from nsprov.controller.ssh_openssh import OpenSshLink
from nsprov.controller.yamlsrc import InputError


def conn(tmp_path, **host_vars):
    inv = tmp_path / "inv.yml"
    lines = "".join(f"      {k}: {v!r}\n" for k, v in host_vars.items())
    inv.write_text(f"all:\n  hosts:\n    h1:\n      ansible_host: 10.0.0.1\n{lines}")
    return load_inventory([str(inv)]).connection("h1")


@pytest.fixture
def short_dir():
    """A control directory short enough for a Unix socket's path (pytest's tmp_path is not)."""
    directory = tempfile.mkdtemp(prefix="cp-")
    yield Path(directory)
    shutil.rmtree(directory, ignore_errors=True)


def opened(tmp_path, short_dir, **host_vars) -> OpenSshLink:
    link = OpenSshLink(conn(tmp_path, ansible_connection="ssh",
                            ansible_control_path_dir=str(short_dir / "cp"), **host_vars), 10, False)
    link.control = link._control_path()
    return link


def options(argv: list) -> list:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]


def test_strict_host_keys_come_before_the_users_arguments(tmp_path, short_dir):
    link = opened(tmp_path, short_dir, ansible_ssh_extra_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                  ansible_ssh_common_args="-F my_config -o ProxyJump=jump", nsprov_known_hosts="/kh")
    opts = options(link.argv("h"))
    first = {}
    for o in opts:
        first.setdefault(o.split("=")[0], o.split("=", 1)[1])
    assert first["StrictHostKeyChecking"] == "yes" and first["UserKnownHostsFile"] == "/kh"
    assert first["BatchMode"] == "yes" and first["ProxyJump"] == "jump"
    argv = link.argv("h")
    assert argv[argv.index("-F") + 1] == "my_config" and argv[-1] == "h"


def test_accept_new_host_keys_is_the_only_way_to_loosen_them(tmp_path):
    link = OpenSshLink(conn(tmp_path, ansible_connection="ssh"), 10, True)
    assert "StrictHostKeyChecking=accept-new" in options(link.argv())


def test_the_master_socket_is_ours_unless_the_user_manages_control_sockets(tmp_path, short_dir):
    ours = opened(tmp_path, short_dir)
    opts = options(ours.argv())
    assert "ControlMaster=auto" in opts and "ControlPersist=60s" in opts
    assert f"ControlPath={short_dir / 'cp' / '%C'}" in opts and (short_dir / "cp").is_dir()
    theirs = opened(tmp_path, short_dir, ansible_ssh_common_args="-o ControlPath=/run/me/%h -o ControlMaster=auto")
    assert theirs.control is None
    assert [o for o in options(theirs.argv()) if o.startswith("Control")] == ["ControlPath=/run/me/%h",
                                                                              "ControlMaster=auto"]


def test_port_user_key_and_executable_come_from_the_inventory(tmp_path, short_dir):
    argv = opened(tmp_path, short_dir, ansible_port=2222, ansible_user="bob", ansible_ssh_private_key_file="/k",
                  ansible_ssh_executable="/opt/ssh").argv("h", "true")
    assert argv[0] == "/opt/ssh" and argv[-2:] == ["h", "true"]
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "bob"
    assert argv[argv.index("-i") + 1] == "/k" and "IdentitiesOnly=yes" in options(argv)


def test_a_control_dir_too_long_for_a_unix_socket_is_refused(tmp_path):
    link = OpenSshLink(conn(tmp_path, ansible_connection="ssh", ansible_control_path_dir="/tmp/" + "d" * 60), 10, False)
    with pytest.raises(Unreachable, match="too long for a control socket"):
        link.open()


def test_a_login_password_is_refused_with_the_way_out(tmp_path):
    link = OpenSshLink(conn(tmp_path, ansible_connection="ssh", ansible_password="pw"), 10, False)
    with pytest.raises(Unreachable, match="ansible_connection: paramiko"):
        link.open()


@pytest.mark.parametrize("value,transport", [("ssh", "ssh"), ("smart", "ssh"), ("paramiko", "paramiko")])
def test_ansible_connection_values(tmp_path, value, transport):
    assert conn(tmp_path, ansible_connection=value).transport == transport


def test_the_default_is_paramiko(tmp_path):
    assert conn(tmp_path).transport == "paramiko"


def test_a_connection_nsprov_cannot_use_is_an_input_error_naming_the_host(tmp_path):
    with pytest.raises(InputError, match=r"h1\.ansible_connection.*ssh, smart or paramiko"):
        conn(tmp_path, ansible_connection="winrm")
