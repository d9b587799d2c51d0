"""The default connection: paramiko, as fabric drives it. One SSH connection per host; the
agent's command runs on one session channel of it.

Fabric is imported only where it does what paramiko alone does not: a host whose ssh config
(~/.ssh/config, /etc/ssh/ssh_config) sets ProxyJump or ProxyCommand goes through fabric's
gateway. Every other host is reached by paramiko directly, with the same config's HostName,
Port, User and IdentityFile, and strictly checked host keys either way. (fabric imports
invoke, and invoke unittest.mock and asyncio: ~30 ms of every run that never needs them.)
"""

from __future__ import annotations

import getpass
import importlib.util
import logging
import os
import socket
import sys
import threading
import time
import types
from pathlib import Path
from typing import Optional

from nsprov.controller.exits import Unreachable


def _dist_version(name: str) -> str:
    """A distribution's version from its dist-info directory beside the package, without
    importlib.metadata's scan of every installed distribution (~20 ms here); the real lookup
    when it is not there."""
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.origin:
        for d in Path(spec.origin).parents[1].glob(f"{name}-*.dist-info"):
            return d.name[len(name) + 1:-len(".dist-info")]
    from importlib import metadata
    return metadata.version(name)


def import_paramiko() -> types.ModuleType:
    """paramiko, imported without what a run does not use: invoke (paramiko's config module
    imports it for `Match exec` only; fabric imports it for real when a host needs fabric) and
    importlib.metadata (paramiko asks it only for its own version string)."""
    if "paramiko" in sys.modules:
        return sys.modules["paramiko"]
    blocked = {}
    if "invoke" not in sys.modules:
        blocked["invoke"] = None                  # `import invoke` fails: paramiko goes on without it
    if "importlib.metadata" not in sys.modules:
        shim = types.ModuleType("importlib.metadata")
        shim.version = _dist_version
        blocked["importlib.metadata"] = shim
    sys.modules.update(blocked)
    try:
        import paramiko
    finally:
        import importlib
        for name, stand_in in blocked.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
        if getattr(importlib, "metadata", None) is blocked.get("importlib.metadata", object()):
            del importlib.metadata
    # paramiko logs a failed handshake with a traceback; with no handler Python's last resort
    # would print it on stderr beside nsprov's own one-line reason
    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    return paramiko


paramiko = import_paramiko()


# paramiko's transport thread waits for the host with a 0.1 s socket timeout, to notice a
# close: 10 wake-ups a second a host, each taking the interpreter's lock, while the host works.
# Once connected it waits IDLE_WAKE instead (close() wakes it by shutting the socket down): at
# 200 hosts at once that was ~2,000 wake-ups a second of the controller's one interpreter.
IDLE_WAKE = 2.0


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
        os.makedirs(os.path.dirname(self.known_hosts) or ".", exist_ok=True)
        with _known_lock, open(self.known_hosts, "a") as f:
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def fingerprint(key) -> str:
    """`ED25519 SHA256:...` as OpenSSH prints it (ssh-keygen -lf): the key's type and the
    unpadded base64 of the sha256 of its wire form."""
    import base64
    import hashlib
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    kind = key.get_name().replace("ssh-", "").split("-")[0].upper()
    return f"{kind} SHA256:{digest}"


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


_keys: dict = {}


def _private_key(path: str):
    """The unencrypted private key in PATH, read and parsed once per process (paramiko reads
    and parses the file again for every host, 0.3 ms each); None when it cannot be read so
    (encrypted, missing: paramiko then says why, as it always did)."""
    with _known_lock:
        if path not in _keys:
            try:
                _keys[path] = paramiko.PKey.from_path(path)
            except (OSError, paramiko.SSHException, ValueError, TypeError):
                _keys[path] = None
        return _keys[path]


_configs: dict = {}


def ssh_config(address: str) -> dict:
    """What the user's and the system's ssh config say for ADDRESS (the user's first, as ssh
    reads them), parsed once per process."""
    out: dict = {}
    for path in ("~/.ssh/config", "/etc/ssh/ssh_config"):
        path = os.path.expanduser(path)
        if path not in _configs:
            _configs[path] = paramiko.SSHConfig.from_path(path) if os.path.isfile(path) else None
        if _configs[path] is not None:
            for key, value in _configs[path].lookup(address).items():
                out.setdefault(key, value)
    return out


