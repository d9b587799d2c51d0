"""Ansible-compatible inventories: YAML and INI files, host ranges, group_vars/ and host_vars/.

The result means the same thing to nsprov and to Ansible: `as_ansible_list()` and `graph()`
print what `ansible-inventory --list` / `--graph` print (tested against ansible-core itself).

Variable precedence, lowest first (Ansible's documented order for inventory variables):
group vars from inventory files < group_vars/ files < host vars from inventory files <
host_vars/ files. Within each level groups apply by (depth, ansible_group_priority, name), so a
child group beats its parent and `all` loses to everything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from nsprov.controller.yamlsrc import InputError, Problem

GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass
class Group:
    name: str
    vars: dict = field(default_factory=dict)           # from inventory files
    file_vars: dict = field(default_factory=dict)      # from group_vars/
    hosts: list[str] = field(default_factory=list)     # direct members, in order of appearance
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    depth: int = 0

    @property
    def priority(self) -> int:
        try:
            return int(self.vars.get("ansible_group_priority", 1))   # a group_vars/ file's is just a variable
        except (TypeError, ValueError):
            return 1


@dataclass
class Host:
    name: str
    vars: dict = field(default_factory=dict)           # from inventory files
    file_vars: dict = field(default_factory=dict)      # from host_vars/
    groups: list[str] = field(default_factory=list)    # direct groups


@dataclass(frozen=True)
class Connection:
    """How to reach one host, from its merged variables."""
    name: str
    address: str
    port: Optional[int]
    user: Optional[str]
    key_file: Optional[str]
    password: Optional[str]
    become: bool
    become_user: str
    become_password: Optional[str]
    known_hosts: Optional[str]
    python: str
    transport: str = "paramiko"            # ansible_connection: paramiko (default) or ssh (OpenSSH)
    ssh_common_args: Optional[str] = None  # ansible_ssh_common_args (the ssh connection only)
    ssh_extra_args: Optional[str] = None   # ansible_ssh_extra_args
    ssh_executable: Optional[str] = None   # ansible_ssh_executable
    control_path_dir: Optional[str] = None  # ansible_control_path_dir (default ~/.nsprov/cp)

    def __repr__(self) -> str:   # never print secrets
        return f"Connection({self.name!r}, {self.user or ''}@{self.address}:{self.port or 22}, become={self.become})"


TRANSPORTS = {None: "paramiko", "paramiko": "paramiko", "ssh": "ssh", "smart": "ssh"}


def _transport(host: str, value: Any) -> str:
    """ansible_connection as nsprov reads it: paramiko (the default), or the OpenSSH client for
    `ssh` and Ansible's `smart` (which is ssh wherever ControlPersist works)."""
    if value not in TRANSPORTS:
        raise InputError([Problem("inventory", 0, f"{host}.ansible_connection",
                                  f"{value!r}: nsprov reaches hosts over SSH: use ssh, smart or paramiko")])
    return TRANSPORTS[value]


