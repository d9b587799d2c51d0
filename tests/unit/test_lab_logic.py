"""Pure parts of the lab: naming, requirement checks, the files it writes, /proc parsing."""

from __future__ import annotations

import os

import yaml

from nsprov.lab import hosts as lab_hosts
from nsprov.lab.files import HostRecord, LabState, write_client_files
from nsprov.lab.hosts import Lab, lab_id_for
from nsprov.lab.system import start_time


def test_lab_names_fit_the_kernel_and_depend_on_the_directory(tmp_path):
    a, b = Lab(tmp_path / "a"), Lab(tmp_path / "b")
    assert a.lab_id != b.lab_id
    assert lab_id_for(tmp_path / "a") == a.lab_id == Lab(tmp_path / "x" / ".." / "a").lab_id
    for lab in (a, b):
        assert len(lab.uplink.encode()) <= 15


def test_not_root_is_the_first_problem_with_its_fix(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    problems = lab_hosts.missing_requirements()
    assert problems[0].startswith("nsprov lab needs root")


def test_start_time_survives_a_command_name_with_spaces_and_parentheses():
    assert start_time(os.getpid()) is not None
    assert start_time(2 ** 22 + 7) is None


def test_client_files_describe_every_host(tmp_path):
    state = LabState("abcde", "10.231.9", {
        f"lab{n}": HostRecord(f"lab{n}", f"10.231.9.{n}") for n in (2, 1, 10)})
    for n in (1, 2, 10):
        d = tmp_path / "hosts" / f"lab{n}"
        d.mkdir(parents=True)
        (d / "ssh_host_ed25519_key.pub").write_text(f"ssh-ed25519 KEY{n} comment\n")
    write_client_files(tmp_path, state)
    inv = yaml.safe_load((tmp_path / "inventory.yml").read_text())
    hosts = inv["all"]["children"]["lab"]["hosts"]
    assert list(hosts) == ["lab1", "lab2", "lab10"]
    assert hosts["lab10"] == {"ansible_host": "10.231.9.10", "ansible_user": "root",
                              "ansible_ssh_private_key_file": str(tmp_path / "id_ed25519"),
                              "nsprov_known_hosts": str(tmp_path / "known_hosts")}
    assert (tmp_path / "known_hosts").read_text().splitlines()[2] == "lab10,10.231.9.10 ssh-ed25519 KEY10"
    config = (tmp_path / "ssh_config").read_text()
    assert "Host lab2\n  HostName 10.231.9.2\n" in config
    assert "StrictHostKeyChecking yes" in config
