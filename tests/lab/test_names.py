"""Names per netns (`hosts:`, `resolv:` on a netns task) on a real lab host, checked with plain
`cat`, `ip netns exec ... getent` and what a process nsprov started resolved, never by asking
nsprov (a lab host's /etc is an overlay of its own):
- the files are where `ip netns exec` looks, marked as nsprov's; `getent` inside resolves the
  names, the host's own /etc/hosts does not; a process and a command nsprov starts in the netns
  resolve them too; a second run changes nothing;
- a name dropped from the playbook goes from the file; resolv dropped removes resolv.conf;
- a file nsprov did not write is never overwritten (and nothing is made);
- destroy removes the files nsprov wrote.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab
HOST = "lab2"


def sh(lab, command: str, check: bool = True):
    return lab.ssh(HOST, "sh", "-c", command, check=check)


def run(lab, path, check=True):
    proc = nsprov("run", "-i", str(lab.inventory), str(path), "--json", check=check)
    return proc, json_events(proc.stdout)


def changed(events: list) -> int:
    return sum(e["status"] == "changed" for e in events if e["event"] == "task")


def book(tmp_path, names: str, netns="nm1"):
    path = tmp_path / "names.yml"
    path.write_text(textwrap.dedent(f"""\
        - hosts: {HOST}
          lab: names
          tasks:
            - netns: {{name: {netns}, {names}}}
            - process: {{name: nmp, netns: {netns}, command: [sh, -c, "getent hosts web > /tmp/nm-proc; exec sleep 3600"]}}
            - exec: {{netns: {netns}, command: [sh, -c, "getent hosts db > /tmp/nm-exec"], creates: /tmp/nm-exec}}
        """))
    return path


BOTH = "hosts: {web: 10.0.0.2, db: [10.0.0.3, 'fd00::3']}, resolv: {nameservers: [10.0.0.53], search: [lab.example]}"


def test_names_are_where_ip_netns_exec_looks_and_what_nsprov_started_resolves(lab3, tmp_path):
    host_hosts = sh(lab3, "cat /etc/hosts").stdout
    path = book(tmp_path, BOTH)
    try:
        proc, events = run(lab3, path)
        hosts = sh(lab3, "cat /etc/netns/nm1/hosts").stdout
        assert hosts.startswith("# nsprov:names:") and "10.0.0.2\tweb" in hosts and "fd00::3\tdb" in hosts
        assert sh(lab3, "cat /etc/netns/nm1/resolv.conf").stdout.splitlines()[1:] == [
            "nameserver 10.0.0.53", "search lab.example"]
        assert sh(lab3, "ip netns exec nm1 getent hosts web").stdout.split()[:2] == ["10.0.0.2", "web"]
        assert "nameserver 10.0.0.53" in sh(lab3, "ip netns exec nm1 cat /etc/resolv.conf").stdout
        assert sh(lab3, "getent hosts web", check=False).returncode != 0     # the host's own names are untouched
        assert sh(lab3, "cat /etc/hosts").stdout == host_hosts
        assert sh(lab3, "cat /tmp/nm-exec").stdout.split()[:2] in (["10.0.0.3", "db"], ["fd00::3", "db"])
        assert sh(lab3, "for i in 1 2 3 4 5; do [ -s /tmp/nm-proc ] && break; sleep 0.2; done; "
                        "cat /tmp/nm-proc").stdout.split()[:2] == ["10.0.0.2", "web"]
        proc, events = run(lab3, path)
        assert changed(events) == 0
        # a name dropped, resolv dropped
        proc, events = run(lab3, book(tmp_path, "hosts: {web: 10.0.0.2}"))
        assert changed(events) == 1
        assert "db" not in sh(lab3, "cat /etc/netns/nm1/hosts").stdout
        assert sh(lab3, "test -e /etc/netns/nm1/resolv.conf", check=False).returncode == 1
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)
        sh(lab3, "rm -f /tmp/nm-proc /tmp/nm-exec", check=False)
    assert sh(lab3, "test -e /etc/netns/nm1", check=False).returncode == 1


def test_a_file_nsprov_did_not_write_is_never_overwritten(lab3, tmp_path):
    sh(lab3, "mkdir -p /etc/netns/nm2 && echo '10.9.9.9 web' > /etc/netns/nm2/hosts")
    path = book(tmp_path, BOTH, netns="nm2")
    try:
        proc, events = run(lab3, path, check=False)
        failed = [e for e in events if e["event"] == "task" and e["status"] == "failed"]
        assert proc.returncode == 1 and failed, proc.stdout[-2000:]
        assert "/etc/netns/nm2/hosts exists and was not written by nsprov; not overwriting it" in failed[0]["reason"]
        assert sh(lab3, "cat /etc/netns/nm2/hosts").stdout == "10.9.9.9 web\n"
        assert "nm2" not in sh(lab3, "ip netns list").stdout.split()
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)
        sh(lab3, "rm -rf /etc/netns/nm2", check=False)


SET_BOOK = """\
- hosts: lab2
  lab: setnames
  tasks:
    - namespace:
        name: nmset
        kinds: [uts, mnt, pid, user, net]
        hostname: nmset
        uid_map: [{{inside: 0, outside: 100000, count: 65536}}]
        gid_map: [{{inside: 0, outside: 100000, count: 65536}}]
        hosts: {{web: {web}}}
        resolv: {{nameservers: [10.0.0.53]}}
    - process: {{name: nmsp, namespace: nmset, command: [sh, -c, "getent hosts web > /tmp/nms-proc; exec sleep 3600"]}}
