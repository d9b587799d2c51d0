"""Bring local lab hosts up and down.

Shape (see REFERENCE.md): a lab switch (bridge `br0`) inside its own network namespace
`nsprov-lab-<id>`; the controller reaches it from the root namespace through one veth
`nslab<id>` carrying `<prefix>.254/24`; each host `labN` is `unshare --net --mount --uts --ipc
--pid` running init.sh, which ends as `sshd -D` (PID 1 of the host), with `eth0` = `<prefix>.N/24`
plugged into the switch. An nft table in the root namespace drops anything the lab would
forward through the machine, and lab hosts have no default route.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

from nsprov.lab import files
from nsprov.lab.files import HostRecord, LabState
from nsprov.lab.system import (all_pids, children, cmdline, is_same_process,
                               kill_exact, netns_inode, run, start_time, tcp_listening)

INIT_MARK = "nsprov-lab-init"
MAX_HOSTS = 250
READY_TIMEOUT = 20.0


class LabError(RuntimeError):
    """A lab could not be brought up or down; the message says what and why."""


def missing_requirements() -> list[str]:
    """Each problem as one line with its fix; empty when this machine can run a lab."""
    problems = []
    if os.geteuid() != 0:
        problems.append("nsprov lab needs root (namespaces, veths, nft): run it as root or with sudo")
    if not os.path.exists("/usr/sbin/sshd"):
        problems.append("/usr/sbin/sshd not found: apt-get install -y openssh-server")
    for tool, package in (("unshare", "util-linux"), ("nsenter", "util-linux"), ("ip", "iproute2"),
                          ("nft", "nftables"), ("ssh-keygen", "openssh-client")):
        if shutil.which(tool) is None:
            problems.append(f"`{tool}` not found: apt-get install -y {package}")
    return problems


@dataclass(frozen=True)
class HostStatus:
    name: str
    address: str
    pid: int
    alive: bool
    sshd_listening: bool


def lab_id_for(directory: Path) -> str:
    """Stable per lab directory, so `down` finds its objects even without state.json."""
    return hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:5]


class Lab:
    def __init__(self, directory: Path | str = ".nsprov-lab"):
        self.dir = Path(directory).resolve()
        self.state_path = self.dir / "state.json"
        self.lab_id = lab_id_for(self.dir)
        self.switch_ns = f"nsprov-lab-{self.lab_id}"
        self.uplink = f"nslab{self.lab_id}"           # root-namespace end, ≤ 15 bytes
        self.nft_table = f"nsprov_lab_{self.lab_id}"
        self.init_script = str(resources.files("nsprov.lab").joinpath("init.sh"))

    # ---------------------------------------------------------------- up
    def up(self, count: int, on_progress: Callable[[int, int], None] = lambda done, total: None) -> list[str]:
        """Ensure hosts lab1..labN are up; returns the names started by this call."""
        if not 1 <= count <= MAX_HOSTS:
            raise LabError(f"--hosts must be between 1 and {MAX_HOSTS}, not {count}")
        self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        state = LabState.load(self.state_path) or LabState(self.lab_id, self._free_prefix())
        state.save(self.state_path)
        files.ensure_keypair(self.dir / "id_ed25519", "nsprov-lab controller key")
        self._ensure_switch(state)
        wanted = [f"lab{i}" for i in range(1, max(count, len(state.hosts)) + 1)]
        to_start = [n for n in wanted if not self._alive(state.hosts.get(n))]
        on_progress(len(wanted) - len(to_start), len(wanted))
        if to_start:
            self._start_hosts(state, to_start, lambda done: on_progress(len(wanted) - len(to_start) + done, len(wanted)))
            # a restarted host answers at its old address with a new MAC: forget the old one
            run(["ip", "neigh", "flush", "dev", self.uplink], check=False)
        files.write_client_files(self.dir, state)
        return to_start

    def _free_prefix(self) -> str:
        """A /24 in 10.231.0.0/16 that no route of the root namespace overlaps."""
        routes = json.loads(run(["ip", "-j", "route", "show", "table", "all"]).stdout or "[]")
        used = []
        for r in routes:
            dst = r.get("dst", "")
            if dst and dst != "default" and ":" not in dst:
                try:
                    used.append(ipaddress.ip_network(dst if "/" in dst else dst + "/32", strict=False))
                except ValueError:
                    pass
        start = int(self.lab_id, 16) % 256
        for i in range(256):
            third = (start + i) % 256
            net = ipaddress.ip_network(f"10.231.{third}.0/24")
            if not any(net.overlaps(u) for u in used):
                return f"10.231.{third}"
        raise LabError("no free /24 left in 10.231.0.0/16 for a lab switch")

    def _ensure_switch(self, state: LabState) -> None:
        sw = self.switch_ns
        if not os.path.exists(f"/run/netns/{sw}"):
            run(["ip", "netns", "add", sw])
            # bridged traffic passes br_netfilter; the switch never routes: no ip_forward.
            run(["ip", "netns", "exec", sw, "sysctl", "-qw", "net.ipv4.ip_forward=0"])
            run(["ip", "-n", sw, "-batch", "-"], input=(
                "link set lo up\n"
                "link add br0 type bridge\n"
                "link set br0 up\n"))
        if run(["ip", "link", "show", "dev", self.uplink], check=False).returncode != 0:
            run(["ip", "link", "add", self.uplink, "type", "veth", "peer", "name", "uplink", "netns", sw])
            run(["ip", "-n", sw, "link", "set", "uplink", "master", "br0", "up"])
            run(["ip", "addr", "add", f"{state.controller_address}/24", "dev", self.uplink])
            run(["ip", "link", "set", self.uplink, "up"])
        self._ensure_guard()

    def _ensure_guard(self) -> None:
        """Root-namespace firewall: the lab can answer the controller and do nothing else here.

        Nothing arriving from the lab is forwarded (so never out of the machine's uplink),
        and lab hosts cannot open connections to the machine itself.
        """
        t, up = self.nft_table, self.uplink
        run(["nft", "-f", "-"], input=(
            f"table inet {t}\n"
            f"delete table inet {t}\n"
            f"table inet {t} {{\n"
            f"  chain forward {{ type filter hook forward priority -10; policy accept;\n"
            f"    iifname \"{up}\" drop\n"
            f"    oifname \"{up}\" drop\n"
            f"  }}\n"
            f"  chain input {{ type filter hook input priority -10; policy accept;\n"
            f"    iifname \"{up}\" ct state established,related accept\n"
            f"    iifname \"{up}\" drop\n"
            f"  }}\n"
            f"}}\n"))

    def _alive(self, rec: Optional[HostRecord]) -> bool:
        return rec is not None and is_same_process(rec.pid, rec.started)

    def _start_hosts(self, state: LabState, names: list[str], on_done: Callable[[int], None]) -> None:
        procs: dict[str, subprocess.Popen] = {}
        try:
            for name in names:
                old = state.hosts.get(name)
                if old is not None:
                    self._kill_host(old)
                rec = HostRecord(name=name, address=f"{state.subnet_prefix}.{int(name[3:])}")
                hostdir = self.dir / "hosts" / name
                files.write_host_files(hostdir, name, rec.address, self.dir / "id_ed25519")
                with open(hostdir / "sshd.log", "ab") as log:   # the host's init and sshd write here
                    procs[name] = subprocess.Popen(
                        ["unshare", "--net", "--mount", "--uts", "--ipc", "--pid", "--fork", "--kill-child",
                         "--mount-proc", "--propagation", "private", "--",
                         "/bin/sh", self.init_script, self.lab_id, name, f"{rec.address}/24", str(hostdir),
                         INIT_MARK],
                        stdin=subprocess.PIPE, stdout=log, stderr=log, start_new_session=True)
                rec.unshare_pid = procs[name].pid
                rec.unshare_started = start_time(rec.unshare_pid) or 0
                state.hosts[name] = rec
            state.save(self.state_path)   # from here on, `down` can find every process
            self._wait_in_own_netns(state, names, procs)
            state.save(self.state_path)
            # a host that died left its switch port behind for a while (a netns frees its veths
            # asynchronously): remove it before plugging the new host in under the same name
            for n in names:
                run(["ip", "-n", self.switch_ns, "link", "del", f"h{int(n[3:])}"], check=False)
            batch = "".join(
                f"link add h{int(n[3:])} type veth peer name eth0 netns {state.hosts[n].pid}\n"
                f"link set h{int(n[3:])} master br0 up\n" for n in names)
            run(["ip", "-n", self.switch_ns, "-batch", "-"], input=batch)
            for name in names:
                procs[name].stdin.write(b"go\n")
                procs[name].stdin.close()
            self._wait_ready(state, names, procs, on_done)
        finally:
            for p in procs.values():
                if p.stdin and not p.stdin.closed:
                    p.stdin.close()

    def _wait_in_own_netns(self, state: LabState, names: list[str], procs: dict) -> None:
        """Find each host's PID 1 and wait until it is in its new network namespace.

        Moving a veth "into PID X" right after starting unshare races: before unshare has
        switched namespaces the veth would land in the root namespace.
        """
        ours = netns_inode("self")
        deadline = time.monotonic() + READY_TIMEOUT
        pending = set(names)
        while pending:
            for name in list(pending):
                rec = state.hosts[name]
                if procs[name].poll() is not None:
                    raise LabError(f"{name}: unshare exited {procs[name].returncode}; see {self.log_path(name)}")
                kids = children(rec.unshare_pid)
                if kids:
                    ns = netns_inode(kids[0])
                    if ns is not None and ns != ours:
                        rec.pid, rec.started = kids[0], start_time(kids[0]) or 0
                        pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise LabError(f"{', '.join(sorted(pending))}: no new network namespace after {READY_TIMEOUT:.0f} s")
            if pending:
                time.sleep(0.005)

    def _wait_ready(self, state: LabState, names: list[str], procs: dict, on_done: Callable[[int], None]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        pending = set(names)
        while pending:
            for name in list(pending):
                rec = state.hosts[name]
                if procs[name].poll() is not None:
                    raise LabError(f"{name}: init exited {procs[name].returncode} before sshd listened; "
                                   f"last lines of its log:\n{self._log_tail(name)}")
                if tcp_listening(rec.pid, 22):
                    pending.discard(name)
                    on_done(len(names) - len(pending))
            if pending and time.monotonic() > deadline:
                first = sorted(pending)[0]
                raise LabError(f"{', '.join(sorted(pending))}: sshd not listening after {READY_TIMEOUT:.0f} s; "
                               f"last lines of {first}'s log:\n{self._log_tail(first)}")
            if pending:
                time.sleep(0.01)

    def log_path(self, name: str) -> Path:
        return self.dir / "hosts" / name / "sshd.log"

    def _log_tail(self, name: str) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-8:])
        except OSError:
            return "(no log)"

    # ---------------------------------------------------------------- down
    def down(self) -> list[str]:
        """Remove every trace of this lab; works after a crash or a reboot. Returns what it removed."""
        removed = []
        state = LabState.load(self.state_path)
        pids = []
        for rec in (state.hosts.values() if state else []):
            if self._kill_host(rec):
                removed.append(f"process {rec.pid} ({rec.name})")
            pids += [rec.pid, rec.unshare_pid]
        # a controller that crashed before saving state.json leaves hosts it never recorded:
        # find our own init processes by their lab id and end them by PID.
        for pid in self._stray_inits():
            if kill_exact(pid, start_time(pid) or -1):
                removed.append(f"process {pid} (unrecorded {INIT_MARK})")
                pids.append(pid)
        self._wait_gone(pids)
        # delete links before their namespace: `ip netns del` removes veth peers asynchronously
        if run(["ip", "link", "del", "dev", self.uplink], check=False).returncode == 0:
            removed.append(f"link {self.uplink}")
        if os.path.exists(f"/run/netns/{self.switch_ns}"):
            run(["ip", "netns", "del", self.switch_ns])
            removed.append(f"netns {self.switch_ns}")
        if run(["nft", "delete", "table", "inet", self.nft_table], check=False).returncode == 0:
            removed.append(f"nft table inet {self.nft_table}")
        files.remove_lab_files(self.dir)
        return removed

    def _kill_host(self, rec: HostRecord) -> bool:
        # SIGKILL to PID 1 of a PID namespace kills every process in it; its other namespaces
        # and everything created inside them go with the last process.
        killed = kill_exact(rec.pid, rec.started)
        kill_exact(rec.unshare_pid, rec.unshare_started)
        return killed

    def _stray_inits(self) -> list[int]:
        found = []
        for pid in all_pids():
            argv = cmdline(pid)
            if INIT_MARK in argv and self.init_script in argv and self.lab_id in argv:
                found.append(pid)
        return found

    @staticmethod
    def _wait_gone(pids: list[int], timeout: float = 5.0) -> None:
        # unshare exits only once the host's PID 1 is reaped, and PID 1 only after every
        # other process of its PID namespace: when unshare is gone, the host is gone.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") and _not_zombie(p) for p in pids):
            time.sleep(0.01)

    # ---------------------------------------------------------------- status
    def status(self) -> list[HostStatus]:
        state = LabState.load(self.state_path)
        if state is None:
            return []
        out = []
        for rec in sorted(state.hosts.values(), key=lambda h: int(h.name[3:])):
            alive = self._alive(rec)
            out.append(HostStatus(rec.name, rec.address, rec.pid, alive, alive and tcp_listening(rec.pid, 22)))
        return out


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

