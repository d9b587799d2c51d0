"""Persistence where it cannot be: lab hosts run no systemd (they are namespace sets on this
machine), so a lab cannot be kept across their reboots, and nsprov says so before it changes
anything. Checked on the host with plain `ip netns` and `ls`, never by asking nsprov:
- `--persist` fails on that host before any change, naming the reason; nothing is made and
  nothing is kept (the control: the same run without it makes the lab);
- `persist: true` on a play warns, names the host's reason, and the run goes on: the lab is
  made, nothing is kept for a boot;
- a persist that is not a boolean is bad input, with file, line and field, before any host.
The real reboot, with systemd, is the Vagrant suite's (tests/vagrant).
"""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import json_events, nsprov

pytestmark = pytest.mark.lab
HOST = "lab1"


def book(tmp_path, persist: str = "") -> str:
    path = tmp_path / "keep.yml"
    path.write_text(f"- hosts: {HOST}\n  lab: keep\n" + (f"  {persist}\n" if persist else "") +
                    "  tasks:\n    - netns: {name: kp1}\n")
    return str(path)


def netns(lab) -> list:
    return lab.ssh(HOST, "ip", "netns", "list").stdout.split()


def kept(lab) -> str:
    return lab.ssh(HOST, "sh", "-c", "ls -A /var/lib/nsprov/persist /etc/systemd/system/nsprov-lab-* 2>/dev/null; true").stdout


def test_persist_where_no_systemd_runs_stops_before_any_change_or_warns_as_asked(lab3, tmp_path):
    assert lab3.ssh(HOST, "test", "-d", "/run/systemd/system", check=False).returncode == 1   # the premise
    plain = book(tmp_path)
    try:
        proc = nsprov("run", "-i", str(lab3.inventory), plain, "--persist", "--json", check=False)
        errors = [e for e in json_events(proc.stdout) if e["event"] == "error"]
        assert proc.returncode == 1 and errors, proc.stdout
        assert "--persist: persistence is unavailable on this host: this host does not run systemd" in errors[0]["message"]
        assert "kp1" not in netns(lab3) and kept(lab3) == ""
        # persist: true on the play: a warning naming why, and the run goes on
        proc = nsprov("run", "-i", str(lab3.inventory), book(tmp_path, "persist: true"), "--json")
        said = [e for e in json_events(proc.stdout) if e["event"] == "persist"]
        assert [(e["host"], e["status"]) for e in said] == [(HOST, "unavailable")]
        assert "lab keep will not survive a reboot here: this host does not run systemd" in said[0]["message"]
        assert "kp1" in netns(lab3) and kept(lab3) == ""
        # the console says it too
        proc = nsprov("run", "-i", str(lab3.inventory), book(tmp_path, "persist: true"))
        assert "lab keep will not survive a reboot here" in proc.stdout
        labs = next(e for e in json_events(nsprov("labs", "-i", str(lab3.inventory), "--limit", HOST, "--json").stdout)
                    if e["event"] == "labs")["labs"]
        assert labs["keep"]["persist"] is None and labs["keep"]["rebooted_since"] is False
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), plain, check=False)
    assert "kp1" not in netns(lab3)


def test_a_persist_that_is_not_a_boolean_is_bad_input_with_file_line_and_field(lab3, tmp_path):
    path = book(tmp_path, "persist: sometimes")
    proc = nsprov("run", "-i", str(lab3.inventory), path, check=False)
    assert proc.returncode == 2
    assert f"{path}:3: play[0].persist: must be true or false, not 'sometimes'" in proc.stderr
    assert "kp1" not in netns(lab3)
