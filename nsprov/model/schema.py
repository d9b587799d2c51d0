"""Playbook modules and their parameters: one table, checked on the controller (with file:line)
and again by the agent (defence in depth). Standard library only.

Every validator returns the normalised value or raises ValueError with a message that names
the rule broken ("interface name 'x' is 16 bytes; the kernel allows 15").
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

IFNAMSIZ = 16
_NETNS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_NETNS_RULE = "use 1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)"   # what _NETNS_NAME allows
_SYSCTL = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$")


# ------------------------------------------------------------------ value validators
def ifname(value: Any) -> str:
    """The kernel's dev_valid_name(): 1..15 bytes, not '.' or '..', no '/', ':' or whitespace."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"interface name must be a non-empty string, not {value!r}")
    size = len(value.encode())
    if size >= IFNAMSIZ:
        raise ValueError(f"interface name {value!r} is {size} bytes; the kernel allows {IFNAMSIZ - 1}")
    if value in (".", "..") or any(c in value for c in "/:") or any(c.isspace() for c in value):
        raise ValueError(f"interface name {value!r} is not allowed: no '/', ':', whitespace, '.' or '..'")
    if not value.isprintable():
        raise ValueError(f"interface name {value!r} has unprintable characters")
    return value


def netns_name(value: Any) -> str:
    """A named network namespace is a file under /run/netns: keep it to a safe portable set."""
    if value in ("", None):
        return ""
    if not isinstance(value, str) or not _NETNS_NAME.match(value):
        raise ValueError(f"netns name {value!r} is not allowed: {_NETNS_RULE}")
    return value


def own_name(value: Any) -> str:
    """The name of a namespace a task makes: a netns name, and never empty (empty means the
    host's own namespaces wherever a task refers to one)."""
    name = netns_name(value)
    if not name:
        raise ValueError(f"must be a non-empty name: {_NETNS_RULE}")
    return name


def cidr(value: Any) -> str:
    """An interface address with its prefix: 10.0.0.1/24 or 2001:db8::1/64. The unspecified
    address and a /0 prefix are refused: the kernel never keeps such an address on a link (every
    run would report it changed), and 0.0.0.0/0 is a route, not an address."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"address {value!r} needs a prefix length, like 10.0.0.1/24")
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError(f"invalid address {value!r}") from None
    if iface.ip.is_unspecified or iface.network.prefixlen == 0:
        raise ValueError(f"{value} is not an interface address (unspecified address or /0 prefix); "
                         f"for a default route use a route task with to: default")
    return str(iface)


def cidr_list(value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"expected a list of addresses like [10.0.0.1/24], not {value!r}")
    out = [cidr(v) for v in value]
    seen: dict = {}
    for a in out:
        ip_ = a.split("/")[0]
        if ip_ in seen:
            raise ValueError(f"address {ip_} is listed twice ({seen[ip_]} and {a})")
        seen[ip_] = a
    return out


def network(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a network like 10.0.0.0/24, not {value!r}")
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"invalid network {value!r}") from None


def route_dst(value: Any) -> str:
    if value in ("default", "0.0.0.0/0"):
        return "default"
    return network(value)


def ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"invalid IP address {value!r}") from None


def ip_port(value: Any) -> str:
    if not isinstance(value, str) or value.count(":") != 1:
        raise ValueError(f"expected ADDRESS:PORT like 10.2.0.2:80, not {value!r}")
    addr, port_s = value.split(":")
    return f"{ip(addr)}:{port(port_s)}"


_WHOLE_NUMBER = re.compile(r"^-?[0-9]+$")


def integer(value: Any, what: str = "value") -> int:
    """A whole number: an int, or a string of digits (templates render to strings). Floats,
    booleans and padded strings are refused, never truncated: 80.9 is not port 80."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WHOLE_NUMBER.match(value):
        return int(value)
    raise ValueError(f"{what} must be a whole number, not {value!r}")


