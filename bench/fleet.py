#!/usr/bin/env python3
"""A fleet: W(N) (bench/workload.yml, N=10 by default) and its teardown on H lab hosts at once,
for each H given, against ip-batch fanned out the same way and against the hosts' kernel work
alone.

    sudo .venv/bin/python bench/fleet.py --hosts 50,200 --repeat 5
    sudo .venv/bin/python bench/fleet.py --hosts 50 --repeat 1 --ansible     # + Ansible, forks=50

The lab hosts are namespace sets on this machine, so they share its cores with the controller:
H hosts' own work (sshd, the remote Python, the kernel) is done on the same 2 cores whatever the
controller does. The floor is the machine's busy CPU during a run divided by its cores: no tool
finishes before the machine has done the work. Per case and H, medians (min-max) of REPEAT
rounds, the tools taking turns within a round:
  nsprov H        nsprov run --forks H --json over paramiko (as installed by pip), and destroy
  ipbatch H       one `ip -batch` ssh call per host, all H at once (H threads)
  kernel only H   ip-batch's scripts in each host's namespaces by nsenter: no SSH, no Python
  ansible H       ansible-playbook with forks=50 (ansible-core, pipelining; --ansible, H <= 50)
with, for nsprov, the controller's CPU (all its threads) and its peak memory (max RSS), and for
each H the memory the lab hosts take (the machine's used memory, before and after they are up).
Writes bench/results/fleet.{json,md} (with --ansible: fleet-ansible.{json,md}).
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

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # noqa: E402  (the harness's timers, tools and installed nsprov)

N = 10          # --n


def used_mb() -> float:
    """The machine's used memory (MemTotal - MemAvailable), MB."""
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            info[k] = int(v.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


def run_measured(argv: list, env: dict | None = None) -> dict:
    """ARGV's wall time, its own CPU and peak memory (os.wait4 on it alone), and the machine's
    busy CPU meanwhile."""
    busy = bench._busy_cpu()
    began = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.PIPE, env=env)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))[:200]} failed: {err[-1500:].decode(errors='replace')}")
    return {"wall": wall, "machine_cpu": bench._busy_cpu() - busy, "controller_cpu": usage.ru_utime + usage.ru_stime,
            "controller_rss_mb": usage.ru_maxrss / 1024}


def machine_measured(fn) -> dict:
    busy = bench._busy_cpu()
    wall = fn()
    return {"wall": wall, "machine_cpu": bench._busy_cpu() - busy}


class AnsibleFleet:
    """ansible-playbook on H lab hosts with forks=50: the bench's Ansible workload, every host."""

    def __init__(self, lab: Path, hosts: int, work: Path):
        self.one = bench.Ansible(lab, work)         # its venv and playbooks (written for lab1)
        for book in ("apply.yml", "teardown.yml"):
            text = (work / book).read_text().replace("- hosts: lab1", "- hosts: all")
            (work / book).write_text(text)
        doc = yaml.safe_load((work / "hosts.yml").read_text())
        inv = yaml.safe_load((lab / "inventory.yml").read_text())["all"]["children"]["lab"]["hosts"]
        template = doc["all"]["hosts"]["lab1"]
        doc["all"]["hosts"] = {h: {**template, "ansible_host": inv[h]["ansible_host"]}
                               for h in (f"lab{i}" for i in range(1, hosts + 1))}
        (work / "hosts.yml").write_text(yaml.safe_dump(doc))
        self.env = {**self.one.env, "ANSIBLE_FORKS": "50"}
        self.argv = lambda book: [self.one.exe, "-i", str(work / "hosts.yml"), str(work / book), "-e", f"n={N}"]

    def W(self) -> dict:
        return run_measured(self.argv("apply.yml"), self.env)

    def T(self) -> dict:
        return run_measured(self.argv("teardown.yml"), self.env)


def cases(lab: Path, hosts: int, ansible: bool) -> dict:
    """{case: (build, teardown)}: each build returns its measures."""
    inv = str(lab / "inventory.yml")
    argv = lambda verb: [*bench.TIMED, verb, "-i", inv, str(HERE / "workload.yml"), "-e", f"n={N}", "--limit", "lab",
                         "--forks", str(hosts), "--json"]
    out = {
        f"nsprov {hosts}": (lambda: run_measured(argv("run")), lambda: run_measured(argv("destroy"))),
        f"ipbatch {hosts}": (lambda: machine_measured(lambda: bench._ipbatch_fan(lab, hosts, N, "W")),
                             lambda: bench._ipbatch_fan(lab, hosts, N, "T")),
        f"kernel only {hosts}": (lambda: machine_measured(lambda: bench._ipbatch_fan(lab, hosts, N, "W", local=True)),
                                 lambda: bench._ipbatch_fan(lab, hosts, N, "T", local=True)),
    }
    if ansible:
        fleet = AnsibleFleet(lab, hosts, HERE / "results" / "ansible-fleet")
        out[f"ansible {hosts} (forks=50)"] = (fleet.W, fleet.T)
    return out


