"""Probes `verify` sends that need a party at the other end: UDP, answered by a responder the
agent starts where the address lives on this host and stops after; and a link's measured RTT,
loss and throughput between two namespaces (a ping train, then a timed TCP stream into a sink
the agent runs). Standard library only: no iperf, no netcat on the hosts."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
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


# ------------------------------------------------------------------ a link, measured
STREAM_PORT = 5201       # iperf's: a throughput probe's sink, where the address lives
WARMUP, MEASURE = 0.5, 2.0


def ping_train(src: str, address: str, count: int) -> tuple:
    """(sent, received, median RTT in ms or None) of COUNT echoes from netns SRC, 10 ms apart.
    The median, not the mean: a host that stalls for a moment (a busy VM) delays a run of echoes
    by as long, which moves the mean far from what the link does."""
    import re
    import statistics
    import subprocess
    prefix = ["nsenter", f"--net={netns.netns_path(src)}", "--"] if src else []
    proc = subprocess.run([*prefix, "ping", "-6" if ":" in address else "-4", "-n", "-c", str(count), "-i",
                           "0.01", "-W", "2", address], capture_output=True, text=True, timeout=count * 0.05 + 30,
                          stdin=subprocess.DEVNULL)
    sent = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", proc.stdout)
    times = [float(t) for t in re.findall(r"time=([0-9.]+) ms", proc.stdout)]
    if sent is None:
        raise OSError(f"ping gave no summary: {(proc.stderr or proc.stdout).strip()[-200:]}")
    return int(sent.group(1)), int(sent.group(2)), statistics.median(times) if times else None


def goodput(src: str, address: str, sockets) -> tuple:
    """(Mbit/s of TCP payload from SRC to ADDRESS over MEASURE seconds, after WARMUP; the share of
    the link's bytes that payload is: MSS over MSS plus TCP (with timestamps), IP and Ethernet
    headers). The sink runs where ADDRESS lives on this host."""
    sink = responder(sockets, address, STREAM_PORT, stream=True)
    if sink is None:
        raise OSError(f"no sink for {address}: a throughput probe needs the address on this host, with tcp port "
                      f"{STREAM_PORT} free")
    s = _socket(src, address, socket.SOCK_STREAM)
    try:
        s.settimeout(5)
        s.connect((address, STREAM_PORT))
        mss = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
        chunk, began = b"\0" * (1 << 16), time.monotonic()
        marks = []
        while True:
            now = time.monotonic() - began
            if not marks and now >= WARMUP or len(marks) == 1 and now >= WARMUP + MEASURE:
                marks.append((time.monotonic(), sink.received))
                if len(marks) == 2:
                    break
            s.send(chunk)
        (t0, b0), (t1, b1) = marks
        header = 12 + 20 + (40 if ":" in address else 20) + 14
        return (b1 - b0) * 8 / (t1 - t0) / 1e6, mss / (mss + header)
    finally:
        s.close()
        sink.close()


def _within(measured: float, declared: float, tolerance: dict, floor: float = 0.0) -> tuple:
    allowed = max(declared * tolerance["percent"] / 100, floor)
    return abs(measured - declared) <= allowed, allowed


def measure_link(entry: dict, sockets, check) -> list:
    """The checks of one `link` entry {from, to, rtt ('NNNus'), loss (%), rate ('NNNbit'), count,
    tolerance {percent, ms}}: CHECK(name, subject, expected, observed, passed) for each."""
    src, dst, tol = entry["from"], entry["to"], entry["tolerance"]
    rtt_us = int(entry["rtt"][:-2]) if entry["rtt"] is not None else None
    rate = int(entry["rate"][:-3]) if entry["rate"] is not None else None
    subject = f"{src or 'host'} -> {dst}"
    out = []
    if entry["rtt"] is not None or entry["loss"] is not None:
        sent, got, rtt = ping_train(src, dst, entry["count"])
        if rtt_us is not None:
            want = rtt_us / 1000
            ok, allowed = _within(rtt if rtt is not None else float("inf"), want, tol, tol["ms"])
            out.append(check("link: rtt", subject, f"{want:g} ms ± {allowed:.3g} ms",
                             f"{rtt:.3f} ms median of {got}" if rtt is not None else "no reply", ok))
        if entry["loss"] is not None:
            p, measured = entry["loss"] / 100, 100 * (1 - got / sent) if sent else 100.0
            # the sampling error of SENT probes: 3 sigma, and one probe's worth
            noise = max(300 * (p * (1 - p) / sent) ** 0.5, 100 / sent if p else 0) if sent else 100
            ok, allowed = _within(measured, entry["loss"], tol, noise)
            out.append(check("link: loss", subject, f"{entry['loss']:g} % ± {allowed:.3g}",
                             f"{measured:.3g} % ({sent - got} of {sent} lost)", ok))
    if rate is not None:
        try:
            mbit, share = goodput(src, dst, sockets)
            want = rate / 1e6 * share
            ok, allowed = _within(mbit, want, tol)
            observed = f"{mbit:.3g} Mbit/s of TCP payload"
        except OSError as exc:
            want, ok, allowed, observed = rate / 1e6, False, 0, f"error: {exc}"
        out.append(check("link: throughput", subject, f"{want:.3g} Mbit/s ± {allowed:.3g} (the rate less headers)",
                         observed, ok))
    return out


# ------------------------------------------------------------------ the path packets take
TRACE_PORT = 33434       # traceroute's first port: one above it per hop
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3
_RECVERR = {socket.AF_INET: (socket.IPPROTO_IP, 11), socket.AF_INET6: (socket.IPPROTO_IPV6, 25)}
_EXPIRED = {socket.AF_INET: 11, socket.AF_INET6: 3}         # ICMP time exceeded
_UNREACHABLE = {socket.AF_INET: 3, socket.AF_INET6: 1}      # ICMP destination unreachable


def _hop(src: str, address: str, ttl: int, wait: float) -> tuple:
    """(who answered a UDP probe sent from SRC to ADDRESS with TTL hops to live, or None; whether
    it came from the end): read from the socket's error queue, as tracepath does (no raw socket)."""
    import select
    import struct
    family = _family(address)
    s = _socket(src, address, socket.SOCK_DGRAM)
    try:
        level, recverr = _RECVERR[family]
        s.setsockopt(level, recverr, 1)
        if family == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        s.connect((address, TRACE_PORT + ttl))
        s.send(PROBE)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            select.select([], [], [s], max(0.0, deadline - time.monotonic()))
            try:
                _, ancillary, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            for cmsg_level, cmsg_type, data in ancillary:
                if (cmsg_level, cmsg_type) != (level, recverr) or len(data) < 16 + 8:
                    continue
                _errno, origin, kind, _code = struct.unpack_from("=IBBB", data, 0)
                if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                    continue
                offender = socket.inet_ntop(family, data[20:24] if family == socket.AF_INET else data[24:40])
                return offender, kind == _UNREACHABLE[family]
            return None, False
        return None, False
    finally:
        s.close()


