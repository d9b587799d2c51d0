"""namespace: a named set of namespaces of any kinds, held by a small init and pinned."""

from nsprov.model import types as t
from nsprov.model.kinds import netns as netns_kind
from nsprov.model.kinds.base import Declares, Kind, Param, STATE

_NEEDS = (("hostname", "uts"), ("domainname", "uts"), ("uid_map", "user"), ("gid_map", "user"), ("mounts", "mnt"),
          ("hosts", "mnt"), ("resolv", "mnt"))


def _rules(p: dict) -> list:
    if p["kinds"] is None:      # missing or invalid: reported on its own
        return []
    out = []
    k = p["kinds"]
    for fld, need in _NEEDS:
        if p.get(fld) and need not in k:
            out.append((fld, f"needs kind {need} in kinds"))
    if "user" in k and p["state"] == "present":
        for fld in ("uid_map", "gid_map"):
            if not p[fld]:
                out.append((fld, "is required with kind user (e.g. [{inside: 0, outside: 100000, count: 65536}])"))
    for fld, what in (("uid_map", "uid"), ("gid_map", "gid")):
        root = next((m for m in p[fld] or [] if m["outside"] == 0), None)
        if root is not None and not p["allow_host_root"]:
            out.append((fld, f"maps {what} {root['inside']} inside to {what} 0 on the host: root there would be "
                             f"root here, with no user isolation; map to an unprivileged range (outside: 100000), "
                             f"or set allow_host_root: true if that is meant"))
    return out


def _declares(p: dict) -> Declares:
    if p["state"] != "present" or not p["kinds"]:
        return Declares()
    net = "net" in p["kinds"]
    return Declares(objects=(("namespace set", "", p["name"]),) + ((("netns", "", p["name"]),) if net else ()),
                    netns_made=(p["name"],) if net else (), sets_made=(p["name"],))


def _draw(p: dict, topo) -> None:
    if p["state"] != "present":
        return
    node = topo.set_node(p["name"], "net" in p["kinds"])
    node.lines.append("kinds: " + " ".join(p["kinds"]))
    if p["hostname"]:
        node.lines.append(f"hostname: {p['hostname']}")
    if p["uid_map"]:
        node.lines.append("uid map: " + ", ".join(f"{m['inside']}->{m['outside']} ({m['count']})"
                                                 for m in p["uid_map"]))
    for m in p["mounts"]:
        node.lines.append(f"mount {m['type']} {m['target']}")


def _proves(p: dict) -> dict:
    if p["state"] != "present":
        return {}
    return {"sets": [{k: p[k] for k in ("name", "kinds", "hostname", "uid_map", "gid_map")}]}


class Namespace(Kind):
    name = "namespace"
    summary = "a named set of namespaces: net uts ipc pid mnt user (cgroup, time), pinned for nsenter"
    doc = ("Namespaces of the kinds asked for, made together and held by a small init (PID 1 of a pid "
           "namespace, reaping orphans). Each is pinned under /run/nsprov/ns/NAME/KIND, so `nsenter "
           "--uts=/run/nsprov/ns/NAME/uts hostname` works; the net one is also /run/netns/NAME for `ip netns`. "
           "uts takes hostname and domainname; mnt gets private propagation, its own /proc with pid, and the "
           "extra mounts; user maps uid/gid ranges (uid 0 inside must map to an unprivileged uid outside).")
    absent = "Stops its init (everything inside goes with it) and unpins every kind."
    example = ("namespace:\n  name: box1\n  kinds: [uts, ipc, pid, mnt, user, net]\n  hostname: box1\n"
               "  uid_map: [{inside: 0, outside: 100000, count: 65536}]\n"
               "  gid_map: [{inside: 0, outside: 100000, count: 65536}]")
    params = {
        "name": Param(t.OWN_NAME, "the set's name (also its netns name with kind net)", required=True),
        "kinds": Param(t.KINDS, "the namespace kinds it has", required=True),
        "hostname": Param(t.HOSTNAME, "hostname inside (kind uts)"),
        "domainname": Param(t.HOSTNAME, "NIS domain name inside (kind uts)"),
        "uid_map": Param(t.ID_MAP, "uid ranges (kind user): inside -> outside, count"),
        "gid_map": Param(t.ID_MAP, "gid ranges (kind user)"),
        "mounts": Param(t.MOUNTS, "mounts made inside (kind mnt), in order: tmpfs; bind (source: a host path); "
                                  "file (content: text nsprov keeps under /var/lib/nsprov/files/NAME/ and binds "
                                  "over target, rewritten in place when it changes). A bind's target must be on "
                                  "the host or inside an earlier tmpfs of the set (made there); options ro: "
                                  "read-only", default=[]),
        "hosts": netns_kind.KIND.params["hosts"].but(
            "names its processes resolve (kind mnt): bind-mounted over /etc/hosts inside, from a file nsprov keeps "
            "under /run/nsprov-names/NAME; unset: the host's"),
        "resolv": netns_kind.KIND.params["resolv"].but(
            "its resolver (kind mnt): bind-mounted over /etc/resolv.conf inside; unset: the host's"),
        "allow_host_root": Param(t.BOOL, "allow a uid/gid map onto the host's 0 (no user isolation)",
            default=False),
        "state": STATE,
    }

    def label(self, p):
        return f"namespace {p['name']} ({' '.join(p['kinds'] or [])})"

    rules = staticmethod(_rules)
    declares = staticmethod(_declares)
    draw = staticmethod(_draw)
    proves = staticmethod(_proves)


KIND = Namespace()
