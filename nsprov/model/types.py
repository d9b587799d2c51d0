"""Value types of module parameters: each checks and normalises one value, and says what it is
for the reference (`nsprov doc`) and for editors (`nsprov schema`). Standard library only.

A check returns the normalised value or raises ValueError with a message that names the rule
broken ("interface name 'x' is 16 bytes; the kernel allows 15").
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Optional

IFNAMSIZ = 16
NAME_RULE = "use 1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SYSCTL = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$")
_WHOLE_NUMBER = re.compile(r"^-?[0-9]+$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_MOUNT_OPTS = re.compile(r"^[A-Za-z0-9_=,.]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NS_KINDS = ("uts", "ipc", "pid", "mnt", "user", "net", "cgroup", "time")


class Type:
    """A parameter's type: NAME for people, CHECK for values, SCHEMA (a JSON Schema fragment)
    for editors, EXAMPLE a value CHECK takes (for `nsprov doc` and the schema's examples).
    (Plain classes here and in the agent, not dataclasses: the agent starts on every run, and
    making ~20 dataclasses cost it ~8 ms.)"""
    __slots__ = ("name", "check", "schema", "example")

    def __init__(self, name: str, check: Callable[[Any], Any], schema: Optional[dict] = None, example: Any = None):
        self.name, self.check, self.schema, self.example = name, check, schema or {}, example


# ------------------------------------------------------------------ names
def ifname(value: Any) -> str:
    """The kernel's dev_valid_name() (1..15 bytes, not '.' or '..', no '/', ':' or whitespace), and
    no '%': the kernel numbers `br%d` itself (br0, br1...), a link nsprov would never record."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"interface name must be a non-empty string, not {value!r}")
    size = len(value.encode())
    if size >= IFNAMSIZ:
        raise ValueError(f"interface name {value!r} is {size} bytes; the kernel allows {IFNAMSIZ - 1}")
    if "%" in value:
        raise ValueError(f"interface name {value!r} holds '%': the kernel would number it itself (br%d becomes br0)")
    if value in (".", "..") or any(c in value for c in "/:") or any(c.isspace() for c in value):
        raise ValueError(f"interface name {value!r} is not allowed: no '/', ':', whitespace, '.' or '..'")
    if not value.isprintable():
        raise ValueError(f"interface name {value!r} has unprintable characters")
    return value


def netns_name(value: Any) -> str:
    """A named namespace is a file under /run/netns: keep it to a safe portable set. Empty
    means the host's own namespaces, wherever a task refers to one."""
    if value in ("", None):
        return ""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"netns name {value!r} is not allowed: {NAME_RULE}")
    return value


def own_name(value: Any) -> str:
    """The name of something a task makes: a netns name, never empty."""
    name = netns_name(value)
    if not name:
        raise ValueError(f"must be a non-empty name: {NAME_RULE}")
    return name


def lab_name(value: Any) -> str:
    """A lab's name: it becomes part of kernel names (the ifalias mark `nsprov:NAME`, the nft
    table `nsprov_NAME`), so it keeps to a set that every one of them takes as it is."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"lab name {value!r} is not allowed: {NAME_RULE}")
    return value


def hostname(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 64 or not _HOSTNAME.match(value):
        raise ValueError(f"invalid hostname {value!r}")
    return value


def sysctl_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"invalid sysctl name {value!r}")
    value = value.replace("/", ".")
    if not _SYSCTL.match(value) or ".." in value:
        raise ValueError(f"invalid sysctl name {value!r}")
    return value


# ------------------------------------------------------------------ numbers and flags
def integer(value: Any, what: str = "value") -> int:
    """A whole number: an int, or a string of digits (templates render to strings). Floats,
    booleans and padded strings are refused, never truncated: 80.9 is not port 80."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _WHOLE_NUMBER.match(value):
        return int(value)
    raise ValueError(f"{what} must be a whole number, not {value!r}")


def int_in(value: Any, what: str, low: int, high: int) -> int:
    n = integer(value, what)
    if not low <= n <= high:
        raise ValueError(f"{what} {n} is outside {low}-{high}")
    return n


def port(value: Any) -> int:
    return int_in(value, "port", 1, 65535)


def mtu(value: Any) -> int:
    return int_in(value, "mtu", 68, 65535)


