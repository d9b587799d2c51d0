"""`ansible_connection: ssh`: the OpenSSH client, as Ansible drives it. One master connection
per host (ControlMaster=auto, ControlPersist=60s, a control socket per host under
`ansible_control_path_dir`, default ~/.nsprov/cp), kept for the next run within ControlPersist;
the agent's command is one session through it. ~/.ssh/config is honoured (ProxyJump, Host
aliases, anything ssh reads), and so are `ansible_ssh_common_args` and `ansible_ssh_extra_args`.

Host keys stay strictly checked against the same known_hosts as the paramiko connection: those
options come first on the command line, and ssh takes the first value it is given, so neither
an ssh config nor extra arguments can loosen them (`--accept-new-host-keys` gives accept-new).
BatchMode is on: nothing ever prompts; sudo's password goes on the command's stdin as with
paramiko.
"""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import time
from typing import Optional

from nsprov.controller.exits import Unreachable

DEFAULT_CONTROL_DIR = "~/.nsprov/cp"
_CONTROL_OPTIONS = ("controlmaster", "controlpath", "controlpersist")
_SUN_PATH_MAX = 107                      # a Unix socket's path, without its final NUL


class OpenSshLink:
    """One host reached with the ssh client. CONN: the inventory's connection."""

    def __init__(self, conn, connect_timeout: float, accept_new: bool):
        self.conn, self.connect_timeout, self.accept_new = conn, connect_timeout, accept_new
        self.control: Optional[str] = None     # the master's socket, once open() has chosen it
        self.reused = False

    # ------------------------------------------------------------ the command line
    def _user_args(self) -> list:
        return [*shlex.split(self.conn.ssh_common_args or ""), *shlex.split(self.conn.ssh_extra_args or "")]

    def _control_path(self) -> Optional[str]:
        """The master's socket: ours, unless the user's arguments manage control sockets themselves."""
        if any(o in a.lower() for a in self._user_args() for o in _CONTROL_OPTIONS):
            return None
        directory = os.path.abspath(os.path.expanduser(self.conn.control_path_dir or DEFAULT_CONTROL_DIR))
        # ssh binds DIR/%C plus a temporary suffix: a 40-character hash, then 17 more
        if len(directory.encode()) + 1 + 40 + 17 > _SUN_PATH_MAX:
            raise Unreachable(f"ansible_control_path_dir {directory} is too long for a control socket "
                              f"(at most {_SUN_PATH_MAX - 58} characters): choose a shorter one")
        os.makedirs(directory, mode=0o700, exist_ok=True)
        return os.path.join(directory, "%C")

    def argv(self, *more: str) -> list:
        c = self.conn
        known = os.path.expanduser(c.known_hosts or "~/.ssh/known_hosts")
        out = [c.ssh_executable or "ssh",
               "-o", f"StrictHostKeyChecking={'accept-new' if self.accept_new else 'yes'}",
               "-o", f"UserKnownHostsFile={known}", "-o", "BatchMode=yes",
               "-o", f"ConnectTimeout={max(1, round(self.connect_timeout))}"]
        if c.port:
            out += ["-p", str(c.port)]
        if c.user:
            out += ["-l", c.user]
        if c.key_file:
            out += ["-i", os.path.expanduser(c.key_file), "-o", "IdentitiesOnly=yes"]
        out += self._user_args()
        if self.control:
            out += ["-o", "ControlMaster=auto", "-o", "ControlPersist=60s", "-o", f"ControlPath={self.control}"]
        return [*out, *more]

    # ------------------------------------------------------------ connecting
    def open(self) -> None:
        """Make sure a master connection is up (reuse one within ControlPersist): unreachable
        hosts and refused host keys fail here, before any command."""
        if self.conn.password:
            raise Unreachable("ansible_connection: ssh takes no password from the inventory (BatchMode); "
                                   "use a key, or ansible_connection: paramiko")
        self.control = self._control_path()
        if self.control is None:
            return          # the user's own control options: ssh connects when the command runs
        check = subprocess.run(self.argv("-O", "check", self.conn.address), capture_output=True, text=True)
        if check.returncode == 0:
            self.reused = True
            return
        # -f: into the background once authenticated; -N: no command; the master then serves
        # the agent's session and stays ControlPersist after it
        began = time.monotonic()
        proc = subprocess.run(self.argv("-M", "-N", "-f", self.conn.address), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=self.connect_timeout + 30)
        if proc.returncode != 0:
            raise Unreachable(self._why(proc.stderr, time.monotonic() - began))

    def _why(self, stderr: str, took: float = 0.0) -> str:
        c = self.conn
        lines = [x for x in stderr.strip().splitlines() if x and not x.startswith("Warning: Permanently added")]
        text = "; ".join(lines[-3:]) or "ssh exited 255"
        known = os.path.expanduser(c.known_hosts or "~/.ssh/known_hosts")
        if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
            return f"host key for {c.address} CHANGED; refusing to connect; check {known}"
        if "Host key verification failed" in stderr:
            return (f"host key of {c.address} is not in {known}; add it (ssh-keyscan) or pass "
                    f"--accept-new-host-keys")
        if "timed out" in stderr:
            return f"cannot connect to {c.address}:{c.port or 22}: {text} (within {self.connect_timeout:g} s, -T/--timeout)"
        return f"cannot connect to {c.address}:{c.port or 22} (ssh gave up after {took:.2f} s): {text}"

    def exec(self, command: str) -> "OpenSshChannel":
        proc = subprocess.Popen(self.argv("-T", self.conn.address, command), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        return OpenSshChannel(proc)

    def close(self) -> None:
        """The master stays for ControlPersist (the next run reuses it); nothing else to close."""


class OpenSshChannel:
    """The agent's command as an ssh child process: its stdin, stdout and stderr."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.open = {proc.stdout.fileno(): True, proc.stderr.fileno(): True}

    def send(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            pass             # the command ended; what it said tells why

    def shutdown_write(self) -> None:
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def pump(self, wait: float) -> tuple:
        """(stdout bytes, stderr bytes, open) as ParamikoChannel.pump: what arrived within WAIT."""
        out_fd, err_fd = self.proc.stdout.fileno(), self.proc.stderr.fileno()
        readable, _, _ = select.select([fd for fd, live in self.open.items() if live], [], [], wait)
        out = err = b""
        for fd in readable:
            data = os.read(fd, 65536)
            if not data:
                self.open[fd] = False
            elif fd == out_fd:
                out = data
            else:
                err = data
        while self.open[err_fd] and select.select([err_fd], [], [], 0)[0]:
            data = os.read(err_fd, 65536)
            if not data:
                self.open[err_fd] = False
            err += data
        return out, err, bool(out) or self.open[out_fd]

    def exit_status(self) -> int:
        return self.proc.wait()

    def close(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()      # our own child, by its PID
            self.proc.wait()
