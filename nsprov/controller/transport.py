"""One agent run per host: one SSH connection, one command on it.

A run is one exec on one connection: the bootstrap checks the cached bundle (and receives it
on the same channel if missing), then becomes the agent, which reads the request and streams
JSON-lines events back. So a host costs one connection and one command, whatever the number
of tasks. How the connection is made is the host's `ansible_connection`: paramiko (the
default; fabric where the ssh config needs a gateway: ssh_paramiko.py) or the OpenSSH client
(`ssh`, or Ansible's `smart`: ssh_openssh.py). Each is imported only when a host uses it.
Host keys are checked strictly either way: known_hosts from `nsprov_known_hosts` (or
~/.ssh/known_hosts); `accept_new` behaves like OpenSSH's StrictHostKeyChecking=accept-new.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from nsprov.controller.bundle import REMOTE_CACHE, Bundle, bootstrap_code
from nsprov.controller.exits import AgentFailed, Unreachable  # noqa: F401 (the runner's names for them)
from nsprov.controller.inventory import Connection
from nsprov.model.protocol import encode, read_only

SUDO_PROMPT = "[nsprov-sudo-password]"


@dataclass
class TransportStats:
    """What one host run cost on the wire: counted here, checked by tests against sshd's log."""
    connections: int = 0
    commands: int = 0
    bundle_uploads: int = 0
    bytes_sent: int = 0
    connect_seconds: float = 0.0
    run_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def link_for(conn: Connection, connect_timeout: float, accept_new: bool):
    """The connection CONN asks for, its module imported now."""
    if conn.transport == "ssh":
        from nsprov.controller.ssh_openssh import OpenSshLink
        return OpenSshLink(conn, connect_timeout, accept_new)
    from nsprov.controller.ssh_paramiko import ParamikoLink
    return ParamikoLink(conn, connect_timeout, accept_new)


@dataclass
class HostSession:
    conn: Connection
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    become_password: Optional[str] = None
    silence_timeout: float = 20.0      # the agent beats every 2 s while it works
    stats: TransportStats = field(default_factory=TransportStats)
    _link: Optional[object] = None
    _chan: Optional[object] = None
    _reader: Optional["_ChannelReader"] = None
    _input_ended: bool = False
    _began: float = 0.0
    _send_lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------ connection
    def open(self) -> None:
        began = time.monotonic()
        link = link_for(self.conn, self.connect_timeout, self.accept_new_host_keys)
        link.open()
        self._link = link
        self.stats.connections += 0 if link.reused else 1
        self.stats.connect_seconds += time.monotonic() - began

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None

    # ------------------------------------------------------------ the one command
    def agent_command(self, bundle: Bundle, writes: bool = True) -> str:
        """The bootstrap's command line; WRITES false: a read-only run, which caches nothing."""
        argv = [self.conn.python, "-I", "-S", "-c", bootstrap_code(), bundle.sha256, str(bundle.size), REMOTE_CACHE,
                "rw" if writes else "ro"]
        # the agent needs root: a non-root login always goes through sudo
        if self.conn.become or self.conn.user not in (None, "root"):
            argv = ["sudo", "-S", "-p", SUDO_PROMPT, "-u", self.conn.become_user, "-H", "--", *argv]
        # the last argument is left to the login shell: sshd's SSH_CONNECTION, which sudo would drop
        return " ".join(shlex.quote(a) for a in argv) + ' "$SSH_CONNECTION"'

    def start(self, bundle: Bundle, request: dict) -> None:
        """The one command: the bootstrap (bundle checked, sent if missing), then the request.
        The agent's stdin stays open for control lines (send) until end_input()."""
        assert self._link is not None, "open() first"
        self._began = time.monotonic()
        chan = self._link.exec(self.agent_command(bundle, writes=not read_only(request)))
        self.stats.commands += 1
        self._chan, self._reader = chan, _ChannelReader(chan)
        self._handshake(chan, self._reader, bundle)
        self.send(request)

    @property
    def started(self) -> bool:
        """The agent's command was sent (whatever became of it)."""
        return self.stats.commands > 0

    def send(self, message: dict) -> None:
        """A line on the agent's stdin (the request, or a control line from any thread)."""
        payload = encode(message)
        with self._send_lock:
            if self._chan is None or self._input_ended:
                return
            self._chan.send(payload)
            self.stats.bytes_sent += len(payload)

    def next_event(self) -> Optional[dict]:
        """The agent's next event (heartbeats skipped), None once its output ended. Silence longer
        than silence_timeout (not even a heartbeat) means the session or the connection was lost."""
        while True:
            line = self._reader.next_line(self.silence_timeout)
            if line is None:
                return None
            try:
                ev = json.loads(line)
            except ValueError:
                raise AgentFailed(f"agent wrote a line that is not JSON: {line[:200]!r}; "
                                  f"stderr: {self._reader.stderr_tail()}") from None
            if ev.get("event") != "alive":
                return ev

    def end_input(self) -> None:
        """No more control lines: the agent finishes what it does and leaves."""
        with self._send_lock:
            if self._chan is not None and not self._input_ended:
                self._input_ended = True
                self._chan.shutdown_write()

    def finish(self) -> int:
        """The agent's exit status, once its output ended; the channel is closed."""
        try:
            return self._chan.exit_status()
        finally:
            self.close_channel()

    def close_channel(self) -> None:
        if self._chan is not None:
            self._chan.close()
            self.stats.run_seconds += time.monotonic() - self._began
            self._chan = None

    def run_agent(self, bundle: Bundle, request: dict, on_event: Callable[[dict], None]) -> int:
        """Run the agent with one request; calls on_event for each event; returns its exit status."""
        try:
            self.start(bundle, request)
            self.end_input()
            ev = self.next_event()
            while ev is not None:
                on_event(ev)
                ev = self.next_event()
            return self.finish()
        finally:
            self.close_channel()

    def _handshake(self, chan, reader: "_ChannelReader", bundle: Bundle) -> None:
        """Answer sudo's prompt if it asks, then HAVE (run it) or NEED (send it first)."""
        first = reader.first_line(prompt=SUDO_PROMPT, silence=self.silence_timeout)
        if first == SUDO_PROMPT:
            if self.become_password is None and self.conn.become_password is None:
                raise AgentFailed("sudo asks for a password: give it with -K/--ask-become-pass "
                                  "or ansible_become_password")
            secret = self.become_password if self.become_password is not None else self.conn.become_password
            chan.send((str(secret) + "\n").encode())   # on stdin, never on a command line
            first = reader.first_line(prompt=SUDO_PROMPT, silence=self.silence_timeout)
            if first == SUDO_PROMPT:
                raise AgentFailed("sudo refused the become password")
        if first == "NSPROV-NEED":
            chan.send(bundle.data)
            self.stats.bundle_uploads += 1
            self.stats.bytes_sent += bundle.size
        elif first != "NSPROV-HAVE":
            detail = first[len("NSPROV-ERROR "):] if first.startswith("NSPROV-ERROR ") else repr(first[:200])
            raise AgentFailed(f"agent bootstrap failed: {detail}; stderr: {reader.stderr_tail()}")


