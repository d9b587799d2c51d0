"""Fault injection on lab hosts: cut a run at a random instant and check nothing leaks.

Used by tests/faults (a few of each kind) and bench/faults.py (a randomized campaign). Every
fault hits processes and links this lab made, found by what they run, ended by PID.

After each fault: re-run until the playbook converges (a run that exits 0, then one with 0
changed), `nsprov destroy`, and compare the host with its state before: every object nsprov
made must be gone (leaks), and the foreign look-alikes planted before must be untouched.
"""

from __future__ import annotations

import json
import os
import random
import signal
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from nsprov.lab.hosts import Lab

HUNG = -999      # exit status recorded for a run that did not end within 120 s (killed by us)
KINDS = ("agent-kill", "session-kill", "link-cut", "host-kill", "failing-task", "disk-full", "concurrent")

WORKLOAD = """\
# the faults workload: a bridge, {n} namespaces on it, routes, NAT, and a namespace set with a process
- hosts: {host}
  tasks:
    - bridge: {{name: fbr0, addresses: [10.250.0.1/16]}}
    - netns: {{name: "f{{{{ item }}}}"}}
      loop: "{{{{ range({n}) | list }}}}"
    - veth:
        name: "fv{{{{ item }}}}"
        bridge: fbr0
        peer: eth0
        peer_netns: "f{{{{ item }}}}"
        peer_addresses: ["10.250.{{{{ item // 250 }}}}.{{{{ item % 250 + 2 }}}}/16"]
      loop: "{{{{ range({n}) | list }}}}"
    - route: {{netns: "f{{{{ item }}}}", to: default, via: 10.250.0.1}}
      loop: "{{{{ range({n}) | list }}}}"
    - sysctl: {{name: net.ipv4.ip_forward, value: 1}}
    - nat: {{source: 10.250.0.0/16, out_interface: eth0}}
    - namespace: {{name: fbox, kinds: [uts, ipc, pid, mnt, net], hostname: fbox}}
    - process: {{name: fbox-sleep, namespace: fbox, command: [sleep, infinity]}}
{extra}"""

FAILING_TASK = "    - route: {netns: f0, to: 10.251.0.0/24, via: 10.99.99.1}   # unreachable gateway: fails\n"


