"""Facts: what this host's kernel offers and what exists on it now, read fresh at each request."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from typing import Optional

from nsprov.agent.kernel import netns
from nsprov.agent.kernel.sockets import Sockets, observe_links

NS_KINDS = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _int(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _tool_version(argv: list) -> Optional[str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if proc.returncode == 0 else None


def firewall_facts() -> dict:
    nft = shutil.which("nft")
    ipt = shutil.which("iptables")
    ipt_version = _tool_version([ipt, "--version"]) if ipt else None
    backend = None
    if ipt_version:
        backend = "nf_tables" if "nf_tables" in ipt_version else "legacy"
    return {
        "nft": {"path": nft, "version": _tool_version([nft, "--version"]) if nft else None},
        "iptables": {"path": ipt, "version": ipt_version, "backend": backend},
    }


def _support() -> dict:
    """Which link kinds and qdiscs the kernel has (kernel/support.py), asked of it."""
    from nsprov.agent.kernel.support import probe
    found = probe()
    return {"link_kinds": found.get("link_kinds"), "qdiscs": found.get("qdiscs")}


def observe_facts(managed: list) -> dict:
    kinds = sorted(k for k in os.listdir("/proc/self/ns") if k in NS_KINDS)
    names = netns.named_netns()
    links = {}
    with Sockets() as sockets:
        for ns in ["", *names]:
            try:
                links[ns] = [{k: v for k, v in x.items() if k != "data"} for x in observe_links(sockets.raw(ns))]
            except OSError as exc:   # a stale pin under /run/netns, for example
                links[ns] = {"error": str(exc)}
    return {
        "hostname": socket.gethostname(),
        "kernel": os.uname().release,
        "machine": os.uname().machine,
        "python": platform.python_version(),
        "namespace_kinds": kinds,
        "max_user_namespaces": _int(_read("/proc/sys/user/max_user_namespaces")),
        "ip_forward": _int(_read("/proc/sys/net/ipv4/ip_forward")),
        **firewall_facts(),
        **_support(),
        "netns": names,
        "links": links,
        "managed": managed,
    }
