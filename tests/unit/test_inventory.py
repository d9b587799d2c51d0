"""The inventory loader means what Ansible means: compared with ansible-inventory itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nsprov.controller.inventory_files import expand_hostname_range, load_inventory
from nsprov.controller.yamlsrc import InputError

DATA = Path(__file__).parent.parent / "data" / "inventories"
SOURCES = [
    ["docs_ini/hosts"],
    ["docs_yaml/hosts.yml"],
    ["precedence/inv.yml"],
    ["ranges/hosts.ini"],
    ["docs_ini/hosts", "ranges/hosts.ini", "precedence/inv.yml"],
]


def ansible_inventory(paths: list[Path], *args: str) -> str:
    exe = Path(sys.executable).with_name("ansible-inventory")
    cmd = [str(exe) if exe.exists() else shutil.which("ansible-inventory")]
    for p in paths:
        cmd += ["-i", str(p)]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True,
                          env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "1", "PATH": "/usr/bin:/bin",
                               "HOME": "/tmp", "ANSIBLE_LOCAL_TEMP": "/tmp"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("sources", SOURCES, ids=["+".join(s) for s in SOURCES])
def test_list_matches_ansible_inventory(sources):
    paths = [DATA / s for s in sources]
    ours = load_inventory([str(p) for p in paths]).as_ansible_list()
    theirs = json.loads(ansible_inventory(paths, "--list"))
    assert ours == theirs


@pytest.mark.parametrize("sources", SOURCES, ids=["+".join(s) for s in SOURCES])
def test_graph_matches_ansible_inventory(sources):
    paths = [DATA / s for s in sources]
    assert load_inventory([str(p) for p in paths]).graph() == ansible_inventory(paths, "--graph").strip()


def test_precedence_child_group_beats_parent_and_files_beat_inventory():
    inv = load_inventory([str(DATA / "precedence/inv.yml")])
    assert inv.host_vars("web2")["v"] == "hv"              # host_vars/ file
    assert inv.host_vars("web1")["v"] == "gv_web"          # group_vars/web beats zeta and prod
    assert inv.host_vars("db1")["v"] == "hostlevel"        # inventory host var beats every group
    assert inv.host_vars("solo2")["v"] == "alpha"          # ansible_group_priority 10 beats nothing else here
    assert inv.host_vars("solo")["a"] == "from_all_file"   # group_vars/all.yml beats the inventory's all vars
    assert "ansible_group_priority" not in inv.host_vars("db1")


def test_connection_variables_are_resolved():
    inv = load_inventory([str(DATA / "docs_ini/hosts")])
    c = inv.connection("bar.example.com")
    assert (c.address, c.port, c.user, c.become, c.python) == ("bar.example.com", 2222, "bob", False, "python3")
    assert inv.connection("seattle.example.com").address == "192.0.2.9"


@pytest.mark.parametrize("pattern,expected", [
    ("web[1:3]", ["web1", "web2", "web3"]),
    ("node[01:12:4]", ["node01", "node05", "node09"]),
    ("db-[a:c].x", ["db-a.x", "db-b.x", "db-c.x"]),
    ("r[1:2]c[a:b]", ["r1ca", "r1cb", "r2ca", "r2cb"]),
    ("plain", ["plain"]),
    ("host[:2]", ["host0", "host1", "host2"]),
    ("[1:3].example", ["1.example", "2.example", "3.example"]),
    ("x[y:B]", ["xy", "xz", "xA", "xB"]),
])
def test_host_ranges_expand_like_ansible(pattern, expected):
    assert expand_hostname_range(pattern) == expected


def _problems(tmp_path: Path, name: str, text: str) -> list[str]:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(InputError) as err:
        load_inventory([str(f)])
    return [str(p) for p in err.value.problems]


def test_yaml_errors_name_file_line_and_field_all_at_once(tmp_path):
    problems = _problems(tmp_path, "inv.yml", "all:\n  children:\n    web:\n      hosts: [a, b]\n"
                                              "    db:\n      hostz:\n        x:\n    \"bad name\":\n")
    f = tmp_path / "inv.yml"
    assert problems == [
        f"{f}:4: all.children.web.hosts: hosts must be a mapping of host names (each with its vars or nothing), "
        f"not a list",
        f"{f}:6: all.children.db.hostz: unknown group key (expected one of: children, hosts, vars)",
        f"{f}:8: all.children.bad name: invalid group name 'bad name'",
    ]


def test_malformed_yaml_is_reported_with_its_line(tmp_path):
    problems = _problems(tmp_path, "inv.yml", "all:\n  hosts:\n    a: {x: 1\n    b:\n")
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'inv.yml'}:") and "invalid YAML" in problems[0]


def test_ini_errors_name_file_and_line(tmp_path):
    problems = _problems(tmp_path, "hosts", "[web]\nw[3:1]\n[web:bogus]\n[top:children]\nmissing\n[web:vars]\nnovalue\n")
    f = tmp_path / "hosts"
    assert problems == [
        f"{f}:2: w[3:1]: host range [3:1] is backwards",
        f"{f}:3: [web:bogus]: unknown section type 'bogus'",
        f"{f}:5: [top:children]: includes undefined group 'missing' (declare it with a [missing] section)",
        f"{f}:7: [web:vars]: expected key=value, got 'novalue'",
    ]


def test_missing_inventory_is_an_error_and_host_lists_work(tmp_path):
    with pytest.raises(InputError, match="inventory not found"):
        load_inventory([str(tmp_path / "nope.yml")])
    assert list(load_inventory(["h1,h2,"]).hosts) == ["h1", "h2"]