def metric(value: Any) -> int:
    """A route's priority: the kernel keeps it in 32 bits."""
    return int_in(value, "metric", 0, 2 ** 32 - 1)


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "true", "on", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("no", "false", "off", "0"):
        return False
    raise ValueError(f"expected true or false, not {value!r}")


def choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, not {value!r}")
        return value
    return check


# ------------------------------------------------------------------ addresses
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
    """ADDRESS:PORT, an IPv6 address in brackets: 10.2.0.2:80, [fd00::2]:80."""
    if not isinstance(value, str) or ":" not in value or (value.count(":") > 1 and not value.startswith("[")):
        raise ValueError(f"expected ADDRESS:PORT like 10.2.0.2:80 or [fd00::2]:80, not {value!r}")
    addr, port_s = value.rsplit(":", 1)
    bracketed = addr.startswith("[") and addr.endswith("]")
    addr = ip(addr[1:-1] if bracketed else addr)
    if (":" in addr) != bracketed:
        raise ValueError(f"expected an IPv6 address in brackets ([fd00::2]:80), an IPv4 one without, not {value!r}")
    return f"[{addr}]:{port(port_s)}" if bracketed else f"{addr}:{port(port_s)}"


def split_ip_port(value: str) -> tuple:
    """('fd00::2', 80) of '[fd00::2]:80' (a checked ip_port)."""
    addr, port_s = value.rsplit(":", 1)
    return addr.strip("[]"), int(port_s)


# ------------------------------------------------------------------ sysctl values, paths, commands
def sysctl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if not isinstance(value, (int, str)) or "\n" in str(value):
        raise ValueError(f"invalid sysctl value {value!r}")
    return str(value).strip()


def abs_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value or "/../" in value + "/":
        raise ValueError(f"expected an absolute path without '..', not {value!r}")
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
    if not isinstance(value, dict) or not all(isinstance(k, str) and _ENV_NAME.match(k) for k in value):
        raise ValueError("env must be a mapping of NAME: value")
    return {k: str(v) for k, v in value.items()}


# ------------------------------------------------------------------ namespace sets
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


def mounts(value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("mounts must be a list of {type: tmpfs|bind, target: /path, ...}")
    out = []
    for m in value:
        if not isinstance(m, dict) or m.get("type") not in ("tmpfs", "bind", "file"):
            raise ValueError(f"each mount needs type tmpfs, bind or file, not {m!r}")
        extra = set(m) - {"type", "target", "source", "options", "content"}
        if extra:
            raise ValueError(f"unknown mount keys {sorted(extra)}")
        e = {"type": m["type"], "target": abs_path(m.get("target"))}
        if m["type"] == "bind":
            e["source"] = abs_path(m.get("source"))
        if m["type"] == "file" and not isinstance(m.get("content"), str):
            raise ValueError(f"a file mount needs content (its text), as in {m!r}")
        e.update({"content": m["content"]} if m["type"] == "file" else {})
        opts = m.get("options") or ""
        if not isinstance(opts, str) or not _MOUNT_OPTS.match(opts):
            raise ValueError(f"mount options {opts!r} may only hold letters, digits and _=,.")
        e["options"] = opts
        out.append(e)
    return out


# ------------------------------------------------------------------ verify's checks
def name_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("expected a list of namespace names")
    return [netns_name(v) for v in value]


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


# ------------------------------------------------------------------ the types, named
_S_NAME = {"type": "string", "pattern": _NAME.pattern}
_S_IP = {"type": "string", "description": "an IPv4 or IPv6 address"}
_S_CIDR = {"type": "string", "pattern": "/[0-9]{1,3}$", "description": "address/prefix, e.g. 10.0.0.1/24"}
_S_INT = {"type": "integer"}
_S_MAP = {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": False,
                                                    "required": ["inside", "outside", "count"],
                                                    "properties": {k: _S_INT for k in ("inside", "outside", "count")}}}

IFNAME = Type("interface name (1-15 bytes)", ifname, {"type": "string", "minLength": 1, "maxLength": 15,
                                                      "pattern": r"^[^/:%\s]+$"}, "veth0")
NETNS = Type("namespace name, or empty for the host's own", netns_name,
             {"type": "string", "pattern": r"^$|" + _NAME.pattern}, "red")
