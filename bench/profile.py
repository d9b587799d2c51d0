#!/usr/bin/env python3
"""Where one `nsprov run` spends its time, phase by phase, on a local lab host.

    sudo .venv/bin/python bench/profile.py                 # W(100) and R(100), 7 rounds, medians
    sudo .venv/bin/python bench/profile.py --n 500 --rounds 5

Each round runs the real CLI in a child process (`--child`), which marks the phases by wrapping
the controller's own functions (no change to nsprov): interpreter start, imports, playbook load
+ validation + templates, SSH connect, channel + bootstrap (bundle hash check) until the agent
answers, then the agent's own timings from its `done` event (start-up, observe + plan, apply),
the events' way back, and interpreter exit. W is a run on a clean host, R the same run again;
the host is torn down between rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def child(argv: list) -> None:
    """The CLI with marks: every phase boundary as time.time(), written to stderr at exit."""
    marks = {"start": time.time()}
    import atexit
    atexit.register(lambda: print("PROFILE " + json.dumps(marks), file=sys.stderr, flush=True))
    import nsprov.cli as cli
    import nsprov.cli.playbooks as playbooks
    # what `run --json` imports inside the command, imported here so it is timed as imports
    import nsprov.controller.bundle
    import nsprov.controller.resolve
    import nsprov.controller.runner
    import nsprov.controller.transport as transport
    import nsprov.reporting.jsonl  # noqa: F401
    marks["imported"] = time.time()

    def wrap(owner, name: str, before: str, after: str) -> None:
        inner = getattr(owner, name)

        def timed(*a, **k):
            marks.setdefault(before, time.time())
            try:
                return inner(*a, **k)
            finally:
                marks[after] = time.time()
        setattr(owner, name, timed)
    wrap(playbooks, "resolve_playbook", "resolve_start", "resolved")
    wrap(transport.HostSession, "open", "connect_start", "connected")
    wrap(transport.HostSession, "_handshake", "exec_sent", "agent_answered")
    wrap(transport.HostSession, "run_agent", "run_start", "agent_exited")
    sys.argv = ["nsprov", *argv]
    cli.main()


def one_round(argv: list) -> dict:
    began = time.time()
    proc = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True,
                          cwd=ROOT)
    ended = time.time()
    if proc.returncode != 0:
        raise RuntimeError(f"nsprov {' '.join(argv)} exited {proc.returncode}:\n{proc.stdout[-800:]}\n{proc.stderr[-800:]}")
    m = json.loads(next(x for x in proc.stderr.splitlines() if x.startswith("PROFILE "))[8:])
    done = next(e for e in map(json.loads, proc.stdout.splitlines()) if e.get("event") == "done")
    agent = done["timings"]
    return {
        "Python start-up": m["start"] - began,
        "imports (click, yaml, jinja2, paramiko, fabric, nsprov)": m["imported"] - m["start"],
        "inventory + playbook: load, validate, templates": m["resolved"] - m["resolve_start"],
        "SSH connect (TCP, key exchange, auth)": m["connected"] - m["connect_start"],
        "channel, remote Python start, bundle check (until HAVE)": m["agent_answered"] - m["run_start"],
        "agent run, HAVE to exit status": m["agent_exited"] - m["agent_answered"],
        "  of which agent start-up (bootstrap to agent main)": agent.get("startup", 0.0),
        "  of which lock + observe + plan": agent["observe_and_plan"],
        "  of which apply (kernel changes, ledger)": agent["apply"],
        "  of which rest of the agent (request, imports, done)":
            done["seconds"] - agent["observe_and_plan"] - agent["apply"],
        "report + interpreter exit": ended - m["agent_exited"],
        "total (wall)": ended - began,
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/profile.py needs root (a lab host): sudo .venv/bin/python bench/profile.py", file=sys.stderr)
        return 2
    import compileall
    compileall.compile_dir(str(ROOT / "nsprov"), quiet=1)   # as pip installs it (see run.py)
    lab = HERE / ".lab-profile"
    nsprov = [sys.executable, "-m", "nsprov.cli"]
    subprocess.run([*nsprov, "lab", "up", "--hosts", "1", "--dir", str(lab)], check=True, capture_output=True)
    argv = ["-i", str(lab / "inventory.yml"), str(HERE / "workload.yml"), "-e", f"n={args.n}", "--json"]
    rows: dict = {"W": [], "R": []}
    try:
        for _ in range(args.rounds):
            rows["W"].append(one_round(["run", *argv]))
            rows["R"].append(one_round(["run", *argv]))
            subprocess.run([*nsprov, "destroy", *argv], check=True, capture_output=True)
    finally:
        subprocess.run([*nsprov, "lab", "down", "--dir", str(lab)], capture_output=True)
    print(f"| phase (median of {args.rounds}, seconds) | W({args.n}) | R({args.n}) |\n|---|---|---|")
    for rs in rows.values():   # per round: what the marks do not cover (option parsing, bundle load...)
        for r in rs:
            r["other controller work"] = r["total (wall)"] - sum(
                v for k, v in r.items() if not k.startswith(("  ", "total")))
    med = {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for w, rs in rows.items()}
    keys = [k for k in rows["W"][0] if k != "total (wall)"] + ["total (wall)"]
    for key in keys:
        print(f"| {key} | {med['W'][key]:.3f} | {med['R'][key]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
