"""Host patterns select what Ansible selects (checked against `ansible PATTERN --list-hosts`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nsprov.controller.inventory_files import load_inventory
from nsprov.controller.patterns import select_hosts

INV = Path(__file__).parent.parent / "data" / "inventories" / "precedence" / "inv.yml"

CASES = {
    "all": ["solo", "web1", "web2", "web3", "wwwa", "wwwb", "extra1", "db1", "solo2"],
    "web1": ["web1"],
    "web*": ["web1", "web2", "web3", "wwwa", "wwwb", "extra1"],
    "web[0:1]": ["web1", "web2"],
    "web[-1]": ["extra1"],
    "web:db": ["web1", "web2", "web3", "wwwa", "wwwb", "extra1", "db1"],
    "web,db": ["web1", "web2", "web3", "wwwa", "wwwb", "extra1", "db1"],
    "prod:&alpha": ["db1"],
    "prod:!web": ["db1"],
    "all:!prod": ["solo", "solo2"],
    "~w[0-9]+": [],
    "~web[12]": ["web1", "web2"],
    "nothing": [],
}


@pytest.mark.parametrize("pattern", CASES)
def test_select_hosts(pattern):
    inv = load_inventory([str(INV)])
    assert select_hosts(inv, pattern) == CASES[pattern]


@pytest.mark.parametrize("pattern", [p for p in CASES if CASES[p]])
def test_same_hosts_as_ansible(pattern):
    exe = Path(sys.executable).with_name("ansible")
    proc = subprocess.run([str(exe), pattern, "-i", str(INV), "--list-hosts"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "ANSIBLE_LOCAL_TEMP": "/tmp"})
    assert proc.returncode == 0, proc.stderr
    theirs = {line.strip() for line in proc.stdout.splitlines()[1:] if line.strip()}
    assert set(CASES[pattern]) == theirs
