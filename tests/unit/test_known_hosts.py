"""Host keys are looked up in a known_hosts file parsed once per process: the same answers as
paramiko's own per-client parse (plain, hashed and [host]:port entries), and a file changed
since (accept-new appends to it) is parsed again."""

from __future__ import annotations

import os

import paramiko

from nsprov.controller.ssh_paramiko import _known_keys


def test_plain_hashed_and_port_entries_are_found_and_others_are_not(tmp_path):
    a = paramiko.ECDSAKey.generate()
    b = paramiko.ECDSAKey.generate()
    known = tmp_path / "known_hosts"
    hashed = paramiko.HostKeys.hash_host("10.0.0.2")
    known.write_text(f"10.0.0.1 {a.get_name()} {a.get_base64()}\n"
                     f"{hashed} {b.get_name()} {b.get_base64()}\n"
                     f"[10.0.0.3]:2222 {a.get_name()} {a.get_base64()}\n")
    assert _known_keys(str(known), "10.0.0.1")[a.get_name()] == a
    assert _known_keys(str(known), "10.0.0.2")[b.get_name()] == b
    assert _known_keys(str(known), "[10.0.0.3]:2222")[a.get_name()] == a
    assert _known_keys(str(known), "10.0.0.3") == {}
    assert _known_keys(str(known), "10.0.0.4") == {}
    assert _known_keys(str(tmp_path / "missing"), "10.0.0.1") == {}


def test_a_changed_file_is_parsed_again(tmp_path):
    a, b = paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()
    known = tmp_path / "known_hosts"
    known.write_text(f"10.0.0.1 {a.get_name()} {a.get_base64()}\n")
    assert _known_keys(str(known), "10.0.0.5") == {}
    with known.open("a") as f:   # as accept-new does
        f.write(f"10.0.0.5 {b.get_name()} {b.get_base64()}\n")
    os.utime(known, ns=(1, 1))   # a different mtime even on a coarse clock
    assert _known_keys(str(known), "10.0.0.5")[b.get_name()] == b