def _int_in(value: Any, what: str, low: int, high: int) -> int:
    """A whole number within low..high."""
    n = integer(value, what)
    if not low <= n <= high:
        raise ValueError(f"{what} {n} is outside {low}-{high}")
    return n


def port(value: Any) -> int:
    return _int_in(value, "port", 1, 65535)


def mtu(value: Any) -> int:
    return _int_in(value, "mtu", 68, 65535)


def metric(value: Any) -> int:
    """A route's priority: the kernel keeps it in 32 bits."""
    return _int_in(value, "metric", 0, 2 ** 32 - 1)


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "true", "on", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("no", "false", "off", "0"):
        return False
    raise ValueError(f"expected true or false, not {value!r}")


def sysctl_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"invalid sysctl name {value!r}")
    value = value.replace("/", ".")
    if not _SYSCTL.match(value) or ".." in value:
        raise ValueError(f"invalid sysctl name {value!r}")
    return value


def sysctl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if not isinstance(value, (int, str)) or "\n" in str(value):
        raise ValueError(f"invalid sysctl value {value!r}")
    return str(value).strip()


def choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, not {value!r}")
        return value
    return check


state = choice("present", "absent")


# ------------------------------------------------------------------ modules
@dataclass(frozen=True)
class Param:
    check: Callable[[Any], Any]
    required: bool = False
    default: Any = None


MODULES: dict[str, dict[str, Param]] = {
    "netns": {
        "name": Param(own_name, required=True),
        "state": Param(state, default="present"),
    },
    "bridge": {
        "name": Param(ifname, required=True),
        "netns": Param(netns_name, default=""),
        "addresses": Param(cidr_list, default=[]),
        "mtu": Param(mtu),
        "stp": Param(boolean, default=False),
        "up": Param(boolean, default=True),
        "allow_management_overlap": Param(boolean, default=False),
        "state": Param(state, default="present"),
    },
    "veth": {
        "name": Param(ifname, required=True),
        "netns": Param(netns_name, default=""),
        "peer": Param(ifname, required=True),
        "peer_netns": Param(netns_name, default=""),
        "bridge": Param(ifname),
        "peer_bridge": Param(ifname),
        "addresses": Param(cidr_list, default=[]),
        "peer_addresses": Param(cidr_list, default=[]),
        "mtu": Param(mtu),
        "up": Param(boolean, default=True),
        "allow_management_overlap": Param(boolean, default=False),
        "state": Param(state, default="present"),
    },
    "address": {
        "interface": Param(ifname, required=True),
        "netns": Param(netns_name, default=""),
        "address": Param(cidr, required=True),
        "allow_management_overlap": Param(boolean, default=False),
        "state": Param(state, default="present"),
    },
    "route": {
        "to": Param(route_dst, required=True),
        "netns": Param(netns_name, default=""),
        "via": Param(ip),
        "dev": Param(ifname),
        "metric": Param(metric),
        "allow_management_overlap": Param(boolean, default=False),
        "state": Param(state, default="present"),
    },
    "sysctl": {
        "name": Param(sysctl_name, required=True),
        "value": Param(sysctl_value),
        "netns": Param(netns_name, default=""),
        "state": Param(state, default="present"),
    },
    "nat": {
        "source": Param(network, required=True),
        "out_interface": Param(ifname, required=True),
        "netns": Param(netns_name, default=""),
        "state": Param(state, default="present"),
    },
    "port_forward": {
        "protocol": Param(choice("tcp", "udp"), default="tcp"),
        "port": Param(port, required=True),
        "to": Param(ip_port, required=True),
        "netns": Param(netns_name, default=""),
        "in_interface": Param(ifname),
        "state": Param(state, default="present"),
    },
}

NS_KINDS = ("uts", "ipc", "pid", "mnt", "user", "net", "cgroup", "time")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_PROC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MOUNT_OPTS = re.compile(r"^[A-Za-z0-9_=,.]*$")


