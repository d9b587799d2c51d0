"""The supervisor of a process with `restart: always` or `on-failure`: this agent run again with
`supervise POLICY ARGV_JSON`, in the process's own session, as its recorded PID. It starts the
command as its child (same environment, working directory and log), and when the child exits
starts it again (always; on-failure: unless it exited 0), after a pause that doubles from 1 s
to 30 s while the command keeps dying young and is back to 1 s once it ran 30 s. SIGTERM (a
stop, a destroy) ends its process group: the child first (SIGTERM, SIGKILL after 2 s), then
the supervisor.

Everything it needs is imported before the first child starts: the bundle it was started from
may be replaced by a newer one while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

RESTARTS = ("always", "on-failure")
MAX_PAUSE, STEADY = 30.0, 30.0


def command_name(argv: list) -> str:
    """The command's own name, after the wrapper that enters its namespaces (nsenter ... --,
    ip netns exec NAME)."""
    if argv[:3] == ["ip", "netns", "exec"] and len(argv) > 4:
        return argv[4]
    if argv and argv[0] == "nsenter" and "--" in argv[:-1]:
        return argv[argv.index("--") + 1]
    return argv[0]


def supervise_main(policy: str, argv_json: str) -> int:
    argv = json.loads(argv_json)
    name = command_name(argv)
    child = [None]

    def stop(signum, frame) -> None:
        """The child and whatever it started in this process group (nsenter's command inside a
        PID namespace), then this supervisor; SIGKILL for all after 2 s."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.killpg(0, signal.SIGTERM)
        # waitpid itself: the handler may run inside Popen.wait, which holds the lock wait() takes
        deadline = time.monotonic() + 2
        while child[0] is not None and time.monotonic() < deadline:
            try:
                if os.waitpid(child[0].pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break
            time.sleep(0.02)
        else:
            if child[0] is not None:
                os.killpg(0, signal.SIGKILL)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pause = 1.0
    while True:
        began = time.monotonic()
        child[0] = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        rc = child[0].wait()
        if policy == "on-failure" and rc == 0:
            return 0
        pause = 1.0 if time.monotonic() - began >= STEADY else pause
        print(f"nsprov: {name} exited with status {rc}; starting it again in {pause:.0f} s", file=sys.stderr,
              flush=True)
        time.sleep(pause)
        pause = min(pause * 2, MAX_PAUSE)