def trace(src: str, address: str, max_hops: int, wait: float = 1.0) -> list:
    """The hops from netns SRC towards ADDRESS, one TTL-limited probe each (a second when the
    first gets no answer: ICMP is rate-limited): [address or None], ending with ADDRESS when it
    answered."""
    hops = []
    for ttl in range(1, max_hops + 1):
        who, end = _hop(src, address, ttl, wait)
        if who is None:
            who, end = _hop(src, address, ttl, wait)
        hops.append(who)
        if end:
            break
    return hops


def _route_seen(entry: dict) -> Optional[dict]:
    """The route to PREFIX in NODE's main table as `ip -j route` shows it, or None."""
    proc = subprocess.run(["ip", "-n", entry["node"], "-j", "route", "show", "exact", entry["prefix"]],
                          capture_output=True, text=True, timeout=10)
    found = json.loads(proc.stdout or "[]") if proc.returncode == 0 else []
    return found[0] if found else None


def check_route(entry: dict, check) -> dict:
    """A route to PREFIX in NODE, from PROTOCOL and through VIA (one of its next hops, ECMP too),
    polled every 0.2 s until it is there or WITHIN seconds have passed."""
    want = " ".join(x for x in (entry["prefix"], entry["via"] and f"via {entry['via']}",
                                entry["protocol"] and f"proto {entry['protocol']}") if x)
    deadline, began = time.monotonic() + entry["within"], time.monotonic()
    while True:
        route = _route_seen(entry)
        hops = [h.get("gateway") for h in (route or {}).get("nexthops") or [route or {}]]
        ok = route is not None and (entry["via"] is None or entry["via"] in hops) and (
            entry["protocol"] is None or route.get("protocol") == entry["protocol"])
        if ok or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    seen = "no such route" if route is None else " ".join(
        x for x in (entry["prefix"], "via " + ",".join(h for h in hops if h) if any(hops) else "",
                    f"proto {route.get('protocol')}", f"after {time.monotonic() - began:.1f} s" if ok else "") if x)
    return check("routes", f"{entry['node']}: {entry['prefix']}", want, seen, ok)
