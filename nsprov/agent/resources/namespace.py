"""namespace: plan a namespace set (any kinds, held by its init), present or absent, and remove
a recorded one."""

from __future__ import annotations

import posixpath

from nsprov.agent import ops
from nsprov.agent.planning import Context, PlanError, TaskPlan
from nsprov.agent.resources import netns as netns_resource
from nsprov.agent.state import Observed

MODULE = "namespace"
RECORDS = ("nsset",)
CONTAINER = True      # with kind net, other objects go with it


NAMES = "/run/nsprov-names"     # a set's hosts and resolv.conf, bound over /etc inside: outside the root-only
                                # /run/nsprov, as an init in a user namespace mounts them as an unprivileged root
TARGETS = {"hosts": "/etc/hosts", "resolv.conf": "/etc/resolv.conf"}


def name_files(p: dict, mark: str) -> dict:
    """{path under NAMES: the text wanted there, or None} for the set's hosts and resolv."""
    wanted = netns_resource.name_files({"name": p["name"], "hosts": p.get("hosts"), "resolv": p.get("resolv")}, mark)
    return {f"{NAMES}/{p['name']}/{posixpath.basename(path)}": text for path, text in wanted.items()}


def _mounts(p: dict, mark: str) -> list:
    """The set's mounts: its own, then its names bound over /etc inside."""
    binds = [{"type": "bind", "source": path, "target": TARGETS[posixpath.basename(path)], "options": None}
             for path, text in name_files(p, mark).items() if text is not None]
    return list(p["mounts"]) + binds


def _spec(p: dict, mark: str = "") -> dict:
    return {"kinds": p["kinds"], "hostname": p["hostname"], "domainname": p["domainname"],
            "uid_map": p["uid_map"], "gid_map": p["gid_map"], "mounts": _mounts(p, mark)}


def _write_names(tp: TaskPlan, p: dict, obs: Observed, ctx: Context, remove: bool) -> None:
    """Write (before the set is made) or remove (after) the name files nsprov keeps for it."""
    for path, want in name_files(p, ctx.mark).items():
        have = obs.file(path)
        if not remove and want is not None and have != want:
            tp.act(ops.WRITE_FILE, "", path, f"{TARGETS[posixpath.basename(path)]} inside: {path}", content=want)
        elif remove and want is None and have is not None:
            tp.act(ops.REMOVE_FILE, "", path, f"{path} removed")


def _summary(cur: dict) -> dict:
    return {k: cur.get(k) for k in ("kinds", "hostname", "domainname", "uid_map", "gid_map", "mounts")}


def _absent(tp: TaskPlan, cur, obs: Observed, ctx: Context, name: str) -> TaskPlan:
    if cur is not None:
        if "net" in cur["kinds"] and name in obs.netns:
            foreign = netns_resource.foreign_links(ctx, obs, name)
            if foreign:
                raise PlanError(f"namespace set '{name}' holds links nsprov did not create ({', '.join(foreign)}); "
                                f"not deleting it")
            tp.forgets, tp.awaits = netns_resource.contents(ctx, obs, name)
        tp.act(ops.DELETE_NSSET, "", name, "stopped its init and unpinned it",
               takes=tuple((ns, link) for ns, link, _ in tp.awaits))
    else:
        tp.reasons.append("absent")
    tp.forgets.append({"kind": "nsset", "netns": "", "name": name})
    return tp


def _why_remake(p: dict, cur: dict, mounts: list) -> list:
    why = []
    if sorted(cur["kinds"]) != sorted(p["kinds"]):
        why.append(f"kinds {' '.join(cur['kinds'])}→{' '.join(p['kinds'])}")
    if "user" in p["kinds"] and (cur.get("uid_map") != p["uid_map"] or cur.get("gid_map") != p["gid_map"]):
        why.append("uid/gid maps changed (they cannot be rewritten)")
    if "mnt" in p["kinds"] and cur.get("mounts") is not None and cur["mounts"] != mounts:
        why.append("its mounts changed")
    if not cur.get("alive") and (cur.get("pid") is None or "pid" in p["kinds"] or "user" in p["kinds"]):
        why.append("its init died or it was left half made")
    return why


def plan(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, name = TaskPlan(), p["name"]
    cur = obs.nsset(name)
    if cur is not None and not ctx.owns("nsset", "", name):
        raise ctx.not_ours(f"namespace set '{name}'", "nsset", "", name)
    tp.before = _summary(cur) if cur else {}
    if p["state"] == "absent":
        _absent(tp, cur, obs, ctx, name)
        _write_names(tp, {**p, "hosts": None, "resolv": None, "mounts": []}, obs, ctx, remove=True)
        return tp
    if cur is None and "net" in p["kinds"] and name in obs.netns:
        raise PlanError(f"netns '{name}' already exists; a namespace set with kind net needs its own name")
    spec = _spec(p, ctx.mark)
    tp.after = _summary(spec)
    _write_names(tp, p, obs, ctx, remove=False)
    if cur is None:
        tp.act(ops.CREATE_NSSET, "", name, f"created ({', '.join(p['kinds'])})", spec=spec)
        tp.records.append(ctx.record("nsset", "", name, MODULE, kinds=p["kinds"]))
        return tp
    why = _why_remake(p, cur, spec["mounts"])
    if why:   # made again, before the old one goes: links into it and processes in it follow
        goes_with = ()
        if "net" in cur["kinds"] and name in obs.netns:
            forgets, awaits = netns_resource.contents(ctx, obs, name)
            tp.forgets = [e for e in forgets if e["kind"] != "nsset"]
            goes_with = tuple((ns, link) for ns, link, _ in awaits)
        tp.act(ops.REPLACE_NSSET, "", name, f"made again ({', '.join(p['kinds'])}): " + "; ".join(why) +
               ("; what is inside it and the links into it are made again with it" if goes_with or "net" in
                cur["kinds"] else ""), spec=spec, goes_with=goes_with, takes=goes_with)
        _write_names(tp, p, obs, ctx, remove=True)
        return tp
    if "uts" in p["kinds"]:
        want_host, want_dn = p["hostname"] or cur["hostname"], p["domainname"] or ""
        if cur["hostname"] != want_host or (p["domainname"] is not None and cur["domainname"] != want_dn):
            tp.act(ops.SET_HOSTNAME, "", name, f"hostname {cur['hostname']}→{want_host}",
                   hostname=want_host, domainname=want_dn, kinds=p["kinds"])
    _write_names(tp, p, obs, ctx, remove=True)
    if not tp.actions:
        tp.reasons.append("exists as declared" + (", init alive" if cur.get("alive") else ""))
    return tp


def absent(record: dict) -> dict:
    return {"name": record["name"], "kinds": record.get("kinds") or ["net"], "state": "absent"}


def exists(record: dict, obs: Observed) -> bool:
    return obs.nsset(record["name"]) is not None


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("nsset", "", p["name"])]
