"""The supervisor of `restart: always | on-failure` (agent/kernel/supervise.py), run as the agent
runs it, on commands that exit: always starts a command again whatever its status, pausing
longer each time it dies young; on-failure stops after a clean exit; SIGTERM ends the child
and the supervisor together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

CODE = "import sys; from nsprov.agent.kernel.supervise import supervise_main; sys.exit(supervise_main(*sys.argv[1:]))"


def supervise(policy: str, argv: list, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CODE, policy, json.dumps(argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def test_on_failure_ends_with_a_clean_exit_and_always_starts_it_again():
    proc = supervise("on-failure", ["sh", "-c", "echo ran; exit 0"])
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out.count("ran") == 1 and err == ""
    proc = supervise("always", ["sh", "-c", "echo ran; exit 0"])
    try:
        time.sleep(5)                   # runs at 0 s, 1 s and 3 s (the next at 7 s): the pause doubles
    finally:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert out.count("ran") == 3, out
    assert err.splitlines()[:2] == ["nsprov: sh exited with status 0; starting it again in 1 s",
                                    "nsprov: sh exited with status 0; starting it again in 2 s"]


def test_on_failure_starts_a_failing_command_again():
    proc = supervise("on-failure", ["sh", "-c", "echo ran; exit 3"])
    try:
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert out.count("ran") == 2 and "exited with status 3" in err


def test_sigterm_ends_the_child_and_the_supervisor():
    proc = supervise("always", ["sh", "-c", "echo $$; exec sleep 600"])
    child = int(proc.stdout.readline())
    os.kill(child, 0)                                   # it runs
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the child outlived its supervisor")
