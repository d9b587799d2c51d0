#!/usr/bin/env python3
"""A 10x10 torus across 3 lab hosts: nsprov against a shell script of `ip` commands.

    sudo .venv/bin/python bench/torus.py                    # 5 rounds, 10x10, 3 hosts
    sudo .venv/bin/python bench/torus.py --side 6 --repeat 3

Mininet's published figure is a 10x10 torus (100 switches + 100 hosts, ~300 links) built in
25.9 s on one host. Here: 100 `kind: linux` nodes and 200 links (each node linked right and
down, wrapping), rows 0-3 on lab1, 4-6 on lab2, 7-9 on lab3, so 30 links cross hosts as VXLAN
pairs; every link end gets a /31 address by node `exec`, as a containerlab user writes it.

Tools, taking turns within each round:
  nsprov   `nsprov run -i INV torus.clab.yml --place ...` on a terminal, as users run it (W), the
           same again on the finished lab (R: must change nothing), `nsprov destroy` (T)
  shell    per host, one ssh call running a shell script of `ip` commands that makes the same
           namespaces, veths, vxlans and addresses (W) and deletes them (T); the 3 hosts at once
  ipbatch  the same through `ip -batch` (one ip process per namespace), the fastest CLI way
T is measured until the host lists none of the lab's namespaces. The report gives medians and
min-max of each, as JSON and a markdown table (bench/results/torus.*).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402  (the harness's timers and installed nsprov)

HOSTS = ("lab1", "lab2", "lab3")


def band(row: int, side: int) -> str:
    """Rows 0-3 on lab1, 4-6 on lab2, 7-9 on lab3 (for another side, in the same shares)."""
    return HOSTS[0] if row < side * 4 // 10 else HOSTS[1] if row < side * 7 // 10 else HOSTS[2]


def links(side: int) -> list:
    """[((node, iface), (node, iface), index)]: each node to its right and lower neighbour."""
    out, port = [], {}

    def iface(node: str) -> str:
        port[node] = port.get(node, 0) + 1
        return f"eth{port[node]}"
    for r in range(side):
        for c in range(side):
            here = f"r{r}c{c}"
            for there in (f"r{r}c{(c + 1) % side}", f"r{(r + 1) % side}c{c}"):
                out.append(((here, iface(here)), (there, iface(there)), len(out)))
    return out


def address(i: int, end: int) -> str:
    """Link I's end END (0 or 1): a /31 of its own."""
    return f"10.{100 + i // 128}.{i % 128}.{end}/31"


def topology(side: int) -> str:
    nodes: dict = {}
    for r in range(side):
        for c in range(side):
            nodes[f"r{r}c{c}"] = {"kind": "linux", "labels": {"nsprov.host": band(r, side)}, "exec": []}
    out_links = []
    for (a, ia), (b, ib), i in links(side):
        nodes[a]["exec"].append(f"ip addr add {address(i, 0)} dev {ia}")
        nodes[b]["exec"].append(f"ip addr add {address(i, 1)} dev {ib}")
        out_links.append({"endpoints": [f"{a}:{ia}", f"{b}:{ib}"], "mtu": 1450})
    return yaml.safe_dump({"name": "torus", "topology": {"nodes": nodes, "links": out_links}}, sort_keys=False)


def shell_scripts(side: int, underlay: dict, batch: bool) -> dict:
    """{host: a script of ip commands making this host's part of the torus}."""
    lines: dict = {h: [] for h in HOSTS}
    per_ns: dict = {}
    for r in range(side):
        for c in range(side):
            ns, h = f"t-r{r}c{c}", band(r, side)
            lines[h].append(f"netns add {ns}")
            per_ns.setdefault(ns, ["link set lo up"])
    for (a, ia), (b, ib), i in links(side):
        ha, hb = band(int(a[1:a.index("c")]), side), band(int(b[1:b.index("c")]), side)
        na, nb = f"t-{a}", f"t-{b}"
        if ha == hb:
            lines[ha].append(f"link add {ia} netns {na} mtu 1450 type veth peer name {ib} netns {nb}")
        else:
            vni = 4096 + zlib.crc32(f"torus/{i}".encode()) % 1000000
            for h, ns, dev, other in ((ha, na, ia, hb), (hb, nb, ib, ha)):
                lines[h] += [f"link add tx{i} type vxlan id {vni} remote {underlay[other]} dstport 4789",
                             f"link set tx{i} netns {ns} name {dev}"]
        per_ns[na] += [f"addr add {address(i, 0)} dev {ia}", f"link set {ia} up"]
        per_ns[nb] += [f"addr add {address(i, 1)} dev {ib}", f"link set {ib} up"]
    out = {}
    for h in HOSTS:
        mine = [ns for ns in per_ns if band(int(ns[3:ns.index("c")]), side) == h]
        if batch:
            script = ["ip -batch - <<'EOF'", *lines[h], "EOF"]
            for ns in mine:
                script += [f"ip -n {ns} -batch - <<'EOF'", *per_ns[ns], "EOF"]
        else:
            script = [f"ip {x}" for x in lines[h]] + [f"ip -n {ns} {x}" for ns in mine for x in per_ns[ns]]
        out[h] = "set -e\n" + "\n".join(script) + "\n"
    return out