class ParamikoLink:
    """One paramiko connection to a host. CONN: the inventory's connection."""

    reused = False          # a new connection every run (OpenSshLink may reuse its master)

    def __init__(self, conn, connect_timeout: float, accept_new: bool):
        self.conn, self.connect_timeout, self.accept_new = conn, connect_timeout, accept_new
        self.client: Optional[paramiko.SSHClient] = None
        self._fabric = None

    def _client(self, host: str, port: int, known: str):
        client = paramiko.SSHClient()
        name = host if port == 22 else f"[{host}]:{port}"   # how paramiko looks it up
        for keytype, key in _known_keys(known, name).items():
            client.get_host_keys().add(name, keytype, key)
        client.set_missing_host_key_policy(AcceptNewPolicy(known) if self.accept_new else paramiko.RejectPolicy())
        return client

    def _kwargs(self, config: dict) -> dict:
        c = self.conn
        kwargs: dict = {"banner_timeout": self.connect_timeout, "auth_timeout": self.connect_timeout,
                        "timeout": self.connect_timeout}
        keys = [os.path.expanduser(c.key_file)] if c.key_file else [os.path.expanduser(k) for k in
                                                                     config.get("identityfile", [])]
        pkey = _private_key(keys[0]) if len(keys) == 1 and not c.password else None
        if pkey is not None:
            kwargs["pkey"] = pkey                        # read once for every host that uses it
            kwargs["look_for_keys"] = False
        elif keys:
            kwargs["key_filename"] = keys
            kwargs["look_for_keys"] = False
        if c.password:
            kwargs["password"] = c.password
        return kwargs

    def open(self) -> None:
        c = self.conn
        config = ssh_config(c.address)
        host = config.get("hostname", c.address)
        port = c.port or int(config.get("port", 22))
        known = os.path.expanduser(c.known_hosts or "~/.ssh/known_hosts")
        client = self._client(host, port, known)
        began = time.monotonic()
        try:
            if "proxyjump" in config or "proxycommand" in config:
                self._open_with_fabric(client, config)
            else:
                sock = socket.create_connection((host, port), timeout=self.connect_timeout)
                client.connect(host, port, username=c.user or config.get("user") or getpass.getuser(),
                               sock=PromptSocket(sock), **self._kwargs(config))
        except paramiko.BadHostKeyException as exc:
            raise Unreachable(f"host key for {c.address} CHANGED: expected {fingerprint(exc.expected_key)}, the host "
                              f"offers {fingerprint(exc.key)}; refusing to connect; check {known}") from None
        except paramiko.SSHException as exc:
            msg = str(exc)
            if "not found in known_hosts" in msg:
                msg = (f"host key of {c.address} is not in {known}; add it (ssh-keyscan) or pass "
                       f"--accept-new-host-keys")
            elif "banner" in msg or msg == "No existing session":   # how paramiko says the greeting never came
                msg = no_greeting(f"{c.address}:{port}", time.monotonic() - began, self.connect_timeout)
            raise Unreachable(msg) from None
        except (OSError, socket.timeout, EOFError) as exc:
            raise Unreachable(not_connected(f"{c.address}:{port}", exc, time.monotonic() - began,
                                            self.connect_timeout)) from None
        self.client = client
        sock = client.get_transport().sock
        if isinstance(sock, PromptSocket):
            sock.settimeout(IDLE_WAKE)

    def _open_with_fabric(self, client, config: dict) -> None:
        """Through the ssh config's ProxyJump or ProxyCommand: fabric's gateway does that."""
        from fabric import Connection as FabricConnection
        c = self.conn
        fab = FabricConnection(c.address, user=c.user, port=c.port, connect_timeout=self.connect_timeout,
                               connect_kwargs=self._kwargs(config))
        fab.client = client        # fabric's own client trusts any key (AutoAddPolicy): never that
        fab.open()
        self._fabric = fab

    def exec(self, command: str) -> "ParamikoChannel":
        chan = self.client.get_transport().open_session()
        chan.settimeout(None)
        chan.exec_command(command)
        return ParamikoChannel(chan)

    def close(self) -> None:
        if self._fabric is not None:
            self._fabric.close()
        elif self.client is not None:
            transport = self.client.get_transport()
            if transport is not None and isinstance(transport.sock, PromptSocket):
                try:        # wakes the transport's thread at once: it waits up to IDLE_WAKE otherwise
                    transport.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.client.close()
        self.client = self._fabric = None


def no_greeting(where: str, took: float, timeout: float) -> str:
    """What became of a connection that never brought an SSH greeting, and when: a server that
    closes at once (sshd over MaxStartups, a service that is not SSH) is not a silent one."""
    if took < timeout * 0.9:
        return (f"{where} accepted the connection and closed it after {took:.2f} s without an SSH greeting "
                f"(not an SSH server there, or sshd refusing new connections: MaxStartups)")
    return f"{where} accepted the connection but sent no SSH greeting within {timeout:g} s (-T/--timeout)"


def not_connected(where: str, exc: BaseException, took: float, timeout: float) -> str:
    """A TCP connection that failed, said as what happened and after how long."""
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection after {took:.2f} s (nothing listens on that port)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"no answer from {where} within {timeout:g} s (-T/--timeout): host down, or packets dropped"
    if isinstance(exc, EOFError):
        return f"{where} closed the connection after {took:.2f} s, during the SSH handshake"
    return f"cannot connect to {where} after {took:.2f} s: {exc}"


class ParamikoChannel:
    """The agent's command on one session channel: bytes in, stdout and stderr out."""

    def __init__(self, chan):
        self.chan = chan

    def send(self, data: bytes) -> None:
        self.chan.sendall(data)

    def shutdown_write(self) -> None:
        self.chan.shutdown_write()

    def pump(self, wait: float) -> tuple:
        """(stdout bytes, stderr bytes, open): what arrived within WAIT seconds; open is False
        once stdout ended or the connection is gone (a dead transport closes the channel
        without an EOF)."""
        import select
        select.select([self.chan], [], [], wait)
        err = b""
        while self.chan.recv_stderr_ready():
            err += self.chan.recv_stderr(65536)
        if self.chan.recv_ready():
            return self.chan.recv(65536), err, True
        transport = self.chan.get_transport()
        gone = self.chan.eof_received or self.chan.closed or transport is None or not transport.is_active()
        return b"", err, not gone

    def exit_status(self) -> int:
        return self.chan.recv_exit_status()

    def close(self) -> None:
        self.chan.close()