class _ChannelReader:
    """Lines from a channel's stdout, keeping its stderr (and spotting sudo's prompt there)."""

    def __init__(self, chan):
        self.chan = chan
        self.buf = b""
        self.err = b""

    def _pump(self) -> bool:
        """Wait up to a second for output; read what is there. False once stdout is at EOF or
        the connection is gone."""
        out, err, alive = self.chan.pump(1.0)
        self.err += err
        self.buf += out
        return alive

    def first_line(self, prompt: str, silence: float = 0) -> str:
        """The bootstrap's first line (or sudo's prompt). With SILENCE, give up when nothing
        comes for that long: a session killed before the agent spoke leaves the connection up."""
        began = time.monotonic()
        while b"\n" not in self.buf:
            if prompt.encode() in self.err:
                self.err = self.err.replace(prompt.encode(), b"", 1)
                return prompt
            if silence and time.monotonic() - began > silence:
                raise AgentFailed(f"no word from the host's bootstrap for {silence:.0f} s: the session or the "
                                  f"connection was lost; a re-run converges")
            if not self._pump():
                if b"\n" in self.buf:
                    break
                raise AgentFailed(f"remote command ended before the agent started "
                                  f"(exit {self.chan.exit_status()}): {self.stderr_tail()}")
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def next_line(self, silence: float = 0) -> Optional[str]:
        """The next non-empty line, None at EOF; with SILENCE, give up when the agent says
        nothing (not even its heartbeat) for that long: the session or the connection was lost.
        The silence counts from this call: a host waiting at a play barrier is not silent."""
        began = time.monotonic()
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.strip():
                    return line.decode(errors="replace")
            if silence and time.monotonic() - began > silence:
                raise AgentFailed(f"no word from the agent for {silence:.0f} s: the session or the connection "
                                  f"was lost; a re-run converges")
            if not self._pump():
                rest, self.buf = self.buf, b""
                return rest.decode(errors="replace") if rest.strip() else None

    def stderr_tail(self) -> str:
        return "\n".join(self.err.decode(errors="replace").strip().splitlines()[-5:]) or "(empty)"
