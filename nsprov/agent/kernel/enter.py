"""How to run a command inside a namespace set or a named netns: the `nsenter` argv that enters
it by its pins, and the directory the command starts in. Pure: argv is built, nothing is run."""

from __future__ import annotations

import os
from typing import Optional

NS_ROOT = "/run/nsprov/ns"
NETNS_DIR = "/run/netns"
ETC_NETNS = "/etc/netns"      # `ip netns exec NAME` puts ETC_NETNS/NAME/FILE over /etc/FILE
NAME_FILES = ("hosts", "resolv.conf")
KINDS = ("user", "mnt", "uts", "ipc", "pid", "net", "cgroup", "time")   # nsenter's order
_OPTION = {"user": "--user", "mnt": "--mount", "uts": "--uts", "ipc": "--ipc", "pid": "--pid", "net": "--net",
           "cgroup": "--cgroup", "time": "--time"}


def pin_path(name: str, kind: str) -> str:
    return os.path.join(NS_ROOT, name, kind)


def nsenter_args(name: str, kinds: list) -> list:
    """`nsenter` arguments that enter every kind of set NAME by its pins."""
    return ["nsenter", *(f"{_OPTION[k]}={pin_path(name, k)}" for k in KINDS if k in kinds)]


def etc_path(netns: str, file: str) -> str:
    return os.path.join(ETC_NETNS, netns, file)


def enter_prefix(target: dict, set_kinds: Optional[list], chdir: str = "/", names: bool = False) -> list:
    """argv prefix that runs a command in a namespace set, a named netns, or on the host. In a
    set with its own mount namespace the working directory is CHDIR there (nsenter's --wdns);
    elsewhere it is the process's own (see host_cwd). A netns with NAMES (its own hosts or
    resolv.conf under /etc/netns) is entered as `ip netns exec` does, which puts them over /etc."""
    if target.get("namespace"):
        wd = [f"--wdns={chdir}"] if "mnt" in (set_kinds or []) else []
        return [*nsenter_args(target["namespace"], set_kinds or []), *wd, "--"]
    if target.get("netns") and names:
        return ["ip", "netns", "exec", target["netns"]]
    if target.get("netns"):
        return ["nsenter", f"--net={os.path.join(NETNS_DIR, target['netns'])}", "--"]
    return []


def host_cwd(target: dict, set_kinds: Optional[list], chdir: str) -> str:
    """The working directory a command starts in on the host side: CHDIR, or / when nsenter
    changes to CHDIR itself inside the set's own mount namespace (see enter_prefix)."""
    return "/" if target.get("namespace") and "mnt" in (set_kinds or []) else chdir
