"""The only module that imports fabric/paramiko: one SSH connection per host, one agent run on it.

A run is one exec on one connection: the bootstrap checks the cached bundle (and receives it
on the same channel if missing), then becomes the agent, which reads the request and streams
JSON-lines events back. So a host costs one connection and one command, whatever the number
of tasks. Host keys are checked strictly: known_hosts from `nsprov_known_hosts` (or
~/.ssh/known_hosts); `accept_new` behaves like OpenSSH's StrictHostKeyChecking=accept-new.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import paramiko
from fabric import Connection as FabricConnection

from nsprov.controller.bundle import REMOTE_CACHE, Bundle, bootstrap_code
from nsprov.controller.inventory import Connection
from nsprov.model.protocol import encode

# paramiko logs a failed handshake with a traceback; with no handler Python's last resort would
# print it on stderr beside nsprov's own one-line reason
logging.getLogger("paramiko").addHandler(logging.NullHandler())

SUDO_PROMPT = "[nsprov-sudo-password]"


class Unreachable(Exception):
    """The host could not be reached or authenticated; the message says why."""


class AgentFailed(Exception):
    """The agent could not run (bootstrap refused, crashed, or spoke garbage)."""


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
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class PromptSocket:
    """A TCP socket for SSH's many small request/reply messages: Nagle off, and ACKs sent at once.

    Without both, each small message can sit behind a 40 ms delayed ACK (ours, or the server's
    Nagle waiting for it). Measured on a lab host: connect 60-110 ms -> ~21 ms, the first
    session's channel open 43 ms -> 2 ms. TCP_QUICKACK does not stick, so it is set again before
    every read; everything else goes to the socket itself.
    """

    def __init__(self, sock: socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # a host that dies mid-run sends no RST: notice within ~20 s instead of TCP's ~15 min,
        # whether we were waiting for it (keepalive) or sending to it (user timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for opt, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 3), ("TCP_KEEPCNT", 3),
                           ("TCP_USER_TIMEOUT", 20000)):
            if hasattr(socket, opt):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)
        self._sock = sock

    def recv(self, size: int) -> bytes:
        if hasattr(socket, "TCP_QUICKACK"):
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return self._sock.recv(size)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Like OpenSSH accept-new: remember an unknown host's key; a changed key still fails."""

    def __init__(self, known_hosts: str):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        client.get_host_keys().add(hostname, key.get_name(), key)
        Path(self.known_hosts).parent.mkdir(parents=True, exist_ok=True)
        with open(self.known_hosts, "a") as f:
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def fingerprint(key: paramiko.PKey) -> str:
    """`ED25519 SHA256:...` as OpenSSH prints it (ssh-keygen -lf): the key's type and the
    unpadded base64 of the sha256 of its wire form."""
    import base64
    import hashlib
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    kind = key.get_name().replace("ssh-", "").split("-")[0].upper()
    return f"{kind} SHA256:{digest}"


def _known_hosts_file(conn: Connection) -> str:
    return os.path.expanduser(conn.known_hosts or "~/.ssh/known_hosts")


_known_lock = threading.Lock()
_known_parsed: dict = {}   # path -> ((mtime_ns, size), paramiko.HostKeys)