def teardown_script(side: int, host: str) -> str:
    mine = [f"t-r{r}c{c}" for r in range(side) for c in range(side) if band(r, side) == host]
    return ("ip -batch - <<'EOF'\n" + "\n".join(f"netns del {n}" for n in mine) + "\nEOF\n"
            "while ip netns list | grep -q '^t-r'; do sleep 0.01; done\n")


def _on_hosts(lab: Path, scripts: dict) -> float:
    """Every host's script over its own ssh call, all at once: the time until the last ends."""
    began = time.perf_counter()
    with ThreadPoolExecutor(len(scripts)) as pool:
        procs = list(pool.map(lambda h: subprocess.run(["ssh", "-F", str(lab / "ssh_config"), h, "sh", "-s"],
                                                      input=scripts[h], capture_output=True, text=True), scripts))
    took = time.perf_counter() - began
    for h, p in zip(scripts, procs):
        if p.returncode != 0:
            raise RuntimeError(f"{h}: {p.stderr[-2000:]}")
    return took


def _gone(lab: Path, prefix: str) -> None:
    """Wait until no host lists a namespace of the lab (part of T: a run can start right after)."""
    while any(prefix in subprocess.run(["ssh", "-F", str(lab / "ssh_config"), h, "ip", "netns", "list"],
                                       capture_output=True, text=True).stdout for h in HOSTS):
        time.sleep(0.01)


def nsprov_round(lab: Path, topo: Path) -> dict:
    target = ["-i", str(lab / "inventory.yml"), str(topo)]
    w = bench.timed_on_terminal([*bench.TIMED, "run", *target])
    r = bench.timed_on_terminal([*bench.TIMED, "run", *target])
    rerun = subprocess.run([*bench.TIMED, "run", *target, "--json"], capture_output=True, text=True)
    events = [json.loads(x) for x in rerun.stdout.splitlines() if x.startswith("{")]
    changed = sum(e.get("event") == "task" and e.get("status") == "changed" for e in events)
    began = time.perf_counter()
    bench.timed_on_terminal([*bench.TIMED, "destroy", *target])
    _gone(lab, "clab-torus-")
    t = time.perf_counter() - began
    return {"W": w, "R": r, "T": t, "R_changed": changed}


def script_round(lab: Path, side: int, underlay: dict, batch: bool) -> dict:
    w = _on_hosts(lab, shell_scripts(side, underlay, batch))
    began = time.perf_counter()
    _on_hosts(lab, {h: teardown_script(side, h) for h in HOSTS})
    _gone(lab, "t-r")
    return {"W": w, "T": time.perf_counter() - began}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/torus.py needs root (lab hosts)", file=sys.stderr)
        return 2
    import installed
    bench.TIMED = installed.command(installed.install())
    lab, out = HERE / ".lab-torus", Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    topo = out / "torus.clab.yml"
    topo.write_text(topology(args.side))
    subprocess.run([*bench.NSPROV, "lab", "up", "--hosts", "3", "--dir", str(lab)], check=True, capture_output=True)
    samples: dict = {"nsprov": [], "shell": [], "ipbatch": []}
    try:
        inv = yaml.safe_load((lab / "inventory.yml").read_text())
        hosts = next(iter(inv["all"]["children"].values()))["hosts"] if "children" in inv["all"] else inv["all"]["hosts"]
        underlay = {h: hosts[h]["ansible_host"] for h in HOSTS}
        for i in range(args.repeat):
            samples["nsprov"].append(nsprov_round(lab, topo))
            samples["shell"].append(script_round(lab, args.side, underlay, batch=False))
            samples["ipbatch"].append(script_round(lab, args.side, underlay, batch=True))
            print(f"round {i + 1}: " + ", ".join(f"{k} " + " ".join(f"{p}={v[-1][p]:.2f}" for p in ("W", "R", "T")
                                                                      if p in v[-1]) for k, v in samples.items()),
                  flush=True)
    finally:
        subprocess.run([*bench.NSPROV, "destroy", "-i", str(lab / "inventory.yml"), str(topo)], capture_output=True)
        subprocess.run([*bench.NSPROV, "lab", "down", "--dir", str(lab)], capture_output=True)
    report = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": os.uname().release, "cpus": os.cpu_count(),
              "side": args.side, "links": 2 * args.side ** 2, "samples": samples}
    rows = ["| tool | W (deploy) | R (re-run) | T (destroy) |", "|---|---|---|---|"]
    for tool, runs in samples.items():
        cells = []
        for p in ("W", "R", "T"):
            values = [x[p] for x in runs if p in x]
            cells.append(f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})" if values else "-")
        rows.append(f"| {tool} | " + " | ".join(cells) + " |")
    changed = sorted({x["R_changed"] for x in samples["nsprov"]})
    table = "\n".join(rows) + f"\n\nnsprov's re-runs changed {changed} task(s); medians of {args.repeat} rounds.\n"
    (out / "torus.json").write_text(json.dumps(report, indent=1))
    (out / "torus.md").write_text(table)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