def kinds(value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise ValueError(f"kinds must be a non-empty list of {', '.join(NS_KINDS)}")
    out = []
    for k in value:
        if k not in NS_KINDS:
            raise ValueError(f"unknown namespace kind {k!r} (expected {', '.join(NS_KINDS)})")
        if k not in out:
            out.append(k)
    return out


def hostname(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 64 or not _HOSTNAME.match(value):
        raise ValueError(f"invalid hostname {value!r}")
    return value


def id_map(value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a list like [{inside: 0, outside: 100000, count: 65536}]")
    out = []
    for m in value:
        if not isinstance(m, dict) or set(m) != {"inside", "outside", "count"}:
            raise ValueError(f"each map entry needs exactly inside, outside and count, not {m!r}")
        try:
            e = {k: integer(m[k], k) for k in ("inside", "outside", "count")}
        except ValueError as exc:
            raise ValueError(f"map entry {m!r}: {exc}") from None
        if e["inside"] < 0 or e["outside"] < 0 or e["count"] < 1 or e["outside"] + e["count"] > 2 ** 32 - 1 \
                or e["inside"] + e["count"] > 2 ** 32 - 1:
            raise ValueError(f"map entry {m!r} is out of range")
        out.append(e)
    return out


def abs_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value or "/../" in value + "/":
        raise ValueError(f"expected an absolute path without '..', not {value!r}")
    return value


def mounts(value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("mounts must be a list of {type: tmpfs|bind, target: /path, ...}")
    out = []
    for m in value:
        if not isinstance(m, dict) or m.get("type") not in ("tmpfs", "bind"):
            raise ValueError(f"each mount needs type tmpfs or bind, not {m!r}")
        extra = set(m) - {"type", "target", "source", "options"}
        if extra:
            raise ValueError(f"unknown mount keys {sorted(extra)}")
        e = {"type": m["type"], "target": abs_path(m.get("target"))}
        if m["type"] == "bind":
            e["source"] = abs_path(m.get("source"))
        opts = m.get("options") or ""
        if not isinstance(opts, str) or not _MOUNT_OPTS.match(opts):
            raise ValueError(f"mount options {opts!r} may only hold letters, digits and _=,.")
        e["options"] = opts
        out.append(e)
    return out


def proc_name(value: Any) -> str:
    if not isinstance(value, str) or not _PROC_NAME.match(value):
        raise ValueError(f"name {value!r} is not allowed: use 1-64 of A-Z a-z 0-9 _ . -")
    return value


def command(value: Any) -> list:
    if isinstance(value, str):
        raise ValueError("command must be a list of arguments (argv), never a shell string: "
                         "write [sh, -c, '...'] if you need a shell")
    if not isinstance(value, list) or not value or not all(isinstance(a, (str, int, float)) for a in value):
        raise ValueError(f"command must be a non-empty list of arguments, not {value!r}")
    if any(isinstance(a, bool) for a in value):
        raise ValueError(f"command {value!r} holds a YAML boolean: quote it ('true', 'yes')")
    if any(isinstance(a, float) for a in value):
        raise ValueError(f"command {value!r} holds a number with a fraction: quote it ('1.5')")
    out = [str(a) for a in value]
    if any("\0" in a for a in out):
        raise ValueError("command arguments may not contain NUL")
    if not out[0]:
        raise ValueError("the command's first argument (the program) is empty")
    return out


def env(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k)
                                              for k in value):
        raise ValueError("env must be a mapping of NAME: value")
    return {k: str(v) for k, v in value.items()}


def name_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("expected a list of namespace names")
    return [netns_name(v) for v in value]


def reach_list(value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("expected a list of {from: NAMESPACE, to: ADDRESS, port: N}")
    out = []
    for r in value:
        if not isinstance(r, dict) or "to" not in r or set(r) - {"from", "to", "port"}:
            raise ValueError(f"each entry needs to (and optional from, port), not {r!r}")
        out.append({"from": netns_name(r.get("from", "")), "to": ip(r["to"]),
                    "port": port(r["port"]) if r.get("port") is not None else None})
    return out


def hostname_checks(value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(h, dict) and set(h) == {"namespace", "equals"}
                                              for h in value):
        raise ValueError("expected a list of {namespace: NAME, equals: HOSTNAME}")
    return [{"namespace": netns_name(h["namespace"]), "equals": hostname(h["equals"])} for h in value]


def uid_checks(value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(h, dict) and set(h) == {"namespace", "inside", "outside"}
                                              for h in value):
        raise ValueError("expected a list of {namespace: NAME, inside: 0, outside: 100000}")
    return [{"namespace": netns_name(h["namespace"]), "inside": integer(h["inside"], "inside"),
             "outside": integer(h["outside"], "outside")} for h in value]


MODULES.update({
    "namespace": {
        "name": Param(own_name, required=True),
        "kinds": Param(kinds, required=True),
        "hostname": Param(hostname),
        "domainname": Param(hostname),
        "uid_map": Param(id_map),
        "gid_map": Param(id_map),
        "mounts": Param(mounts, default=[]),
        "allow_host_root": Param(boolean, default=False),
        "state": Param(state, default="present"),
    },
    "process": {
        "name": Param(proc_name, required=True),
        "namespace": Param(netns_name, default=""),
        "netns": Param(netns_name, default=""),
        "command": Param(command),
        "env": Param(env, default={}),
        "chdir": Param(abs_path, default="/"),
        "state": Param(state, default="present"),
    },
    "exec": {
        "command": Param(command, required=True),
        "namespace": Param(netns_name, default=""),
        "netns": Param(netns_name, default=""),
        "creates": Param(abs_path),
        "changed_when": Param(boolean, default=True),
        "env": Param(env, default={}),
        "chdir": Param(abs_path, default="/"),
    },
    "verify": {
        "isolation": Param(name_list, default=[]),
        "reach": Param(reach_list, default=[]),
        "no_reach": Param(reach_list, default=[]),
        "hostname": Param(hostname_checks, default=[]),
        "ipc_isolated": Param(name_list, default=[]),
        "pid1": Param(name_list, default=[]),
        "mount_isolated": Param(name_list, default=[]),
        "uid_map": Param(uid_checks, default=[]),
        "isolated_from_host": Param(name_list, default=[]),
    },
})

NETWORK_MODULES = ("netns", "bridge", "veth", "address", "route", "sysctl", "nat", "port_forward")


def validate_params(module: str, params: Any) -> tuple[dict, list[tuple[str, str]]]:
    """Normalise one task's parameters. Returns (params, [(field, message), ...])."""
    problems: list[tuple[str, str]] = []
    schema = MODULES.get(module)
    if schema is None:
        return {}, [("", f"unknown module {module!r}")]
    if not isinstance(params, dict):
        return {}, [("", f"{module} takes a mapping of parameters, not {type(params).__name__}")]
    out: dict = {}
    for key in params:
        if key not in schema:
            problems.append((str(key), f"unknown parameter for {module} "
                                       f"(expected one of: {', '.join(sorted(schema))})"))
    for key, spec in schema.items():
        if key not in params or params[key] is None:
            if spec.required:
                problems.append((key, "is required"))
            out[key] = list(spec.default) if isinstance(spec.default, list) else spec.default
            continue
        try:
            out[key] = spec.check(params[key])
        except (ValueError, TypeError) as exc:
            problems.append((key, str(exc)))
    if module == "sysctl" and out.get("state") == "present" and out.get("value") is None and "value" in schema:
        if not any(f == "value" for f, _ in problems):
            problems.append(("value", "is required when state is present"))
    if module == "sysctl" and out.get("netns") and out.get("name") and not str(out["name"]).startswith("net."):
        problems.append(("name", f"{out['name']} is not a per-network-namespace sysctl (only net.* are)"))
    if module == "route" and out.get("state") == "present" and not out.get("via") and not out.get("dev"):
        problems.append(("via", "a route needs via or dev"))
    if module == "namespace" and isinstance(out.get("kinds"), list):
        k = out["kinds"]
        for fld, need in (("hostname", "uts"), ("domainname", "uts"), ("uid_map", "user"), ("gid_map", "user")):
            if out.get(fld) and need not in k:
                problems.append((fld, f"needs kind {need} in kinds"))
        if out.get("mounts") and "mnt" not in k:
            problems.append(("mounts", "needs kind mnt in kinds"))
        if "user" in k and out.get("state") == "present":
            for fld in ("uid_map", "gid_map"):
                if not out.get(fld) and not any(f == fld for f, _ in problems):
                    problems.append((fld, "is required with kind user (e.g. [{inside: 0, outside: 100000, "
                                          "count: 65536}])"))
        for fld, what in (("uid_map", "uid"), ("gid_map", "gid")):
            root = next((m for m in out.get(fld) or [] if m["outside"] == 0), None)
            if root is not None and not out.get("allow_host_root"):
                problems.append((fld, f"maps {what} {root['inside']} inside to {what} 0 on the host: root there "
                                      f"would be root here, with no user isolation; map to an unprivileged "
                                      f"range (outside: 100000), or set allow_host_root: true if that is meant"))
    if module == "veth":
        ends = {a.split("/")[0] for a in out.get("addresses") or []}
        both = [a for a in out.get("peer_addresses") or [] if a.split("/")[0] in ends]
        if both:
            problems.append(("peer_addresses", f"{both[0]} is also on the other end ({out['name']}): the two ends "
                                               f"of a veth need different addresses"))
    if module in ("process", "exec") and out.get("namespace") and out.get("netns"):
        problems.append(("netns", "give namespace (a namespace set) or netns, not both"))
    if module == "process" and out.get("state") == "present" and not out.get("command"):
        if not any(f == "command" for f, _ in problems):
            problems.append(("command", "is required when state is present"))
    if module == "verify" and not any(out.get(k) for k in MODULES["verify"]):
        problems.append(("", "verify needs at least one check"))
    return out, problems


def object_name(module: str, params: dict) -> str:
    """A short human name for what a task manages: `veth veth0<->netns1/veth1`."""
    p = params
    if module == "netns":
        return f"netns {p['name']}"
    if module in ("bridge",):
        return f"bridge {_in(p['netns'])}{p['name']}"
    if module == "veth":
        return f"veth {_in(p['netns'])}{p['name']}<->{_in(p['peer_netns'])}{p['peer']}"
    if module == "address":
        return f"address {p['address']} on {_in(p['netns'])}{p['interface']}"
    if module == "route":
        return f"route {_in(p['netns'])}{p['to']}"
    if module == "sysctl":
        return f"sysctl {_in(p['netns'])}{p['name']}"
    if module == "nat":
        return f"nat {_in(p['netns'])}{p['source']} out {p['out_interface']}"
    if module == "port_forward":
        return f"port_forward {_in(p['netns'])}{p['protocol']}/{p['port']} -> {p['to']}"
    if module == "namespace":
        return f"namespace {p['name']} ({' '.join(p['kinds'])})"
    if module == "process":
        return f"process {p['name']}" + (f" in {p['namespace'] or p['netns']}" if p['namespace'] or p['netns'] else "")
    if module == "exec":
        where = p["namespace"] or p["netns"]
        return f"exec {' '.join(p['command'])[:40]}" + (f" in {where}" if where else "")
    if module == "verify":
        return "verify " + ", ".join(k for k in MODULES["verify"] if p.get(k))
    return module


def _in(ns: Optional[str]) -> str:
    return f"{ns}/" if ns else ""