OWN_NAME = Type("name", own_name, _S_NAME, "red")
PROC_NAME = Type("name", own_name, _S_NAME, "web")
HOSTNAME = Type("hostname", hostname, {"type": "string", "maxLength": 64}, "box1")
SYSCTL_NAME = Type("sysctl name (net.ipv4.ip_forward)", sysctl_name, {"type": "string"}, "net.ipv4.ip_forward")
SYSCTL_VALUE = Type("string or number", sysctl_value, {"type": ["string", "integer", "boolean"]}, 1)
CIDR = Type("address/prefix", cidr, _S_CIDR, "10.0.0.1/24")
CIDR_LIST = Type("list of address/prefix", cidr_list, {"type": "array", "items": _S_CIDR}, ["10.0.0.1/24"])
NETWORK = Type("network (10.0.0.0/24)", network, {"type": "string"}, "10.2.0.0/24")
ROUTE_DST = Type("'default' or a network", route_dst, {"type": "string"}, "default")
IP = Type("IP address", ip, _S_IP, "10.2.0.1")
IP_PORT = Type("ADDRESS:PORT ([IPv6]:PORT)", ip_port, {"type": "string", "pattern": r"^([^:]+|\[[0-9A-Fa-f:.]+\]):[0-9]+$"},
               "10.2.0.2:80")
PORT = Type("port (1-65535)", port, {"type": "integer", "minimum": 1, "maximum": 65535}, 8080)
MTU = Type("mtu (68-65535)", mtu, {"type": "integer", "minimum": 68, "maximum": 65535}, 1400)
METRIC = Type("whole number (0-4294967295)", metric, {"type": "integer", "minimum": 0, "maximum": 2 ** 32 - 1}, 100)
BOOL = Type("boolean", boolean, {"type": "boolean"}, True)
STATE = Type("present | absent", choice("present", "absent"), {"enum": ["present", "absent"]}, "absent")
PROTOCOL = Type("tcp | udp", choice("tcp", "udp"), {"enum": ["tcp", "udp"]}, "udp")
PATH = Type("absolute path", abs_path, {"type": "string", "pattern": "^/"}, "/srv/www")
COMMAND = Type("list of arguments (argv)", command, {"type": "array", "minItems": 1,
                                                     "items": {"type": ["string", "number"]}},
               ["python3", "-m", "http.server", "80"])
ENV = Type("mapping of NAME: value", env, {"type": "object", "propertyNames": {"pattern": _ENV_NAME.pattern}},
           {"LANG": "C.UTF-8"})
KINDS = Type(f"list of {' '.join(NS_KINDS)}", kinds, {"type": "array", "minItems": 1,
                                                     "items": {"enum": list(NS_KINDS)}}, ["uts", "pid", "mnt", "net"])
ID_MAP = Type("list of {inside, outside, count}", id_map, _S_MAP, [{"inside": 0, "outside": 100000, "count": 65536}])
MOUNTS = Type("list of {type: tmpfs|bind|file, target, source, content, options}", mounts, {
    "type": "array", "items": {"type": "object", "required": ["type", "target"], "additionalProperties": False,
                               "properties": {"type": {"enum": ["tmpfs", "bind", "file"]}, "target": {"type": "string"},
                                              "source": {"type": "string"}, "content": {"type": "string"},
                                              "options": {"type": "string"}}}},
    [{"type": "tmpfs", "target": "/tmp"}, {"type": "bind", "source": "/srv/www", "target": "/www", "options": "ro"}])
NAME_LIST = Type("list of namespace names", name_list, {"type": ["array", "string"], "items": {"type": "string"}},
                 ["red", "blue"])
HOSTNAME_CHECKS = Type("list of {namespace, equals}", hostname_checks, {"type": "array", "items": {
    "type": "object", "required": ["namespace", "equals"], "additionalProperties": False,
    "properties": {"namespace": {"type": "string"}, "equals": {"type": "string"}}}},
    [{"namespace": "box1", "equals": "box1"}])
UID_CHECKS = Type("list of {namespace, inside, outside}", uid_checks, {"type": "array", "items": {
    "type": "object", "required": ["namespace", "inside", "outside"], "additionalProperties": False,
    "properties": {"namespace": {"type": "string"}, "inside": _S_INT, "outside": _S_INT}}},
    [{"namespace": "box1", "inside": 0, "outside": 100000}])