"""


def test_names_of_a_namespace_set_are_inside_its_mount_namespace_only(lab3, tmp_path):
    """hosts and resolv on a set with its own mount namespace (and a user namespace, which mounts
    them as an unprivileged root): seen inside through /proc/INIT/root, resolved by a process and
    by `nsprov exec`; the host's own files untouched; a changed name reaches the same set (its
    init keeps its pid); destroy removes what nsprov kept."""
    path = tmp_path / "set.yml"
    host_hosts, host_resolv = sh(lab3, "cat /etc/hosts").stdout, sh(lab3, "cat /etc/resolv.conf").stdout
    init = "$(python3 -c 'import json; print(json.load(open(\"/run/nsprov/ns/nmset/init.json\"))[\"pid\"])')"
    try:
        path.write_text(SET_BOOK.format(web="10.0.0.7"))
        run(lab3, path)
        inside = sh(lab3, f"cat /proc/{init}/root/etc/hosts").stdout
        assert "10.0.0.7\tweb" in inside
        assert "nameserver 10.0.0.53" in sh(lab3, f"cat /proc/{init}/root/etc/resolv.conf").stdout
        assert sh(lab3, "cat /etc/hosts").stdout == host_hosts
        assert sh(lab3, "cat /etc/resolv.conf").stdout == host_resolv
        assert sh(lab3, "for i in 1 2 3 4 5; do [ -s /tmp/nms-proc ] && break; sleep 0.2; done; "
                        "cat /tmp/nms-proc").stdout.split()[:2] == ["10.0.0.7", "web"]
        got = nsprov("exec", "-i", str(lab3.inventory), HOST, "nmset", "--", "getent", "hosts", "web")
        assert got.stdout.split()[:2] == ["10.0.0.7", "web"]
        pid = sh(lab3, f"echo {init}").stdout.strip()
        proc, events = run(lab3, path)
        assert changed(events) == 0
        path.write_text(SET_BOOK.format(web="10.0.0.8"))
        run(lab3, path)
        assert "10.0.0.8\tweb" in sh(lab3, f"cat /proc/{init}/root/etc/hosts").stdout
        assert sh(lab3, f"echo {init}").stdout.strip() == pid             # the same set, not made again
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(path), check=False)
        sh(lab3, "rm -f /tmp/nms-proc", check=False)
    assert sh(lab3, "test -e /run/nsprov-names/nmset", check=False).returncode == 1
