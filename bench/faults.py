#!/usr/bin/env python3
"""A campaign of randomized fault runs on a lab host (see nsprov/lab/faults.py).

    sudo .venv/bin/python bench/faults.py [--runs 100] [--seed 0] [--namespaces 30]

Prints every run, then: runs, faults by kind, leaked objects (goal 0), foreign objects touched
(goal 0), and how many re-runs each needed to converge. Writes bench/results/faults.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from nsprov.lab.faults import FaultLab, campaign  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--namespaces", type=int, default=30)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/faults.py needs root: sudo .venv/bin/python bench/faults.py", file=sys.stderr)
        return 2
    lab_dir = HERE / ".lab-faults"
    nsprov = [sys.executable, "-m", "nsprov.cli"]
    subprocess.run([*nsprov, "lab", "up", "--hosts", "2", "--dir", str(lab_dir)], check=True, capture_output=True)
    try:
        with tempfile.TemporaryDirectory() as work:
            outcomes = campaign(FaultLab(lab_dir), args.runs, Path(work), n=args.namespaces, seed=args.seed)
    finally:
        subprocess.run([*nsprov, "lab", "down", "--dir", str(lab_dir)], capture_output=True)
    by_kind = collections.Counter(o.kind for o in outcomes)
    reruns = collections.Counter(o.reruns for o in outcomes if o.converged)
    summary = {
        "runs": len(outcomes),
        "faults_by_kind": dict(sorted(by_kind.items())),
        "converged": sum(o.converged for o in outcomes),
        "reruns_to_converge": {str(k): v for k, v in sorted(reruns.items())},
        "leaked_objects": sum(len(o.leaked) for o in outcomes),
        "foreign_objects_touched": sum(len(o.foreign_touched) for o in outcomes),
        "first_run_exit_codes": dict(collections.Counter(str(o.first_exit) for o in outcomes)),
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "faults.json").write_text(json.dumps({"summary": summary, "runs": [o.__dict__ for o in outcomes]},
                                                indent=1))
    print(json.dumps(summary, indent=1))
    return 0 if summary["leaked_objects"] == 0 and summary["foreign_objects_touched"] == 0 \
        and summary["converged"] == summary["runs"] else 1


if __name__ == "__main__":
    sys.exit(main())
