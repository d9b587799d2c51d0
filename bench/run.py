#!/usr/bin/env python3
"""nsprov against the fastest CLI way and against Ansible, on a local lab host.

    sudo .venv/bin/python bench/run.py                       # N = 10, 100, 500; 3 rounds; all tools
    sudo .venv/bin/python bench/run.py --sizes 100 --repeat 5 --tools nsprov,ipbatch
    sudo .venv/bin/python bench/run.py --fanout              # + 50 hosts x 20 netns against 1 x 20
    sudo .venv/bin/python bench/run.py --sizes '' --controller-cpu 50,200   # the controller's CPU a host

Workload W(N): a bridge; N network namespaces, each with lo up, a veth on the bridge, an address
and a default route; one nft masquerade rule; ip_forward. R(N): the same desired state again on
the finished state. T(N): teardown. Tools take turns (A B A B ...) within each round; the
report gives medians, min-max and ratios, as JSON and a markdown table (bench/results/).

Tools:
  nsprov   `nsprov run -i INV bench/workload.yml -e n=N` (and `nsprov destroy`) as a user runs it:
           its console output on a terminal (a pseudo-terminal of 120x40 the harness reads)
  nsprov-json  the same with --json, its output on a pipe
  ipbatch  one ssh call running `ip -batch` scripts (the fastest CLI way; `-force` on R)
  nsprov-ssh, ipbatch-ssh  the same two over OpenSSH with its connection kept open between
           runs (ControlPersist): what a user's second run pays, with no key exchange
  ansible  ansible-core in its own venv (bench/.venv-ansible), pipelining, command tasks with
           `creates` guards; N above --ansible-max is skipped (it takes minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NSPROV = [sys.executable, "-m", "nsprov.cli"]


def sh(argv: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def timed_on_terminal(argv: list) -> float:
    """ARGV's wall time with its stdout and stderr on a pseudo-terminal (what a user's terminal
    is), everything it prints read as it comes."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
    env.pop("NO_COLOR", None)
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:   # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        out += chunk
    rc = proc.wait()
    took = time.perf_counter() - began
    os.close(master)
    if rc != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))[:200]} exited {rc}:\n{out[-3000:].decode(errors='replace')}")
    return took


def timed(argv: list, stdin: str | None = None, env: dict | None = None) -> float:
    began = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))[:200]} exited {proc.returncode}:\n"
                           f"{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")
    return took


# ------------------------------------------------------------------ the tools
TIMED = list(NSPROV)     # the nsprov that is timed: main() sets it to the installed one


class Nsprov:
    """nsprov as a user runs it (console on a terminal), or with --json on a pipe (AS_JSON);
    OPENSSH: over OpenSSH (`ansible_connection: ssh`), whose connection a run leaves open
    (ControlPersist) for the next, instead of paramiko's new connection each run."""

    def __init__(self, lab: Path, limit: str = "lab1", forks: int = 10, as_json: bool = False,
                 openssh: bool = False):
        self.inv, self.limit, self.forks, self.as_json = str(lab / "inventory.yml"), limit, forks, as_json
        self.name = "nsprov-json" if as_json else "nsprov-ssh" if openssh else "nsprov"
        if openssh:
            doc = yaml.safe_load((lab / "inventory.yml").read_text())
            doc["all"].setdefault("vars", {})["ansible_connection"] = "ssh"
            self.inv = str(lab / "inventory-openssh.yml")
            Path(self.inv).write_text(yaml.safe_dump(doc))
            self.W(1)           # the connection the timed runs reuse, as a user's second run would
            self.T(1)

    def _run(self, verb: str, n: int) -> float:
        argv = [*TIMED, verb, "-i", self.inv, str(HERE / "workload.yml"), "-e", f"n={n}", "--limit",
                self.limit, "--forks", str(self.forks)]
        return timed([*argv, "--json"]) if self.as_json else timed_on_terminal(argv)

    def W(self, n: int) -> float:
        return self._run("run", n)

    def R(self, n: int) -> float:
        return self._run("run", n)

    def T(self, n: int) -> float:
        return self._run("destroy", n)


def _addr(i: int) -> str:
    return f"10.240.{(i + 2) // 254}.{(i + 2) % 254 + 1}/16"


def _host_pids(lab: Path) -> dict:
    """{host: PID 1 of the lab host (its sshd)}, from the lab's own state file."""
    from nsprov.lab.files import LabState
    return {name: rec.pid for name, rec in LabState.load(lab / "state.json").hosts.items()}