def fleet(hosts: int, repeat: int, ansible: bool) -> dict:
    lab = HERE / ".lab-fleet"
    before = used_mb()
    began = time.perf_counter()
    bench.sh([*bench.NSPROV, "lab", "up", "--hosts", str(hosts), "--dir", str(lab)], check=True)
    up_s = time.perf_counter() - began
    time.sleep(2)
    lab_mb = used_mb() - before
    try:
        todo = cases(lab, hosts, ansible)
        samples: dict = {k: [] for k in todo}
        for r in range(repeat):
            for key, (build, teardown) in todo.items():
                samples[key].append(build())
                teardown()
                bench._settle(lab, hosts)
            print(f"  {hosts} hosts, round {r + 1}: " +
                  ", ".join(f"{k} {v[-1]['wall']:.2f} s" for k, v in samples.items()), flush=True)
        out = {"hosts": hosts, "lab_up_s": round(up_s, 1), "lab_hosts_mb": round(lab_mb),
               "lab_host_mb": round(lab_mb / hosts, 1), "cases": {}}
        for key, runs in samples.items():
            s = bench.summary([x["wall"] for x in runs])
            s["machine_cpu"] = round(statistics.median(x["machine_cpu"] for x in runs), 2)
            s["floor"] = round(s["machine_cpu"] / (os.cpu_count() or 1), 2)
            for k in ("controller_cpu", "controller_rss_mb"):
                if k in runs[0]:
                    s[k] = round(statistics.median(x[k] for x in runs), 3 if k == "controller_cpu" else 1)
            out["cases"][key] = s
        return out
    finally:
        bench.sh([*bench.NSPROV, "lab", "down", "--dir", str(lab)])


def markdown(results: list) -> str:
    cores = os.cpu_count()
    lines = [f"| W({N}) on H hosts ({cores} cores) | wall s, median (min-max) | machine CPU s | floor = CPU / {cores} s "
             "| wall / floor | controller CPU s (ms a host) | controller max RSS MB |", "|---|---|---|---|---|---|---|"]
    for r in results:
        h = r["hosts"]
        for key, s in r["cases"].items():
            cpu = (f"{s['controller_cpu']} ({s['controller_cpu'] / h * 1000:.1f})" if "controller_cpu" in s else "-")
            lines.append(f"| {key} | {s['median']} ({s['min']}-{s['max']}) | {s['machine_cpu']} | {s['floor']} | "
                         f"{s['median'] / s['floor']:.2f} | {cpu} | {s.get('controller_rss_mb', '-')} |")
        ns, ip = r["cases"].get(f"nsprov {h}"), r["cases"].get(f"ipbatch {h}")
        if ns and ip:
            lines.append(f"| nsprov / ipbatch, {h} hosts | {ns['median'] / ip['median']:.2f} | | | | | |")
        an = next((s for k, s in r["cases"].items() if k.startswith("ansible")), None)
        if ns and an:
            lines.append(f"| ansible / nsprov, {h} hosts | {an['median'] / ns['median']:.0f}x | | | | | |")
    lines += ["", "| H lab hosts | lab up s | their memory MB | MB a host |", "|---|---|---|---|"]
    lines += [f"| {r['hosts']} | {r['lab_up_s']} | {r['lab_hosts_mb']} | {r['lab_host_mb']} |" for r in results]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", default="50,200")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--n", type=int, default=10, help="namespaces a host")
    ap.add_argument("--ansible", action="store_true", help="also Ansible with forks=50 (at H <= 50)")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/fleet.py needs root (lab hosts)", file=sys.stderr)
        return 2
    global N
    N = args.n
    import installed
    bench.TIMED = installed.command(installed.install())
    results = [fleet(h, args.repeat, args.ansible and h <= 50) for h in (int(x) for x in args.hosts.split(","))]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "machine": os.uname().release,
              "cpus": os.cpu_count(), "n": N, "repeat": args.repeat, "fleet": results}
    stem = "fleet-ansible" if args.ansible else "fleet"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1))
    table = markdown(results)
    (out / f"{stem}.md").write_text(f"{report['when']}, kernel {report['machine']}, {report['cpus']} cores, "
                                  f"medians of {args.repeat} rounds\n\n" + table)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
