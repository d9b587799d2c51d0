"""netns: a named network namespace."""

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, Param, STATE


def _hosts(value) -> dict:
    """{hostname: [address, ...]} from {hostname: address or [addresses]}."""
    if not isinstance(value, dict):
        raise ValueError("hosts takes a mapping of hostname to an address or a list of them")
    out = {}
    for name, addresses in value.items():
        t.hostname(name)
        addresses = addresses if isinstance(addresses, list) else [addresses]
        if not addresses:
            raise ValueError(f"hosts: {name} has no address")
        out[name] = [t.ip(a) for a in addresses]
    return out


def _resolv(value) -> dict:
    """{nameservers: [ip], search: [domain], options: [option]} (each optional)."""
    if not isinstance(value, dict):
        raise ValueError("resolv takes a mapping: nameservers, search, options")
    bad = sorted(set(value) - {"nameservers", "search", "options"})
    if bad:
        raise ValueError(f"resolv: unknown key {bad[0]!r}; expected nameservers, search, options")
    def listed(key, check):
        items = value.get(key) or []
        return [check(x) for x in (items if isinstance(items, list) else [items])]
    def option(x):
        if not isinstance(x, str) or not x or any(c.isspace() for c in x):
            raise ValueError(f"resolv: invalid option {x!r}")
        return x
    out = {"nameservers": listed("nameservers", t.ip), "search": listed("search", t.hostname),
           "options": listed("options", option)}
    return out if any(out.values()) else {}     # nothing declared: as unset (and it checks to itself)


HOSTS = t.Type("mapping of hostname to address(es)", _hosts, {"type": "object", "additionalProperties": {
    "type": ["string", "array"]}}, {"web": "10.0.0.2"})
RESOLV = t.Type("{nameservers, search, options}", _resolv, {"type": "object", "additionalProperties": False,
    "properties": {k: {"type": "array", "items": {"type": "string"}} for k in ("nameservers", "search", "options")}},
    {"nameservers": ["10.0.0.53"], "search": ["lab.example"]})


def _declares(p: dict) -> Declares:
    if p["state"] != "present":
        return Declares()
    if p["lab"]:         # another lab's, used here as it is
        return Declares(netns_made=(p["name"],))
    return Declares(objects=(("netns", "", p["name"]),), netns_made=(p["name"],))


def _rules(p: dict) -> list:
    if p["lab"] and (p["hosts"] or p["resolv"] or p["forwarding"] is not None or p["state"] != "present"):
        return [("lab", f"netns {p['name']} is lab {p['lab']}'s, used as it is: hosts, resolv, forwarding and "
                        f"state are that lab's to set")]
    return []


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        topo.ns_node(p["name"])


class Netns(Kind):
    name = "netns"
    summary = "a named network namespace, visible to `ip netns`, with lo up"
    doc = ("A network namespace pinned at /run/netns/NAME (as `ip netns add` makes it), with its loopback "
           "up. nsprov never adopts one it did not make: a same-named netns is an error. `hosts` and `resolv` "
           "are written where `ip netns exec` looks (/etc/netns/NAME/hosts, resolv.conf), marked as nsprov's on "
           "their first line; processes and commands nsprov starts in the netns see them over /etc. A file there "
           "that nsprov did not write is never overwritten.")
    absent = ("Deletes the namespace with everything inside it (its links go with it, and the records of "
              "what nsprov made inside); refused while it holds links nsprov did not make.")
    example = "netns: {name: red}"
    params = {
        "name": Param(t.OWN_NAME, "the namespace's name", required=True),
        "hosts": Param(HOSTS, "names for `ip netns exec` (and nsprov's processes and commands) to resolve in it: "
                              "/etc/netns/NAME/hosts, with localhost; unset: the host's /etc/hosts", default={}),
        "resolv": Param(RESOLV, "its resolver: /etc/netns/NAME/resolv.conf (nameserver, search, options lines); "
                                "unset: the host's", default={}),
        "forwarding": Param(t.BOOL, "IPv4 and IPv6 forwarding in it (a router); unset: as it is (off in a new one)"),
        "lab": Param(t.OWN_NAME, "the lab whose netns this is (a topology's node: `netns: {name: clab-chain-a, lab: "
                                 "chain}`): the playbook's tasks may use it, and nothing here makes, changes or "
                                 "removes it; the run fails unless that lab made it on the host", example="chain"),
        "state": STATE,
    }

    def label(self, p):
        return f"netns {p['name']}" + (f" (lab {p['lab']}'s)" if p["lab"] else "")

    rules = staticmethod(_rules)

    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Netns()
