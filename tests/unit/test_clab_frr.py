"""Topology nodes as host software: the image table, binds through a node's own mount namespace,
FRR's daemons as FRR's init starts them, and the routes `verify` expects the routers to learn."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from nsprov.controller import clab
from nsprov.controller.clab_nodes import ALWAYS, FRR_DAEMONS, frr_daemons, image_rules, role_of
from nsprov.model.kinds import validate_params

FRR01 = Path(__file__).parents[1] / "data" / "topologies" / "containerlab" / "frr01"
UNDERLAYS = {"h1": "10.0.0.1", "h2": "10.0.0.2", "h3": "10.0.0.3"}
ROUTERS = {f"router{i}": f"h{i}" for i in (1, 2, 3)}
PLACE = tuple(f"{n}={h}" for n, h in {**ROUTERS, "PC1": "h1", "PC2": "h2", "PC3": "h3"}.items())


def compile_(path, hosts=("h1", "h2", "h3"), place=PLACE, **options):
    return clab.load_topology(str(path), list(hosts), {"place": place, **options}, pingall=True,
                              underlays=UNDERLAYS)


def tasks(book, module=None) -> list:
    return [(t.host, t.module, t.params) for p in book.plays for t in p.tasks if module in (None, t.module)]


@pytest.mark.parametrize("image,role", [
    ("frrouting/frr:v7.5.1", "frr"), ("quay.io/frrouting/frr:containerlab-10.7.1", "frr"),
    ("docker.io/frrouting/frr:latest", "frr"), ("myorg/frr-lab:1", "frr"),
    ("praqma/network-multitool:latest", "tools"), ("wbitt/network-multitool:3.22.2", "tools"),
    ("alpine:3", "tools"), ("docker.io/library/alpine", "tools"), ("busybox", "tools"),
    ("nginx:stable-alpine", None), ("ghcr.io/nokia/srlinux", None)])
def test_the_image_table_names_what_each_image_is_as_host_software(image, role):
    assert role_of(image, ()) == role


def test_the_users_image_rules_come_before_the_table_and_bad_ones_are_said():
    rules, problems = image_rules(("nginx*=tools", "*frr*=tools", "x=docker", "=frr"))
    assert rules == (("nginx*", "tools"), ("*frr*", "tools")) and role_of("nginx:stable-alpine", rules) == "tools"
    assert role_of("frrouting/frr:v7.5.1", rules) == "tools"
    assert [p.field for p in problems] == ["x=docker", "=frr"]


@given(st.dictionaries(st.sampled_from(FRR_DAEMONS), st.sampled_from(["yes", "no", "0", "", '"yes"', "1"])),
       st.dictionaries(st.sampled_from(FRR_DAEMONS), st.sampled_from(["-A 127.0.0.1", "--daemon -A ::1",
                                                                      " -s 90000000 -d -A 127.0.0.1", ""])))
def test_frr_starts_what_its_daemons_file_enables_as_frrcommon_does(enabled, options):
    """The rule of FRR's frrcommon.sh, over every daemon: zebra and staticd always, the others when
    `NAME=` is not no, 0 or empty; each with its NAME_options but never in the background."""
    text = "".join(f"{d}={v}\n" for d, v in enabled.items()) + "".join(
        f'{d}_options="{o}"\n' for d, o in options.items()) + "# bgpd=yes\nvtysh_enable=yes\n"
    got = frr_daemons(text)
    want = [d for d in FRR_DAEMONS if d in ALWAYS or enabled.get(d, "no").strip('"') not in ("no", "0", "")]
    assert [d for d, _ in got] == want
    for daemon, argv in got:
        words = (options.get(daemon) or "").split()
        assert argv == [f"/usr/lib/frr/{daemon}", "-F", "traditional",
                        *[w for w in words if w not in ("-d", "--daemon")], "-f", "/etc/frr/frr.conf"]


def test_frr01_with_binds_runs_its_routers_in_their_own_mount_namespaces(tmp_path):
    """The file as the issue describes it: kind linux, FRR images, each router's daemons and
    frr.conf bind-mounted; PCs of network-multitool."""
    book, problems, warnings = compile_(FRR01 / "frr01-linux-binds.clab.yml")
    assert problems == [] and not any("image" in w or "binds" in w for w in warnings)
    for host, module, params in tasks(book):
        assert validate_params(module, params)[1] == [], (module, params)
    sets = {p["name"]: (h, p) for h, m, p in tasks(book, "namespace")}
    assert sorted(sets) == [f"clab-frr01-router{i}" for i in (1, 2, 3)]
    for i in (1, 2, 3):
        host, s = sets[f"clab-frr01-router{i}"]
        assert host == f"h{i}" and s["kinds"] == ["mnt", "net"]
        conf = (FRR01 / f"router{i}" / "frr.conf").read_text()
        assert [(m["type"], m["target"], m.get("content")) for m in s["mounts"]] == [
            ("tmpfs", "/tmp", None), ("tmpfs", "/etc/frr", None), ("tmpfs", "/run/frr", None),
            ("file", "/etc/frr/daemons", (FRR01 / f"router{i}" / "daemons").read_text()),
            ("file", "/etc/frr/frr.conf", conf),
            ("file", "/etc/frr/vtysh.conf", "service integrated-vtysh-config\n")]
        procs = [p for h, m, p in tasks(book, "process") if p["namespace"] == f"clab-frr01-router{i}"]
        # its daemons file: zebra ospfd ldpd yes; staticd no, but FRR's init always starts it
        assert [p["name"] for p in procs] == [f"clab-frr01-router{i}-{d}" for d in ("zebra", "ospfd", "ldpd",
                                                                                     "staticd")]
        assert procs[0]["command"] == ["/usr/lib/frr/zebra", "-F", "traditional", "-s", "90000000", "-A",
                                       "127.0.0.1", "-f", "/etc/frr/frr.conf"]
        assert all(p["restart"] == "always" for p in procs)
        assert procs[0]["revision"] == "frr.conf " + hashlib.sha256(conf.encode()).hexdigest()[:16]
        assert procs[0]["reload"] == ["/usr/lib/frr/frr-reload.py", "--reload", "/etc/frr/frr.conf"]
        assert ("sysctl", {"name": "net.ipv4.ip_forward", "value": "1", "netns": f"clab-frr01-router{i}"}) in [
            (m, p) for h, m, p in tasks(book)]
    assert sorted(p["name"] for h, m, p in tasks(book, "netns")) == [f"clab-frr01-PC{i}" for i in (1, 2, 3)]
    assert sorted(book.commanded) == sorted(sets)       # what the daemons add there is theirs


def test_containerlabs_frr_kind_takes_startup_config_and_the_daemons_its_extras_name():
    book, problems, _ = compile_(FRR01 / "frr01.clab.yml", hosts=("h1", "h2"),
                                 place=("router*=h1", "PC*=h2"))
    assert problems == []
    procs = [p for h, m, p in tasks(book, "process") if p["namespace"] == "clab-frr01-router2"]
    assert [p["name"].rsplit("-", 1)[1] for p in procs] == ["zebra", "ospfd", "staticd"]
    mounts = next(p for h, m, p in tasks(book, "namespace") if p["name"] == "clab-frr01-router2")["mounts"]
    daemons = next(m["content"] for m in mounts if m["target"] == "/etc/frr/daemons")
    assert "ospfd=yes\n" in daemons and "bgpd=no\n" in daemons
    assert next(m["content"] for m in mounts if m["target"] == "/etc/frr/frr.conf") == (
        FRR01 / "router2" / "frr.conf").read_text()
    # the PCs' exec lines run in their netns, after the routers' links are up
    pc1 = [p["command"] for h, m, p in tasks(book, "exec") if p.get("netns") == "clab-frr01-PC1"]
    assert pc1[1] == ["ip", "addr", "add", "192.168.11.2/24", "dev", "eth1"]


def test_a_kind_frr_node_without_daemons_starts_every_daemon_as_containerlab_does(tmp_path):
    (tmp_path / "r.conf").write_text("hostname r\n")
    path = tmp_path / "t.clab.yml"
    path.write_text("name: t\ntopology:\n  nodes:\n    r: {kind: frr, startup-config: r.conf}\n")
    book, problems, _ = compile_(path, hosts=("h1",), place=())
    assert problems == []
    assert [p["name"] for h, m, p in tasks(book, "process")] == [f"clab-t-r-{d}" for d in FRR_DAEMONS]


def test_a_missing_bind_or_startup_config_is_an_error_naming_the_node_field_line_and_path(tmp_path):
    for f in ("frr01-linux-binds.clab.yml", "frr01.clab.yml"):
        shutil.copy(FRR01 / f, tmp_path / f)
    shutil.copytree(FRR01 / "router1", tmp_path / "router1")
    _, problems, _ = compile_(tmp_path / "frr01-linux-binds.clab.yml")
    assert sorted((p.line, p.field, p.message) for p in problems) == [
        (15, "topology.nodes.router2.binds[0]", f"node router2: {tmp_path}/router2/daemons does not exist"),
        (16, "topology.nodes.router2.binds[1]", f"node router2: {tmp_path}/router2/frr.conf does not exist"),
        (21, "topology.nodes.router3.binds[0]", f"node router3: {tmp_path}/router3/daemons does not exist"),
        (22, "topology.nodes.router3.binds[1]", f"node router3: {tmp_path}/router3/frr.conf does not exist")]
    _, problems, _ = compile_(tmp_path / "frr01.clab.yml")
    assert [(p.line, p.field) for p in problems] == [(23, "topology.nodes.router2.startup-config"),
                                                    (26, "topology.nodes.router3.startup-config")]


def test_a_bound_directory_is_a_tmpfs_holding_its_files_and_ro_binds_read_only(tmp_path):
    (tmp_path / "conf" / "sub").mkdir(parents=True)
    (tmp_path / "conf" / "a.txt").write_text("a\n")
    (tmp_path / "conf" / "sub" / "b.txt").write_text("b\n")
    (tmp_path / "one").write_text("1\n")
    path = tmp_path / "t.clab.yml"
    path.write_text("name: t\ntopology:\n  nodes:\n    n:\n      kind: linux\n      binds:\n"
                    "        - conf:/srv/conf\n        - one:/etc/one:ro\n        - bad\n")
    book, problems, _ = compile_(path, hosts=("h1",), place=())
    assert [(p.line, p.field) for p in problems] == [(9, "topology.nodes.n.binds[2]")]
    mounts = next(p for h, m, p in tasks(book, "namespace"))["mounts"]
    assert mounts == [{"type": "tmpfs", "target": "/tmp", "options": "mode=1777"},
                      {"type": "tmpfs", "target": "/srv/conf", "options": "mode=0755"},
                      {"type": "file", "target": "/srv/conf/a.txt", "content": "a\n", "options": "optional"},
                      {"type": "file", "target": "/srv/conf/sub/b.txt", "content": "b\n", "options": "optional"},
                      {"type": "file", "target": "/etc/one", "content": "1\n", "options": "ro,optional"}]


def test_verify_expects_each_router_to_learn_by_ospf_every_network_the_others_announce():
    book, _, _ = compile_(FRR01 / "frr01-linux-binds.clab.yml")
    checks = {p["routes"][0]["node"]: (h, sorted(r["prefix"] for r in p["routes"]))
              for h, m, p in tasks(book, "verify") if p.get("routes")}
    assert checks == {
        "clab-frr01-router1": ("h1", ["192.168.12.0/24", "192.168.13.0/24", "192.168.3.0/24"]),
        "clab-frr01-router2": ("h2", ["192.168.11.0/24", "192.168.13.0/24", "192.168.2.0/24"]),
        "clab-frr01-router3": ("h3", ["192.168.1.0/24", "192.168.11.0/24", "192.168.12.0/24"])}
    for h, m, p in tasks(book, "verify"):
        assert validate_params(m, p)[1] == []
        assert all(r["protocol"] == "ospf" and r["within"] == 60 for r in p.get("routes", []))


@pytest.mark.parametrize("entry,error", [
    ({"prefix": "10.0.0.0/24"}, "needs node and prefix"),
    ({"node": "r1", "prefix": "10.0.0.0/24", "protocol": "carrier-pigeon"}, "carrier-pigeon"),
    ({"node": "r1", "prefix": "10.0.0.0/24", "within": -1}, "within -1"),
    ({"node": "r1", "prefix": "10.0.0.0/24", "via": "not-an-address"}, "not-an-address"),
    ({"node": "r1", "prefix": "10.0.0.0/24", "gateway": "10.0.0.1"}, "needs node and prefix")])
def test_a_routes_check_with_a_bad_field_is_refused_before_any_host_is_touched(entry, error):
    _, errors = validate_params("verify", {"routes": [entry]})
    assert errors and error in str(errors), errors
