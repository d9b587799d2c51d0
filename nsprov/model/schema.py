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
        raise ValueError(f"netns name {value!r} is not allowed: use 1-64 of A-Z a-z 0-9 _ . - "
                         f"(starting with a letter or digit)")
    return value


def cidr(value: Any) -> str:
    """An interface address with its prefix: 10.0.0.1/24 or 2001:db8::1/64."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"address {value!r} needs a prefix length, like 10.0.0.1/24")
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError(f"invalid address {value!r}") from None
    return str(iface)


def cidr_list(value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"expected a list of addresses like [10.0.0.1/24], not {value!r}")
    return [cidr(v) for v in value]


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


def port(value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid port {value!r}") from None
    if not 1 <= n <= 65535 or isinstance(value, bool):
        raise ValueError(f"port {value!r} is outside 1-65535")
    return n


def mtu(value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid mtu {value!r}") from None
    if not 68 <= n <= 65535 or isinstance(value, bool):
        raise ValueError(f"mtu {value} is outside 68-65535")
    return n


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
        "name": Param(netns_name, required=True),
        "state": Param(state, default="present"),
    },
    "bridge": {
        "name": Param(ifname, required=True),
        "netns": Param(netns_name, default=""),
        "addresses": Param(cidr_list, default=[]),
        "mtu": Param(mtu),
        "stp": Param(boolean, default=False),
        "up": Param(boolean, default=True),
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
        "state": Param(state, default="present"),
    },
    "address": {
        "interface": Param(ifname, required=True),
        "netns": Param(netns_name, default=""),
        "address": Param(cidr, required=True),
        "state": Param(state, default="present"),
    },
    "route": {
        "to": Param(route_dst, required=True),
        "netns": Param(netns_name, default=""),
        "via": Param(ip),
        "dev": Param(ifname),
        "metric": Param(int),
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

NETWORK_MODULES = tuple(MODULES)


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
    return module


def _in(ns: Optional[str]) -> str:
    return f"{ns}/" if ns else ""