def _known_keys(path: str, name: str) -> dict:
    """NAME's keys in the known_hosts file PATH, which is parsed once per process (again if it
    changed, e.g. by accept-new). paramiko parses a whole file per client, each line checked
    against all before it: 6 ms per host for 50 lines, growing with the square of the file,
    and again for every host of a fan-out."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {}
    with _known_lock:
        stamp, keys = _known_parsed.get(path, (None, None))
        if stamp != (st.st_mtime_ns, st.st_size):
            keys = paramiko.HostKeys(path)
            _known_parsed[path] = ((st.st_mtime_ns, st.st_size), keys)
        found = keys.lookup(name)
        return dict(found) if found else {}


@dataclass
class HostSession:
    conn: Connection
    accept_new_host_keys: bool = False
    connect_timeout: float = 10.0
    become_password: Optional[str] = None
    silence_timeout: float = 20.0      # the agent beats every 2 s while it works
    stats: TransportStats = field(default_factory=TransportStats)
    _fabric: Optional[FabricConnection] = None
    _chan: Optional[object] = None
    _reader: Optional["_ChannelReader"] = None
    _input_ended: bool = False
    _began: float = 0.0
    _send_lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------ connection
    def open(self) -> None:
        c = self.conn
        began = time.monotonic()
        connect_kwargs: dict = {"banner_timeout": self.connect_timeout, "auth_timeout": self.connect_timeout}
        if c.key_file:
            connect_kwargs["key_filename"] = os.path.expanduser(c.key_file)
            connect_kwargs["look_for_keys"] = False
        if c.password:
            connect_kwargs["password"] = c.password
        fab = FabricConnection(c.address, user=c.user, port=c.port, connect_timeout=self.connect_timeout,
                               connect_kwargs=connect_kwargs)
        client = paramiko.SSHClient()   # fabric's default client trusts any key (AutoAddPolicy): never that
        known = _known_hosts_file(c)
        name = fab.host if fab.port == 22 else f"[{fab.host}]:{fab.port}"   # how paramiko looks it up
        for keytype, key in _known_keys(known, name).items():
            client.get_host_keys().add(name, keytype, key)
        client.set_missing_host_key_policy(AcceptNewPolicy(known) if self.accept_new_host_keys
                                           else paramiko.RejectPolicy())
        fab.client = client
        try:
            if fab.gateway is None and "proxycommand" not in fab.ssh_config:
                sock = socket.create_connection((fab.host, fab.port), timeout=self.connect_timeout)
                fab.connect_kwargs = {**fab.connect_kwargs, "sock": PromptSocket(sock)}
            fab.open()
        except paramiko.BadHostKeyException as exc:
            raise Unreachable(f"host key for {c.address} CHANGED: expected {fingerprint(exc.expected_key)}, the host "
                              f"offers {fingerprint(exc.key)}; refusing to connect; check {known}") from None
        except paramiko.SSHException as exc:
            msg = str(exc)
            if "not found in known_hosts" in msg:
                msg = (f"host key of {c.address} is not in {known}; add it (ssh-keyscan) or pass "
                       f"--accept-new-host-keys")
            elif "banner" in msg or msg == "No existing session":   # how paramiko says the greeting never came
                msg = (f"{c.address}:{c.port or 22} accepted the connection but sent no SSH greeting within "
                       f"{self.connect_timeout:g} s (-T/--timeout)")
            raise Unreachable(msg) from None
        except (OSError, socket.timeout, EOFError) as exc:
            raise Unreachable(f"cannot connect to {c.address}:{c.port or 22}: {exc}") from None
        self._fabric = fab
        self.stats.connections += 1
        self.stats.connect_seconds += time.monotonic() - began

    def close(self) -> None:
        if self._fabric is not None:
            self._fabric.close()
            self._fabric = None

    # ------------------------------------------------------------ the one command
    def agent_command(self, bundle: Bundle) -> str:
        argv = [self.conn.python, "-I", "-S", "-c", bootstrap_code(), bundle.sha256, str(bundle.size), REMOTE_CACHE]
        # the agent needs root: a non-root login always goes through sudo
        if self.conn.become or self.conn.user not in (None, "root"):
            argv = ["sudo", "-S", "-p", SUDO_PROMPT, "-u", self.conn.become_user, "-H", "--", *argv]
        # the last argument is left to the login shell: sshd's SSH_CONNECTION, which sudo would drop
        return " ".join(shlex.quote(a) for a in argv) + ' "$SSH_CONNECTION"'

    def start(self, bundle: Bundle, request: dict) -> None:
        """The one command: the bootstrap (bundle checked, sent if missing), then the request.
        The agent's stdin stays open for control lines (send) until end_input()."""
        assert self._fabric is not None, "open() first"
        self._began = time.monotonic()
        chan = self._fabric.client.get_transport().open_session()
        chan.settimeout(None)
        chan.exec_command(self.agent_command(bundle))
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
            self._chan.sendall(payload)
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
            return self._chan.recv_exit_status()
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
            chan.sendall((str(secret) + "\n").encode())   # on stdin, never on a command line
            first = reader.first_line(prompt=SUDO_PROMPT, silence=self.silence_timeout)
            if first == SUDO_PROMPT:
                raise AgentFailed("sudo refused the become password")
        if first == "NSPROV-NEED":
            chan.sendall(bundle.data)
            self.stats.bundle_uploads += 1
            self.stats.bytes_sent += bundle.size
        elif first != "NSPROV-HAVE":
            detail = first[len("NSPROV-ERROR "):] if first.startswith("NSPROV-ERROR ") else repr(first[:200])
            raise AgentFailed(f"agent bootstrap failed: {detail}; stderr: {reader.stderr_tail()}")


class _ChannelReader:
    """Lines from a channel's stdout, keeping its stderr (and spotting sudo's prompt there)."""

    def __init__(self, chan: paramiko.Channel):
        self.chan = chan
        self.buf = b""
        self.err = b""

    def _pump(self) -> bool:
        """Wait up to a second for output; read what is there. False once stdout is at EOF or
        the connection is gone (a dead transport closes the channel without an EOF)."""
        select.select([self.chan], [], [], 1.0)
        while self.chan.recv_stderr_ready():
            self.err += self.chan.recv_stderr(65536)
        if self.chan.recv_ready():
            self.buf += self.chan.recv(65536)
            return True
        transport = self.chan.get_transport()
        return not (self.chan.eof_received or self.chan.closed or transport is None or not transport.is_active())

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
                                  f"(exit {self.chan.recv_exit_status()}): {self.stderr_tail()}")
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
