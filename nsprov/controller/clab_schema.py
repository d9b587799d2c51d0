"""A topology file held to the structure of containerlab's JSON schema (its containers and the
types of the node settings nsprov reads), with each problem at its file, line and field: a
mapping where a list belongs is found before anything runs, not halfway through a deploy."""

from __future__ import annotations

from nsprov.controller.yamlsrc import MarkedDict, Problem

TOPOLOGY = ("nodes", "kinds", "defaults", "groups", "links")
# node settings (in nodes, kinds, groups and defaults) and the type containerlab's schema gives them
NODE_TYPES = {"kind": str, "group": str, "image": str, "cmd": (str, list), "exec": list, "binds": list,
              "ports": list, "env": dict, "labels": dict, "wait-for": list, "stages": dict, "startup-delay": int,
              "network-mode": str, "startup-config": str, "extras": dict, "mgmt-ipv4": str, "mgmt-ipv6": str, "mgmt_ipv4": str, "mgmt_ipv6": str}
TYPE_NAMES = {str: "a string", list: "a list", dict: "a mapping", int: "a number", (str, list): "a string or a list"}
LINK_TYPES = {"endpoints": list, "type": str, "endpoint": dict, "mtu": int, "vars": dict, "labels": dict,
              "host-interface": str, "remote": str, "vni": int, "udp-port": int, "mode": str}


def _line(where, key) -> int:
    return where.line_of(key) if isinstance(where, MarkedDict) else 1


def _typed(path: str, where, key, want, field: str) -> list:
    """[a problem] when WHERE[KEY] is not of the type WANT, else []."""
    value = where[key]
    if isinstance(value, bool) and want is int or not isinstance(value, want):
        return [Problem(path, _line(where, key), field, f"is {TYPE_NAMES[want]} in containerlab's schema, "
                                                        f"not {type(value).__name__} {value!r}"[:200])]
    return []


def _settings(path: str, spec, field: str, out: list) -> None:
    for key, want in NODE_TYPES.items():
        if isinstance(spec, dict) and spec.get(key) is not None:
            out += _typed(path, spec, key, want, f"{field}.{key}")


def check(path: str, top) -> list:
    """The problems of the `topology:` mapping TOP of the file at PATH."""
    out: list = []
    for key in top:
        if key not in TOPOLOGY:
            out.append(Problem(path, _line(top, key), f"topology.{key}",
                               f"unknown key; containerlab's topology has {', '.join(TOPOLOGY)}"))
    for key in ("nodes", "kinds", "groups"):
        section = top.get(key)
        if section is None:
            continue
        if not isinstance(section, dict):
            out.append(Problem(path, _line(top, key), f"topology.{key}", "is a mapping of names to settings"))
            continue
        for name, spec in section.items():
            if spec is not None and not isinstance(spec, dict):
                out.append(Problem(path, _line(section, name), f"topology.{key}.{name}", "is a mapping of settings"))
            else:
                _settings(path, spec, f"topology.{key}.{name}", out)
    if top.get("defaults") is not None:
        if isinstance(top["defaults"], dict):
            _settings(path, top["defaults"], "topology.defaults", out)
        else:
            out.append(Problem(path, _line(top, "defaults"), "topology.defaults", "is a mapping of settings"))
    links = top.get("links")
    if links is not None and not isinstance(links, list):
        out.append(Problem(path, _line(top, "links"), "topology.links", "is a list of links"))
    for i, link in enumerate(links if isinstance(links, list) else []):
        if not isinstance(link, dict):
            continue            # said by the links' own reader, with the link's line
        for key, want in LINK_TYPES.items():
            if link.get(key) is not None:
                out += _typed(path, link, key, want, f"topology.links[{i}].{key}")
    return out