class IpBatch:
    """REUSE: over one OpenSSH master connection kept open (ControlPersist), as nsprov-ssh's."""

    def __init__(self, lab: Path, host: str = "lab1", local: bool = False, reuse: bool = False):
        self.name = "ipbatch-ssh" if reuse else "ipbatch"
        keep = ["-o", "ControlMaster=auto", "-o", f"ControlPath={lab}/cm-%C", "-o", "ControlPersist=300"]
        self.ssh = ["ssh", "-F", str(lab / "ssh_config"), *(keep if reuse else []), host, "sh", "-s"]
        if reuse:
            timed(self.ssh, stdin="true\n")     # the master the timed runs reuse
        if local:   # the same scripts without SSH: a shell entered into the host's namespaces
            self.ssh = ["nsenter", "-t", str(_host_pids(lab)[host]), "-a", "sh", "-s"]

    def script(self, n: int, force: bool) -> str:
        f = "-force " if force else ""
        host = ["link add bbr0 type bridge", "link set bbr0 up", "addr add 10.240.0.1/16 dev bbr0"]
        for i in range(n):
            host += [f"netns add b{i}", f"link add bv{i} type veth peer name eth0 netns b{i}",
                     f"link set bv{i} master bbr0 up"]
        lines = ["ip %s-batch - <<'EOF'" % f, *host, "EOF"]
        for i in range(n):
            lines += [f"ip -n b{i} {f}-batch - <<'EOF'", "link set lo up", "link set eth0 up",
                      f"addr add {_addr(i)} dev eth0", "route add default via 10.240.0.1", "EOF"]
        lines += ["sysctl -qw net.ipv4.ip_forward=1",
                  "nft -f - <<'EOF'",
                  "table ip ipbatch",
                  "delete table ip ipbatch",
                  "table ip ipbatch { chain post { type nat hook postrouting priority 100; "
                  "ip saddr 10.240.0.0/16 oifname \"eth0\" masquerade; }; }",
                  "EOF"]
        return "\n".join(lines) + "\n" + ("true\n" if force else "")

    def W(self, n: int) -> float:
        return timed(self.ssh, stdin="set -e\n" + self.script(n, force=False))

    def R(self, n: int) -> float:
        return timed(self.ssh, stdin=self.script(n, force=True))

    def T(self, n: int) -> float:
        """Until the host lists none of the objects: `ip netns del` returns before the kernel has
        freed the namespaces' devices (their veth ends here stay listed meanwhile), and a run
        started then would meet them."""
        lines = ["ip -force -batch - <<'EOF'", *[f"netns del b{i}" for i in range(n)], "link del bbr0", "EOF",
                 "nft delete table ip ipbatch", "sysctl -qw net.ipv4.ip_forward=0",
                 "while ip -o link show | grep -q ' bv[0-9]*@'; do sleep 0.005; done"]
        return timed(self.ssh, stdin="\n".join(lines) + "\n")


ANSIBLE_PLAYBOOK = """\
- hosts: lab1
  gather_facts: false
  tasks:
    - command: ip link add bbr0 type bridge
      args: {creates: /sys/class/net/bbr0}
    - command: ip link set bbr0 up
    - command: ip addr replace 10.240.0.1/16 dev bbr0
    - command: ip netns add b{{ item }}
      args: {creates: "/run/netns/b{{ item }}"}
      loop: "{{ range(n | int) | list }}"
    - command: ip link add bv{{ item }} type veth peer name eth0 netns b{{ item }}
      args: {creates: "/sys/class/net/bv{{ item }}"}
      loop: "{{ range(n | int) | list }}"
    - command: ip link set bv{{ item }} master bbr0 up
      loop: "{{ range(n | int) | list }}"
    - command: ip -n b{{ item }} link set lo up
      loop: "{{ range(n | int) | list }}"
    - command: ip -n b{{ item }} link set eth0 up
      loop: "{{ range(n | int) | list }}"
    - command: ip -n b{{ item }} addr replace 10.240.{{ (item + 2) // 254 }}.{{ (item + 2) % 254 + 1 }}/16 dev eth0
      loop: "{{ range(n | int) | list }}"
    - command: ip -n b{{ item }} route replace default via 10.240.0.1
      loop: "{{ range(n | int) | list }}"
    - command: sysctl -qw net.ipv4.ip_forward=1
    - shell: |
        nft -f - <<'EOF'
        table ip ansible
        delete table ip ansible
        table ip ansible { chain post { type nat hook postrouting priority 100; ip saddr 10.240.0.0/16 oifname "eth0" masquerade; }; }
        EOF
"""

