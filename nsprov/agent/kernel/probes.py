"""Probes `verify` sends that need a party at the other end: UDP, answered by a responder the
agent starts where the address lives on this host and stops after; and a link's measured RTT,
loss and throughput between two namespaces (a ping train, then a timed TCP stream into a sink
the agent runs). Standard library only: no iperf, no netcat on the hosts."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Optional

from nsprov.agent.kernel import netns, rtdump

PROBE = b"nsprov-probe"


def netns_holding(address: str, sockets) -> Optional[str]:
    """The netns on this host ("" the host's own) with ADDRESS on one of its links, or None."""
    want = ipaddress.ip_address(address)
    for ns in ["", *netns.named_netns()]:
        try:
            found = rtdump.addresses(sockets.raw(ns))
        except OSError:
            continue
        if any(ipaddress.ip_interface(cidr).ip == want for _, cidr in found):
            return ns
    return None


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _socket(ns: str, address: str, kind: int) -> socket.socket:
    with netns.entered(ns):     # a socket belongs to the namespace it is made in
        return socket.socket(_family(address), kind)


class Responder:
    """Something answering at ADDRESS:PORT in NS while it is open: a UDP echo, or a TCP sink that
    reads and counts (STREAM). A port someone else serves already is theirs: nothing starts."""

    def __init__(self, ns: str, address: str, port: int, stream: bool = False):
        self.received, self._stop = 0, threading.Event()
        self.sock = _socket(ns, address, socket.SOCK_STREAM if stream else socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((address, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.settimeout(0.2)
        if stream:
            self.sock.listen(4)
        self._thread = threading.Thread(target=self._sink if stream else self._echo, daemon=True)
        self._thread.start()

    def _echo(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
                self.sock.sendto(data, peer)
            except (socket.timeout, OSError):
                continue

    def _sink(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(1.0)
                while not self._stop.is_set():
                    try:
                        chunk = conn.recv(1 << 16)
                    except (socket.timeout, OSError):
                        break
                    if not chunk:
                        break
                    self.received += len(chunk)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def responder(sockets, address: str, port: int, stream: bool = False) -> Optional[Responder]:
    """A responder where ADDRESS lives on this host; None when it lives elsewhere, or when the
    port is served already (then that server answers)."""
    ns = netns_holding(address, sockets)
    if ns is None:
        return None
    try:
        return Responder(ns, address, port, stream)
    except OSError:
        return None


def udp(src: str, address: str, port: int, grace: float, sockets) -> str:
    """'reached', 'refused' (a port unreachable or a reject came back) or 'no answer', for a
    datagram from netns SRC to ADDRESS:PORT, resent every 0.5 s for GRACE seconds (at least once)."""
    echo = responder(sockets, address, port)
    s = _socket(src, address, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    deadline = time.monotonic() + grace
    try:
        s.connect((address, port))
        while True:
            try:
                s.send(PROBE)
                if s.recv(2048) == PROBE:
                    return "reached"
            except ConnectionRefusedError:
                return "refused"
            except socket.timeout:
                pass
            if time.monotonic() >= deadline:
                return "no answer"
    finally:
        s.close()
        if echo is not None:
            echo.close()
