"""sysctl: a kernel parameter, per network namespace for net.*."""

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, NETNS, Param, STATE, in_ns


def _rules(p: dict) -> list:
    out = []
    if p["state"] == "present" and p["value"] is None:
        out.append(("value", "is required when state is present"))
    if p["netns"] and p["name"] and not p["name"].startswith("net."):
        out.append(("name", f"{p['name']} is not a per-network-namespace sysctl (only net.* are)"))
    return out


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        topo.line(p["netns"], f"{p['name']} = {p['value']}")


class Sysctl(Kind):
    name = "sysctl"
    summary = "a sysctl (ip_forward...) per netns, remembering the previous value for destroy"
    doc = ("Sets a sysctl. Outside a namespace nsprov made, the previous value is recorded and put back "
           "on destroy; in a namespace it made, the value goes with the namespace.")
    absent = "Puts back the value nsprov found before it changed it."
    example = "sysctl: {name: net.ipv4.ip_forward, value: 1}"
    params = {
        "name": Param(t.SYSCTL_NAME, "the sysctl, dotted or as a path under /proc/sys", required=True),
        "value": Param(t.SYSCTL_VALUE, "the value (required when present)"),
        "netns": NETNS.but("its netns (net.* sysctls only); empty: the host's own"),
        "state": STATE.but("present: set it; absent: put back the value nsprov found"),
    }

    def label(self, p):
        return f"sysctl {in_ns(p['netns'])}{p['name']}"

    rules = staticmethod(_rules)

    def declares(self, p):
        return Declares(netns_used=(("netns", p["netns"]),) if p["netns"] else ())

    draw = staticmethod(_draw)


KIND = Sysctl()