def _json_keys(value):
    """VALUE with every mapping key as the string JSON writes for it (`1:` deep in a var is
    "1"), so that the listing sorts and prints as ansible-inventory's does."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else json.dumps(k): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_keys(v) for v in value]
    return value


class Inventory:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, Host] = {}
        self.add_group("all")
        self.add_group("ungrouped")
        self.add_child("all", "ungrouped")

    # ------------------------------------------------------------ building
    def add_group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name)
        return self.groups[name]

    def add_host(self, name: str, group: Optional[str] = None) -> Host:
        host = self.hosts.setdefault(name, Host(name))
        group = group or "all"
        self.add_group(group)
        if name not in self.groups[group].hosts:
            self.groups[group].hosts.append(name)
        if group not in host.groups:
            host.groups.append(group)
        return host

    def add_child(self, parent: str, child: str) -> None:
        p, c = self.add_group(parent), self.add_group(child)
        if child not in p.children:
            p.children.append(child)
        if parent not in c.parents:
            c.parents.append(parent)
        self._deepen(c, p.depth + 1)

    def _deepen(self, group: Group, depth: int, seen: Optional[set] = None) -> None:
        seen = seen or set()
        if group.name in seen:
            raise InputError([Problem("", 0, group.name, "group is its own ancestor (a cycle in children)")])
        if depth > group.depth:
            group.depth = depth
        for child in group.children:
            self._deepen(self.groups[child], group.depth + 1, seen | {group.name})

    def reconcile(self) -> None:
        """What Ansible does after parsing: orphan groups under `all`, lone hosts in `ungrouped`."""
        for g in list(self.groups.values()):
            if g.name not in ("all", "ungrouped") and not g.parents:
                self.add_child("all", g.name)
        ungrouped = self.groups["ungrouped"]
        for h in self.hosts.values():
            others = [g for g in h.groups if g not in ("all", "ungrouped")]
            if others and "ungrouped" in h.groups:
                h.groups.remove("ungrouped")
                ungrouped.hosts.remove(h.name)
            elif not others and "ungrouped" not in h.groups:
                h.groups.append("ungrouped")
                ungrouped.hosts.append(h.name)

    # ------------------------------------------------------------ reading
    def ancestors(self, group: str) -> list[str]:
        out: list[str] = []
        stack = list(self.groups[group].parents)
        while stack:
            g = stack.pop()
            if g not in out:
                out.append(g)
                stack.extend(self.groups[g].parents)
        return out

    def groups_of(self, host: str) -> list[Group]:
        """Direct groups and their ancestors, sorted the way Ansible applies their vars."""
        names = set()
        for g in self.hosts[host].groups:
            names.add(g)
            names.update(self.ancestors(g))
        names.add("all")
        return sorted((self.groups[n] for n in names), key=lambda g: (g.depth, g.priority, g.name))

    def host_vars(self, host: str) -> dict:
        merged: dict = {}
        groups = self.groups_of(host)
        for g in groups:
            merged.update(g.vars)
        merged.pop("ansible_group_priority", None)   # the inventory's group priority is consumed by Ansible;
        for g in groups:                             # in a group_vars/ file or a host's vars it is a variable
            merged.update(g.file_vars)
        merged.update(self.hosts[host].vars)
        merged.update(self.hosts[host].file_vars)
        return merged

    def group_hosts(self, group: str) -> list[str]:
        """Every host in a group or its descendants, in inventory order."""
        seen: list[str] = []

        def walk(name: str) -> None:
            g = self.groups[name]
            for h in g.hosts:
                if h not in seen:
                    seen.append(h)
            for c in g.children:
                walk(c)
        walk(group)
        if group == "all":
            seen += [h for h in self.hosts if h not in seen]
        return seen

    def connection(self, host: str) -> Connection:
        v = self.host_vars(host)

        def opt(*keys: str) -> Any:
            for k in keys:
                if v.get(k) not in (None, ""):
                    return v[k]
            return None
        port = opt("ansible_port", "ansible_ssh_port")
        try:
            port = int(port) if port is not None else None
            if port is not None and not 1 <= port <= 65535:
                raise ValueError
        except (TypeError, ValueError):
            raise InputError([Problem("inventory", 0, f"{host}.ansible_port", f"invalid port {port!r}")]) from None
        return Connection(
            name=host,
            address=str(opt("ansible_host", "ansible_ssh_host") or host),
            port=port,
            user=opt("ansible_user", "ansible_ssh_user"),
            key_file=opt("ansible_ssh_private_key_file", "ansible_private_key_file"),
            password=opt("ansible_password", "ansible_ssh_pass"),
            become=_truthy(opt("ansible_become")),
            become_user=str(opt("ansible_become_user") or "root"),
            become_password=opt("ansible_become_password", "ansible_become_pass"),
            known_hosts=opt("nsprov_known_hosts"),
            python=str(opt("ansible_python_interpreter") or "python3"),
            transport=_transport(host, opt("ansible_connection")),
            ssh_common_args=opt("ansible_ssh_common_args"),
            ssh_extra_args=opt("ansible_ssh_extra_args"),
            ssh_executable=opt("ansible_ssh_executable"),
            control_path_dir=opt("ansible_control_path_dir"),
        )

    # ------------------------------------------------------------ Ansible's views
    def as_ansible_list(self) -> dict:
        """The structure `ansible-inventory --list` prints."""
        out: dict = {"_meta": {"hostvars": {}, "profile": "inventory_legacy"}}

        def fmt(name: str, seen: set) -> None:
            g = self.groups[name]
            entry: dict = {}
            if name != "all" and g.hosts:
                entry["hosts"] = list(g.hosts)
            if g.children:
                entry["children"] = list(g.children)
            if entry:
                out[name] = entry
            for c in g.children:
                if c not in seen:
                    seen.add(c)
                    fmt(c, seen)
        fmt("all", {"all"})
        for h in self.group_hosts("all"):
            hv = self.host_vars(h)
            if hv:
                out["_meta"]["hostvars"][h] = _json_keys(hv)
        return out

    def graph(self, group: str = "all") -> str:
        lines = [f"@{group}:"]

        def walk(name: str, depth: int) -> None:
            g = self.groups[name]
            for c in g.children:
                lines.append(f"{'  |' * depth}--@{c}:")
                walk(c, depth + 1)
            for h in g.hosts if name != "all" else []:
                lines.append(f"{'  |' * depth}--{h}")
        walk(group, 1)
        return "\n".join(lines)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)