ANSIBLE_TEARDOWN = """\
- hosts: lab1
  gather_facts: false
  tasks:
    - command: ip netns del b{{ item }}
      args: {removes: "/run/netns/b{{ item }}"}
      loop: "{{ range(n | int) | list }}"
    - command: ip link del bbr0
      args: {removes: /sys/class/net/bbr0}
    - command: nft delete table ip ansible
    - command: sysctl -qw net.ipv4.ip_forward=0
"""


class Ansible:
    name = "ansible"

    def __init__(self, lab: Path, work: Path):
        venv = HERE / ".venv-ansible"
        if not (venv / "bin" / "ansible-playbook").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "ansible-core"], check=True)
        self.exe = str(venv / "bin" / "ansible-playbook")
        work.mkdir(parents=True, exist_ok=True)
        (work / "apply.yml").write_text(ANSIBLE_PLAYBOOK)
        (work / "teardown.yml").write_text(ANSIBLE_TEARDOWN)
        host = yaml.safe_load((lab / "inventory.yml").read_text())["all"]["children"]["lab"]["hosts"]["lab1"]
        (work / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"lab1": {
            "ansible_host": host["ansible_host"], "ansible_user": "root",
            "ansible_ssh_private_key_file": host["ansible_ssh_private_key_file"],
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={host['nsprov_known_hosts']} "
                                       f"-o StrictHostKeyChecking=yes -o ControlMaster=auto "
                                       f"-o ControlPersist=60s -o ControlPath={work}/cm-%C"}}}}))
        self.work = work
        self.env = {**os.environ, "ANSIBLE_PIPELINING": "1", "ANSIBLE_HOST_KEY_CHECKING": "True",
                    "ANSIBLE_LOCAL_TEMP": str(work / "tmp"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORKS": "1"}

    def _play(self, book: str, n: int) -> float:
        return timed([self.exe, "-i", str(self.work / "hosts.yml"), str(self.work / book), "-e", f"n={n}"],
                     env=self.env)

    def W(self, n: int) -> float:
        return self._play("apply.yml", n)

    def R(self, n: int) -> float:
        return self._play("apply.yml", n)

    def T(self, n: int) -> float:
        return self._play("teardown.yml", n)

    def close(self, lab: Path) -> None:
        sh(["ssh", "-o", f"ControlPath={self.work}/cm-%C", "-O", "exit", "-F", str(lab / "ssh_config"), "lab1"])


# ------------------------------------------------------------------ the harness
def summary(samples: list) -> dict:
    return {"median": round(statistics.median(samples), 3), "min": round(min(samples), 3),
            "max": round(max(samples), 3), "n": len(samples)}


def run_matrix(tools: list, sizes: list, repeat: int, ansible_max: int, samples: Path) -> None:
    """Measure, appending every sample to SAMPLES (JSON lines) as soon as it is taken."""
    for n in sizes:
        for r in range(repeat):
            for tool in tools:   # A B A B: every tool once per round
                if tool.name == "ansible" and (n > ansible_max or r >= max(1, repeat // 3)):
                    continue
                for phase in ("W", "R", "T"):
                    took = getattr(tool, phase)(n)
                    with samples.open("a") as f:
                        f.write(json.dumps({"key": f"{phase}({n})", "tool": tool.name, "seconds": took}) + "\n")
                    print(f"  {tool.name:8} {phase}({n}) round {r + 1}: {took:.3f} s", flush=True)


def load_matrix(samples: Path) -> dict:
    results: dict = {}
    for line in samples.read_text().splitlines():
        s = json.loads(line)
        results.setdefault(s["key"], {}).setdefault(s["tool"], []).append(s["seconds"])
    return {k: {t: summary(v) for t, v in d.items()} for k, d in results.items()}


def _busy_cpu() -> float:
    """CPU seconds all cores of this machine have spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    """CPU seconds of our waited-for children, to the microsecond (os.times counts 10 ms ticks)."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _metered(fn) -> dict:
    """Run FN; its wall time, the machine's busy CPU during it, and our children's CPU."""
    busy0, kids0 = _busy_cpu(), _children_cpu()
    wall = fn()
    busy1, kids1 = _busy_cpu(), _children_cpu()
    return {"wall": wall, "machine_cpu": busy1 - busy0, "controller_cpu": kids1 - kids0}


def _ipbatch_fan(lab: Path, hosts: int, n: int, verb: str, local: bool = False) -> float:
    """One `ip -batch` ssh call per host, all at once (the fastest CLI way, fanned out); LOCAL:
    the same scripts run in each host's namespaces without SSH (the kernel's and ip's work only)."""
    import concurrent.futures
    tools = [IpBatch(lab, f"lab{i}", local) for i in range(1, hosts + 1)]
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(hosts) as pool:
        list(pool.map(lambda t: getattr(t, verb)(n), tools))
    return time.perf_counter() - began


def _settle(lab: Path, hosts: int) -> None:
    """Untimed, between fan-out cases: wait until the kernel has freed every veth of the last
    teardown (`ip netns del` returns before the namespace is gone, and its veth goes with it:
    the next `link add bv0` would meet it) and the machine is idle again, so that no case pays
    for the asynchronous cleanup of the one before."""
    pids = [str(pid) for pid in _host_pids(lab).values()][:hosts]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        links = [sh(["nsenter", "-t", pid, "-n", "ip", "-o", "link", "show"]).stdout for pid in pids]
        if not any(" bv" in out for out in links):
            break
        time.sleep(0.2)
    else:
        raise RuntimeError("veths of the last teardown still present after 120 s")
    while time.monotonic() < deadline:
        busy = _busy_cpu()
        time.sleep(0.25)
        if _busy_cpu() - busy < 0.05:
            return


def fanout(hosts: int, n: int, repeat: int) -> dict:
    """nsprov and ip-batch, 1 host x N against HOSTS x N; with the CPU each took.

    The lab hosts run on this machine's cores, so HOSTS x N costs HOSTS times the hosts' own
    CPU (sshd, the agent or ip, the kernel's work) whatever the controller does. `machine_cpu /
    cores` is therefore a floor no tool can go under here; the report gives it with each time.
    Two more cases say what is whose: `kernel only` runs ip-batch's scripts in each host's
    namespaces without SSH (the hosts' kernel work alone; with HOSTS at once, the least any tool
    could take here), and nsprov with --forks 1 takes the hosts one at a time, so its
    controller CPU is the controller's own cost without the hosts competing for the cores."""
    lab = HERE / ".lab-fanout"
    sh([*NSPROV, "lab", "up", "--hosts", str(hosts), "--dir", str(lab)])
    try:
        one, many = Nsprov(lab, "lab1", hosts, as_json=True), Nsprov(lab, "lab", hosts, as_json=True)
        serial = Nsprov(lab, "lab", 1, as_json=True)
        cases = {
            "nsprov 1 host": (lambda: one.W(n), lambda: one.T(n)),
            f"nsprov {hosts} hosts": (lambda: many.W(n), lambda: many.T(n)),
            # the controller's CPU for all hosts without them competing with it for the cores
            f"nsprov {hosts} hosts one at a time (--forks 1)": (lambda: serial.W(n), lambda: serial.T(n)),
            "ipbatch 1 host": (lambda: _ipbatch_fan(lab, 1, n, "W"), lambda: _ipbatch_fan(lab, 1, n, "T")),
            f"ipbatch {hosts} hosts": (lambda: _ipbatch_fan(lab, hosts, n, "W"),
                                       lambda: _ipbatch_fan(lab, hosts, n, "T")),
            # no SSH, no controller: what the hosts' kernel work alone costs on this machine
            "kernel only 1 host": (lambda: _ipbatch_fan(lab, 1, n, "W", local=True),
                                   lambda: _ipbatch_fan(lab, 1, n, "T", local=True)),
            f"kernel only {hosts} hosts": (lambda: _ipbatch_fan(lab, hosts, n, "W", local=True),
                                           lambda: _ipbatch_fan(lab, hosts, n, "T", local=True)),
        }
        samples: dict = {k: [] for k in cases}
        for r in range(repeat):
            for key, (build, teardown) in cases.items():
                samples[key].append(_metered(build))
                teardown()
                _settle(lab, hosts)
            print(f"  fan-out round {r + 1}: " + ", ".join(f"{k} {v[-1]['wall']:.3f} s" for k, v in samples.items()),
                  flush=True)
        cores = os.cpu_count() or 1
        out = {}
        for key, runs in samples.items():
            s = summary([x["wall"] for x in runs])
            s["machine_cpu"] = round(statistics.median(x["machine_cpu"] for x in runs), 3)
            s["cpu_floor"] = round(s["machine_cpu"] / cores, 3)
            # kernel only has no controller: its children (nsenter, sh, ip) are the hosts' work
            s["controller_cpu"] = (None if key.startswith("kernel only") else
                                   round(statistics.median(x["controller_cpu"] for x in runs), 3))
            out[key] = s
        return out
    finally:
        sh([*NSPROV, "lab", "down", "--dir", str(lab)])


def controller_cpu(counts: list, n: int, repeat: int) -> dict:
    """The controller's own CPU per host: nsprov --json --forks 1 (one host at a time, so the
    lab hosts never compete with it for the cores) on 1 host and on each of COUNTS hosts, W, R
    and T of N netns each; per host = (CPU at H hosts - CPU at 1) / (H - 1), medians of REPEAT.
    The lab hosts' own work (sshd, the agent, the kernel) is theirs, not in these figures."""
    lab = HERE / ".lab-cpu"
    sh([*NSPROV, "lab", "up", "--hosts", str(max(counts)), "--dir", str(lab)])
    out: dict = {}
    try:
        for hosts in [1, *counts]:
            argv = lambda verb: [*TIMED, verb, "-i", str(lab / "inventory.yml"), str(HERE / "workload.yml"),
                                 "-e", f"n={n}", "--forks", "1", "--json", "--limit",
                                 ",".join(f"lab{i}" for i in range(1, hosts + 1))]
            runs: dict = {"W": [], "R": [], "T": []}
            for _ in range(repeat):
                for key, verb in (("W", "run"), ("R", "run"), ("T", "destroy")):
                    runs[key].append(_metered(lambda: timed(argv(verb))))
            out[hosts] = {k: {"wall": round(statistics.median(x["wall"] for x in v), 3),
                              "cpu": round(statistics.median(x["controller_cpu"] for x in v), 4)}
                          for k, v in runs.items()}
            print(f"  controller CPU, {hosts} host(s): " +
                  ", ".join(f"{k} {v['cpu']:.3f} s" for k, v in out[hosts].items()), flush=True)
        for hosts in counts:
            for k in ("W", "R", "T"):
                out[hosts][k]["per_host_ms"] = round((out[hosts][k]["cpu"] - out[1][k]["cpu"]) / (hosts - 1) * 1000, 2)
        return {"n": n, "hosts": out}
    finally:
        sh([*NSPROV, "lab", "down", "--dir", str(lab)])


def markdown(matrix: dict, fan: dict | None, cpu: dict | None = None) -> str:
    known = ["nsprov", "nsprov-json", "ipbatch", "nsprov-ssh", "ipbatch-ssh", "ansible"]
    tools = sorted({t for d in matrix.values() for t in d}, key=known.index)
    lines = ["| workload | " + " | ".join(f"{t} median (min-max) s" for t in tools) +
             " | nsprov / ipbatch | nsprov-json / ipbatch | nsprov-ssh / ipbatch-ssh | ansible / nsprov |",
             "|---|" + "---|" * (len(tools) + 4)] if matrix else []
    order = sorted(matrix, key=lambda k: (int(k[2:-1]), "WRT".index(k[0])))
    for key in order:
        d = matrix[key]
        cells = [f"{d[t]['median']} ({d[t]['min']}-{d[t]['max']})" if t in d else "-" for t in tools]
        ratio_ip = f"{d['nsprov']['median'] / d['ipbatch']['median']:.2f}" if {"nsprov", "ipbatch"} <= set(d) else "-"
        ratio_js = (f"{d['nsprov-json']['median'] / d['ipbatch']['median']:.2f}" if {"nsprov-json", "ipbatch"} <= set(d)
                    else "-")
        ratio_ssh = (f"{d['nsprov-ssh']['median'] / d['ipbatch-ssh']['median']:.2f}"
                     if {"nsprov-ssh", "ipbatch-ssh"} <= set(d) else "-")
        ratio_an = f"{d['ansible']['median'] / d['nsprov']['median']:.0f}x" if {"nsprov", "ansible"} <= set(d) else "-"
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {ratio_ip} | {ratio_js} | {ratio_ssh} | {ratio_an} |")
    if fan:
        lines += ["", f"| fan-out (W, 20 netns per host; {os.cpu_count()} cores) | median (min-max) s | "
                      "machine CPU s | floor = CPU / cores s | controller CPU s |", "|---|---|---|---|---|"]
        lines += [f"| {k} | {v['median']} ({v['min']}-{v['max']}) | {v.get('machine_cpu', '-')} | "
                  f"{v.get('cpu_floor', '-')} | {v.get('controller_cpu') or '-'} |" for k, v in fan.items()]
        for tool in ("nsprov", "ipbatch", "kernel only"):
            keys = [k for k in fan if k.startswith(tool) and "one at a time" not in k]
            if len(keys) == 2:
                lines.append(f"| {tool}: many / one | {fan[keys[1]]['median'] / fan[keys[0]]['median']:.2f} | | | |")
        one, floor = fan.get("nsprov 1 host"), [v for k, v in fan.items() if k.startswith("kernel only") and
                                                 not k.endswith(" 1 host")]
        if one and floor:
            # the hosts' kernel work alone (no SSH, no Python, no controller) against nsprov's whole
            # one-host run: no tool can fan out below this ratio on this machine
            lines.append(f"| kernel only, many / nsprov one | {floor[0]['median'] / one['median']:.2f} | | | |")
    if cpu:
        lines += ["", f"| controller CPU, --forks 1, {cpu['n']} netns a host | W s (ms/host) | R s (ms/host) | "
                      "T s (ms/host) | wall W s |", "|---|---|---|---|---|"]
        for hosts, v in cpu["hosts"].items():
            cells = [f"{v[k]['cpu']}" + (f" ({v[k]['per_host_ms']})" if "per_host_ms" in v[k] else "") for k in "WRT"]
            lines.append(f"| {hosts} host(s) | " + " | ".join(cells) + f" | {v['W']['wall']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,100,500", help="'' for none (with --resume --fanout: fan-out only)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tools", default="nsprov,nsprov-json,ipbatch,ansible")
    ap.add_argument("--ansible-max", type=int, default=100)
    ap.add_argument("--fanout", action="store_true", help="also 50 hosts x 20 netns against 1 host x 20")
    ap.add_argument("--controller-cpu", default="", metavar="H,H",
                    help="also the controller's CPU per host at H lab hosts (--forks 1), e.g. 50,200")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--resume", action="store_true", help="keep the samples of earlier runs (samples.jsonl)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/run.py needs root (lab hosts): sudo .venv/bin/python bench/run.py", file=sys.stderr)
        return 2
    # time nsprov as a user installs it: pip install of this tree into the bench's own venv
    # (byte-compiled, no editable import hook; installed.py says why)
    import installed
    global TIMED
    TIMED = installed.command(installed.install())
    lab = HERE / ".lab"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    samples = out / "samples.jsonl"
    if not args.resume:
        samples.write_text("")
    subprocess.run([*NSPROV, "lab", "up", "--hosts", "1", "--dir", str(lab)], check=True, capture_output=True)
    tools, ansible = [], None
    try:
        for name in args.tools.split(","):
            if name in ("nsprov", "nsprov-json", "nsprov-ssh"):
                tools.append(Nsprov(lab, as_json=name == "nsprov-json", openssh=name == "nsprov-ssh"))
            elif name in ("ipbatch", "ipbatch-ssh"):
                tools.append(IpBatch(lab, reuse=name == "ipbatch-ssh"))
            elif name == "ansible":
                ansible = Ansible(lab, out / "ansible")
                tools.append(ansible)
        run_matrix(tools, [int(s) for s in args.sizes.split(",") if s], args.repeat, args.ansible_max, samples)
        fan = fanout(50, 20, args.repeat) if args.fanout else None
        cpu = (controller_cpu([int(h) for h in args.controller_cpu.split(",")], 20, args.repeat)
               if args.controller_cpu else None)
    finally:
        if ansible:
            ansible.close(lab)
        subprocess.run([*NSPROV, "lab", "down", "--dir", str(lab)], capture_output=True)
    matrix = load_matrix(samples)
    if fan is None and (out / "bench.json").exists() and args.resume:
        fan = json.loads((out / "bench.json").read_text()).get("fanout")
    report = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": os.uname().release, "cpus": os.cpu_count(),
              "matrix": matrix, "fanout": fan, "controller_cpu": cpu}
    (out / "bench.json").write_text(json.dumps(report, indent=1))
    table = markdown(matrix, fan, cpu)
    (out / "bench.md").write_text(table)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
