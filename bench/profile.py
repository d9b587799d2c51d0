#!/usr/bin/env python3
"""Where one nsprov run spends its time, phase by phase, on a local lab host.

    sudo .venv/bin/python bench/profile.py                      # W, R, T at N=100, console, 7 rounds
    sudo .venv/bin/python bench/profile.py --n 10 --mode json --rounds 5

Each round runs the real CLI in a child process (`--child`) as a user would (MODE console: its
output on a pseudo-terminal; json: `--json` on a pipe). The child marks phase boundaries by
wrapping nsprov's own functions as their modules are imported (an import hook, so what nsprov
imports lazily is still timed where it is imported): interpreter start, the CLI's imports,
option parsing, inventory + playbook (load, validate, templates), the run's own imports and
set-up, SSH connect, channel + bootstrap (bundle check) until the agent answers, the agent's
run (with its own timings from its `done` event), what is left after it (recap, exit). Time
spent inside the reporter (console or JSON lines) is summed separately: it overlaps the agent's
run, as events are reported while the agent works. W is a run on a clean host, R the same run
again, T the destroy.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


class _Patching(importlib.abc.MetaPathFinder):
    """Calls PATCH(module) right after a module of PATCHES is executed."""

    def __init__(self, patches: dict):
        self.patches = patches

    def find_spec(self, name, path, target=None):
        if name not in self.patches:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        loader, patch = spec.loader, self.patches[name]

        class Loader(importlib.abc.Loader):
            def create_module(self, spec_):
                return loader.create_module(spec_)

            def exec_module(self, module):
                loader.exec_module(module)
                patch(module)
        spec.loader = Loader()
        return spec


def child(argv: list) -> None:
    """The CLI with marks: every phase boundary as time.time(), written to stderr at exit."""
    marks: dict = {"start": time.time(), "report": 0.0}
    import atexit
    atexit.register(lambda: print("PROFILE " + json.dumps(marks), file=sys.stderr, flush=True))

    def wrap(owner, name: str, before: str, after: str) -> None:
        inner = getattr(owner, name)

        def timed(*a, **k):
            marks.setdefault(before, time.time())
            try:
                return inner(*a, **k)
            finally:
                marks[after] = time.time()
        setattr(owner, name, timed)

    def summed(owner, name: str) -> None:
        inner = getattr(owner, name)

        def timed(*a, **k):
            began = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                marks["report"] += time.perf_counter() - began
        setattr(owner, name, timed)

    def runner(module) -> None:
        inner = module.Runner.emit

        def emit(self, host, ev):
            if ev.get("event") == "done":
                marks["agent"] = {"seconds": ev["seconds"], **ev["timings"]}
            return inner(self, host, ev)
        module.Runner.emit = emit

    def transport(module) -> None:
        wrap(module.HostSession, "open", "connect_start", "connected")
        wrap(module.HostSession, "_handshake", "exec_sent", "agent_answered")
        wrap(module.HostSession, "finish", "finish_start", "agent_exited")

    def reporting(module) -> None:
        for cls in ("ConsoleReporter", "JsonLines"):
            if hasattr(module, cls):
                summed(getattr(module, cls), "__call__")

    def common(module) -> None:
        wrap(module, "resolve_playbook", "resolve_start", "resolved")
        wrap(module, "startup_done", "startup_done_start", "run_ready")
    sys.meta_path.insert(0, _Patching({"nsprov.controller.runner": runner, "nsprov.controller.transport": transport,
                                       "nsprov.reporting.console": reporting, "nsprov.reporting.jsonl": reporting,
                                       "nsprov.cli.common": common}))
    import nsprov.cli as cli
    marks["cli_imported"] = time.time()
    import nsprov.cli.playbooks as playbooks   # it holds resolve_playbook under its own name too
    wrap(playbooks, "resolve_playbook", "resolve_start", "resolved")
    sys.argv = ["nsprov", *argv]
    cli.main()


PYTHON = Path(sys.executable)     # the interpreter the child runs in: main() sets the installed one


def one_round(argv: list, console: bool) -> dict:
    from run import timed_on_terminal
    began = time.time()
    cmd = [str(PYTHON), __file__, "--child", *argv]
    if console:
        log = HERE / ".profile-stderr"
        took = timed_on_terminal(["sh", "-c", f'exec "$@" 2>{log}', "sh", *cmd])
        err = log.read_text()
        ended = began + took
    else:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        ended = time.time()
        if proc.returncode != 0:
            raise RuntimeError(f"nsprov {' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-800:]}")
        err = proc.stderr
    m = json.loads(next(x for x in err.splitlines() if x.startswith("PROFILE "))[8:])
    agent = m["agent"]
    run_start = m.get("exec_sent", m["connected"])
    return {
        "Python start-up": m["start"] - began,
        "CLI imports (click, nsprov.cli)": m["cli_imported"] - m["start"],
        "option parsing": m["resolve_start"] - m["cli_imported"],
        "inventory + playbook: load, validate, templates": m["resolved"] - m["resolve_start"],
        "the run's imports and set-up (transport, reporter, bundle)": m["connect_start"] - m["resolved"],
        "SSH connect (TCP, key exchange, auth)": m["connected"] - m["connect_start"],
        "channel, remote Python start, bundle check (until HAVE)": m["agent_answered"] - run_start,
        "agent run, HAVE to exit status": m["agent_exited"] - m["agent_answered"],
        "  of which agent start-up (bootstrap to agent main)": agent.get("startup", 0.0),
        "  of which lock + observe + plan": agent.get("observe_and_plan", 0.0),
        "  of which apply (kernel changes, ledger)": agent.get("apply", 0.0),
        "  of which the rest of the agent (request, imports, done)":
            agent["seconds"] - agent.get("observe_and_plan", 0.0) - agent.get("apply", 0.0),
        "recap + interpreter exit": ended - m["agent_exited"],
        "reporter (console or JSON lines), during the run": m["report"],
        "total (wall)": ended - began,
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--mode", choices=("console", "json"), default="console")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/profile.py needs root (a lab host): sudo .venv/bin/python bench/profile.py", file=sys.stderr)
        return 2
    import installed          # nsprov as pip installs it (installed.py says why)
    global PYTHON
    PYTHON = installed.install()
    lab = HERE / ".lab-profile"
    nsprov = [sys.executable, "-m", "nsprov.cli"]
    subprocess.run([*nsprov, "lab", "up", "--hosts", "1", "--dir", str(lab)], check=True, capture_output=True)
    argv = ["-i", str(lab / "inventory.yml"), str(HERE / "workload.yml"), "-e", f"n={args.n}",
            *(["--json"] if args.mode == "json" else [])]
    rows: dict = {"W": [], "R": [], "T": []}
    try:
        for _ in range(args.rounds):
            rows["W"].append(one_round(["run", *argv], args.mode == "console"))
            rows["R"].append(one_round(["run", *argv], args.mode == "console"))
            rows["T"].append(one_round(["destroy", *argv], args.mode == "console"))
    finally:
        subprocess.run([*nsprov, "lab", "down", "--dir", str(lab)], capture_output=True)
    n = args.n
    print(f"| phase ({args.mode}, median of {args.rounds}, seconds) | W({n}) | R({n}) | T({n}) |\n|---|---|---|---|")
    med = {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for w, rs in rows.items()}
    for key in rows["W"][0]:
        print(f"| {key} | {med['W'][key]:.3f} | {med['R'][key]:.3f} | {med['T'][key]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