def _kill(pid: int) -> None:
    """SIGKILL a process this lab run started (found by its argv in the lab host), by PID."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class Outcome:
    kind: str
    delay: float
    first_exit: int
    reruns: int = 0
    converged: bool = False
    leaked: list = field(default_factory=list)
    foreign_touched: list = field(default_factory=list)
    detail: str = ""        # the last failed re-run's output, for the report


class FaultLab:
    def __init__(self, directory: Path, host: str = "lab1"):
        self.lab = Lab(directory)
        self.dir = Path(directory)
        self.host = host
        self.inventory = str(self.dir / "inventory.yml")

    # ------------------------------------------------------------ plumbing
    def ssh(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(["ssh", "-F", str(self.dir / "ssh_config"), "-o", "ConnectTimeout=5", self.host, "--",
                               shlex.join(argv)], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{self.host}: {' '.join(argv)}: {proc.stderr.strip()}")
        return proc

    def nsprov(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nsprov.cli", *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def write_playbook(self, path: Path, n: int, failing: bool = False) -> str:
        path.write_text(WORKLOAD.format(n=n, host=self.host, extra=FAILING_TASK if failing else ""))
        return str(path)

    # ------------------------------------------------------------ what is on the host
    def snapshot(self) -> dict:
        """Names of everything nsprov could have made on the host, as sets."""
        script = ("ip -j link show; echo '#'; ip -j netns list; echo '#'; nft -j list tables; echo '#'; "
                  "ls /run/nsprov/ns 2>/dev/null; echo '#'; cat /proc/sys/net/ipv4/ip_forward; echo '#'; "
                  "pgrep -fx 'sleep infinity' || true")
        out = self.ssh("sh", "-c", script).stdout.split("#\n")
        links = {x["ifname"] for x in json.loads(out[0])}
        netns = {x["name"] for x in json.loads(out[1] or "[]")}
        tables = {f"{t['table']['family']} {t['table']['name']}" for t in json.loads(out[2])["nftables"]
                  if "table" in t}
        return {"links": links, "netns": netns, "tables": tables, "sets": set(out[3].split()),
                "ip_forward": {out[4].strip()}, "sleepers": set(out[5].split())}

    def plant_foreign(self) -> dict:
        """Look-alikes nsprov must never touch: a netns, a bridge, an nft table with nsprov-ish names."""
        self.ssh("sh", "-c", "[ -e /run/netns/f0-foreign ] || ip netns add f0-foreign; "
                             "ip link show fbr0x >/dev/null 2>&1 || ip link add fbr0x type bridge; "
                             "nft list table ip nsprov_faultload_x >/dev/null 2>&1 || "
                             "nft add table ip nsprov_faultload_x; "
                             "[ -e /run/netns/nsprov-foreign ] || ip netns add nsprov-foreign")
        return self._foreign_identity()

    def _foreign_identity(self) -> dict:
        out = self.ssh("sh", "-c", "stat -c %i /run/netns/f0-foreign /run/netns/nsprov-foreign; "
                                   "cat /sys/class/net/fbr0x/ifindex; nft -j list table ip nsprov_faultload_x").stdout
        lines = out.splitlines()
        handle = json.loads(lines[3])["nftables"][1]["table"]["handle"]
        return {"netns": lines[0:2], "ifindex": lines[2], "table": handle}

    def foreign_touched(self, planted: dict) -> list:
        try:
            now = self._foreign_identity()
        except (RuntimeError, json.JSONDecodeError, IndexError, KeyError) as exc:
            return [f"foreign objects changed or gone: {exc}"]
        return [f"{k}: {planted[k]} -> {now[k]}" for k in planted if planted[k] != now[k]]

    def remove_foreign(self) -> None:
        self.ssh("sh", "-c", "ip netns del f0-foreign; ip link del fbr0x; nft delete table ip nsprov_faultload_x; "
                             "ip netns del nsprov-foreign", check=False)

    # ------------------------------------------------------------ faults
    def _host_pidns(self) -> str:
        from nsprov.lab.files import LabState
        rec = LabState.load(self.lab.state_path).hosts[self.host]
        return os.readlink(f"/proc/{rec.pid}/ns/pid")

    def _agent_pids(self) -> list:
        """PIDs (as this machine sees them) of the nsprov agent running on the lab host.

        A lab host's processes are this machine's processes in the host's PID namespace: the
        agent is the one whose argv carries the bootstrap."""
        try:
            pidns = self._host_pidns()
        except (OSError, KeyError, AttributeError):
            return []
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink(f"/proc/{pid}/ns/pid") != pidns:
                    continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"NSPROV-NEED" in f.read():
                        found.append(int(pid))
            except OSError:
                continue
        return found

    def _during(self, argv: list, action, delay: float) -> subprocess.CompletedProcess:
        """Run the CLI; DELAY seconds after its agent starts on the host, do ACTION(agent pids)."""
        proc = subprocess.Popen([sys.executable, "-m", "nsprov.cli", *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

        def watch() -> None:
            deadline = time.monotonic() + 20
            while proc.poll() is None and time.monotonic() < deadline:
                pids = self._agent_pids()
                if pids:
                    time.sleep(delay)
                    action(pids)
                    return
                time.sleep(0.002)
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:   # a hang is a finding: end the run we started, report it
            proc.kill()
            out, err = proc.communicate()
            watcher.join()
            return subprocess.CompletedProcess(argv, HUNG, out, err)
        watcher.join()
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def inject(self, kind: str, book: str, failing_book: str, delay: float) -> int:
        """Apply BOOK with fault KIND at DELAY seconds; returns the exit status of that run."""
        run = ["run", "-i", self.inventory, book, "--json"]
        if kind == "agent-kill":
            def act(pids: list) -> None:
                for pid in pids:
                    _kill(pid)
            return self._during(run, act, delay).returncode
        if kind == "session-kill":
            def act(pids: list) -> None:   # the sshd session process that carries the agent's output
                for pid in pids:
                    try:
                        with open(f"/proc/{pid}/stat") as f:
                            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    except (OSError, ValueError, IndexError):
                        continue
                    _kill(ppid)
            return self._during(run, act, delay).returncode
        if kind == "link-cut":
            switch, port = self.lab.switch_ns, f"h{int(self.host[3:])}"

            def act(pids: list) -> None:   # the host's cable pulled on the switch side, back 1.5 s later
                subprocess.run(["ip", "-n", switch, "link", "set", port, "down"], check=False)
                time.sleep(1.5)
                subprocess.run(["ip", "-n", switch, "link", "set", port, "up"], check=False)
            return self._during(run, act, delay).returncode
        if kind == "host-kill":
            def act(pids: list) -> None:
                from nsprov.lab.files import LabState
                from nsprov.lab.system import kill_exact
                r = LabState.load(self.lab.state_path).hosts[self.host]
                kill_exact(r.pid, r.started)
            code = self._during(run, act, delay).returncode
            time.sleep(0.3)
            hosts = str(len(self.lab.status()))      # the machine comes back, empty
            self.nsprov("lab", "up", "--hosts", hosts, "--dir", str(self.dir))
            return code
        if kind == "failing-task":
            return self.nsprov("run", "-i", self.inventory, failing_book, "--json").returncode
        if kind == "disk-full":
            self.ssh("sh", "-c", "mkdir -p /var/lib/nsprov && mount -t tmpfs -o size=2m,mode=0700 nsprov-full "
                                 "/var/lib/nsprov && chmod 0700 /var/lib/nsprov")
            try:
                first = self.nsprov("facts", "-i", self.inventory)        # bundle in; then fill the disk
                self.ssh("sh", "-c", "cat /dev/zero > /var/lib/nsprov/filler 2>/dev/null; true")
                return self.nsprov(*run).returncode if first.returncode == 0 else first.returncode
            finally:
                self.ssh("sh", "-c", "rm -f /var/lib/nsprov/filler")
        if kind == "concurrent":
            other = subprocess.Popen([sys.executable, "-m", "nsprov.cli", *run], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            time.sleep(delay / 4)
            code = self.nsprov(*run).returncode
            other.wait(timeout=120)
            return code
        raise ValueError(f"unknown fault {kind!r}")

    def unmount_full_disk(self) -> None:
        self.ssh("sh", "-c", "umount /var/lib/nsprov 2>/dev/null; true", check=False)

    # ------------------------------------------------------------ one whole round
    def round(self, kind: str, book: str, failing_book: str, baseline: dict, planted: dict,
              delay: float) -> Outcome:
        out = Outcome(kind, round(delay, 3), self.inject(kind, book, failing_book, delay))
        if kind == "disk-full":
            self.unmount_full_disk()
        if kind == "host-kill":
            planted.update(self.plant_foreign())      # the new host has none of the old ones
        for attempt in range(1, 4):                   # converge: a clean run, then one with 0 changed
            first = self.nsprov("run", "-i", self.inventory, book, "--json")
            second = self.nsprov("run", "-i", self.inventory, book, "--json")
            changed = json.loads(second.stdout.splitlines()[-1])["hosts"][self.host]["changed"] \
                if second.returncode == 0 else -1
            if first.returncode == 0 and second.returncode == 0 and changed == 0:
                out.reruns, out.converged = attempt, True
                break
            bad = first if first.returncode != 0 else second
            out.detail = (bad.stdout[-3000:] + bad.stderr[-2000:]).strip()
        self.nsprov("destroy", "-i", self.inventory, book, "--json")
        if kind == "failing-task":
            self.nsprov("destroy", "-i", self.inventory, failing_book, "--json")
        after = self.snapshot()
        out.leaked = sorted(f"{k}: {x}" for k in after for x in after[k] - baseline.get(k, set()))
        out.foreign_touched = self.foreign_touched(planted)
        return out


def campaign(lab: FaultLab, runs: int, workdir: Path, n: int = 30, seed: int = 0, report=print) -> list:
    """RUNS rounds, each kind once first, then at random; N namespaces a run."""
    rng, kinds = random.Random(seed), KINDS
    book = lab.write_playbook(workdir / "faultload.yml", n)
    failing = lab.write_playbook(workdir / "faultload-failing.yml", n, failing=True)
    planted = lab.plant_foreign()
    baseline = lab.snapshot()
    outcomes = []
    try:
        for i in range(runs):
            kind = kinds[i % len(kinds)] if runs >= len(kinds) and i < len(kinds) else rng.choice(kinds)
            o = lab.round(kind, book, failing, baseline, planted, rng.uniform(0.0, 0.15))
            outcomes.append(o)
            report(f"run {i + 1:3}: {o.kind:13} {o.delay:.3f} s into the agent -> exit {o.first_exit}, "
                   f"converged after {o.reruns} re-run(s)" if o.converged else
                   f"run {i + 1:3}: {o.kind:13} {o.delay:.3f} s into the agent -> DID NOT CONVERGE")
            if o.leaked or o.foreign_touched:
                report(f"         leaked {o.leaked} foreign touched {o.foreign_touched}")
    finally:
        lab.unmount_full_disk()
        lab.remove_foreign()
    return outcomes
