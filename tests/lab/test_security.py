"""Security properties, each checked on lab hosts: argv only (hostile names are refused or
harmless), root-only state checked before use, become passwords never shown, one run at a time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tests.conftest import add_sudo_user, host_entry, json_events, nsprov, write_inventory

pytestmark = pytest.mark.lab


def run(*args: str):
    proc = nsprov(*args, "--json", check=False)
    return proc, json_events(proc.stdout)


def test_names_with_shell_syntax_are_refused_where_the_kernel_forbids_them(lab3, tmp_path):
    book = tmp_path / "hostile.yml"
    book.write_text("- hosts: lab1\n  tasks:\n    - netns: {name: 'a;touch /tmp/pwned'}\n"
                    "    - bridge: {name: 'x; touch /tmp/pwned'}\n"
                    "    - exec: {command: 'touch /tmp/pwned'}\n")
    proc = nsprov("run", "-i", str(lab3.inventory), str(book), check=False)
    assert proc.returncode == 2
    assert proc.stderr.count(str(book)) == 3
    assert lab3.ssh("lab1", "test", "-e", "/tmp/pwned", check=False).returncode == 1


def test_names_with_shell_syntax_are_harmless_where_the_kernel_allows_them(lab3, tmp_path):
    book = tmp_path / "dollar.yml"
    book.write_text(textwrap.dedent("""\
        - hosts: lab1
          tasks:
            - bridge: {name: "x$(id)"}
            - exec: {command: [sh, -c, 'echo "$1" > /tmp/argv-check', sh, "$(touch /tmp/pwned)"]}
        """))
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(book))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        names = [x["ifname"] for x in json.loads(lab3.ssh("lab1", "ip", "-j", "link", "show").stdout)]
        assert "x$(id)" in names                                     # the literal name, nothing ran
        assert lab3.ssh("lab1", "cat", "/tmp/argv-check").stdout.strip() == "$(touch /tmp/pwned)"
        assert lab3.ssh("lab1", "test", "-e", "/tmp/pwned", check=False).returncode == 1
    finally:
        nsprov("destroy", "-i", str(lab3.inventory), str(book), check=False)
        lab3.ssh("lab1", "rm", "-f", "/tmp/argv-check", check=False)
    assert "x$(id)" not in lab3.ssh("lab1", "ip", "-br", "link").stdout


@pytest.mark.parametrize("how,message", [
    (["chmod", "0777", "/var/lib/nsprov"], "refusing /var/lib/nsprov: it must be a directory owned by uid 0 "
                                           "with mode 0700"),
    (["chown", "65534", "/var/lib/nsprov"], "refusing /var/lib/nsprov: it must be a directory owned by uid 0 "
                                            "with mode 0700"),
])
def test_an_unsafe_state_directory_is_refused_not_used(lab3, tmp_path, how, message):
    book = tmp_path / "one.yml"
    book.write_text("- hosts: lab1\n  tasks:\n    - netns: {name: unsafe1}\n")
    nsprov("facts", "-i", str(lab3.inventory), "--limit", "lab1")      # the directory exists
    lab3.ssh("lab1", *how)
    try:
        proc, events = run("run", "-i", str(lab3.inventory), str(book))
        assert proc.returncode == 1
        assert message in next(e for e in events if e["event"] == "host_done")["error"]
        assert "unsafe1" not in lab3.ssh("lab1", "ip", "netns", "list").stdout
    finally:
        lab3.ssh("lab1", "sh", "-c", "chmod 0700 /var/lib/nsprov && chown 0:0 /var/lib/nsprov")


def test_a_second_run_waits_for_the_first_or_gives_up_clearly(lab3, tmp_path):
    slow = tmp_path / "slow.yml"
    slow.write_text("- hosts: lab2\n  tasks:\n    - exec: {command: [sleep, '2'], changed_when: false}\n")
    quick = tmp_path / "quick.yml"
    quick.write_text("- hosts: lab2\n  tasks:\n    - exec: {command: ['true'], changed_when: false}\n")
    first = subprocess.Popen([sys.executable, "-m", "nsprov.cli", "run", "-i", str(lab3.inventory), str(slow),
                              "--json"], stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    time.sleep(0.8)
    impatient, events = run("run", "-i", str(lab3.inventory), str(quick), "--lock-timeout", "0.5")
    assert impatient.returncode == 1
    assert "another nsprov run holds /var/lib/nsprov/lock; gave up after" in \
        next(e for e in events if e["event"] == "host_done")["error"]
    began = time.monotonic()
    patient, _ = run("run", "-i", str(lab3.inventory), str(quick))
    waited = time.monotonic() - began
    assert patient.returncode == 0
    first_out, _ = first.communicate(timeout=30)
    assert first.returncode == 0 and '"event": "locked"' in first_out
    assert waited > 0.5        # it waited for the slow run's lock instead of interleaving with it


@pytest.fixture(scope="module")
def carol(lab3):
    """An ordinary user on lab3 whose sudo needs a password."""
    add_sudo_user(lab3, "lab3", "carol", "Sup3r-s3cret")
    return host_entry(lab3, "lab3", ansible_user="carol", ansible_become=True,
                      ansible_become_password="Sup3r-s3cret")


def test_the_become_password_never_shows_in_process_lists_logs_or_json(lab3, carol, tmp_path):
    inv = write_inventory(tmp_path / "inv.yml", {"lab3": carol})
    book = tmp_path / "sleepy.yml"
    book.write_text("- hosts: lab3\n  tasks:\n    - exec: {command: [sleep, '2.5'], changed_when: false}\n")
    seen = []

    def look() -> None:   # every argv and environment on the host, again and again while the run goes
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            snap = lab3.ssh("lab3", "sh", "-c", "cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null "
                                                "| tr '\\0' ' '").stdout
            seen.append(snap)
            if "sleep 2.5" in snap:
                return
            time.sleep(0.1)
    watcher = threading.Thread(target=look)
    watcher.start()
    proc, events = run("run", "-i", str(inv), str(book), "-v")
    watcher.join()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("sleep 2.5" in snap for snap in seen)     # we looked while the run was going
    assert not any("Sup3r-s3cret" in snap for snap in seen)
    assert "Sup3r-s3cret" not in proc.stdout + proc.stderr
    logs = lab3.ssh("lab3", "sh", "-c", "cat /var/log/auth.log /var/lib/nsprov/log/* 2>/dev/null; true").stdout
    assert "Sup3r-s3cret" not in logs
