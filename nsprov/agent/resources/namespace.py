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
FILES = "/var/lib/nsprov/files"   # a set's file mounts: FILES/NAME/TARGET, bound over TARGET inside


def kept_files(p: dict) -> dict:
    """{path on the host: text} of the set's file mounts, each kept under FILES/NAME."""
    return {f"{FILES}/{p['name']}{m['target']}": m["content"] for m in p["mounts"] if m["type"] == "file"}


def name_files(p: dict, mark: str) -> dict:
    """{path under NAMES: the text wanted there, or None} for the set's hosts and resolv."""
    wanted = netns_resource.name_files({"name": p["name"], "hosts": p.get("hosts"), "resolv": p.get("resolv")}, mark)
    return {f"{NAMES}/{p['name']}/{posixpath.basename(path)}": text for path, text in wanted.items()}


def _mounts(p: dict, mark: str) -> list:
    """The set's mounts: its own, then its names bound over /etc inside."""
    binds = [{"type": "bind", "source": path, "target": TARGETS[posixpath.basename(path)], "options": None}
             for path, text in name_files(p, mark).items() if text is not None]
    own = [{**{k: v for k, v in m.items() if k != "content"}, "source": f"{FILES}/{p['name']}{m['target']}"}
           if m["type"] == "file" else m for m in p["mounts"]]    # a change of text alone rewrites the file
    return own + binds


def _unmade_targets(mounts: list, obs: Observed) -> list:
    """Targets of binds that are not on the host and not inside one of the set's tmpfs mounts
    made before them: nsprov never makes a file on the host to bind over."""
    tmpfs, out = [], []
    for m in mounts:
        inside = any(m["target"] == t or m["target"].startswith(t.rstrip("/") + "/") for t in tmpfs)
        if m["type"] == "tmpfs":
            tmpfs.append(m["target"])
        elif not inside and not obs.path_exists(m["target"]):
            out.append(m["target"])
    return out


def _optional(m: dict) -> bool:
    """A mount marked `optional` (a topology's bind): left out where its target is not on the host."""
    return "optional" in (m.get("options") or "").split(",")


def _spec(p: dict, mark: str = "") -> dict:
    return {"kinds": p["kinds"], "hostname": p["hostname"], "domainname": p["domainname"],
            "uid_map": p["uid_map"], "gid_map": p["gid_map"], "mounts": _mounts(p, mark)}


def _write_names(tp: TaskPlan, p: dict, obs: Observed, ctx: Context, remove: bool, cur=None) -> None:
    """Write (before the set is made) or remove (after) the files nsprov keeps for it: its names,
    its file mounts' texts (rewritten in place: the mount shows the new text), and those of the
    file mounts it had (CUR) and has no more."""
    wanted = {**name_files(p, ctx.mark), **kept_files(p)}
    had = [m["source"] for m in (cur or {}).get("mounts") or () if m["type"] == "file" and m["source"] not in wanted]
    for path, want in list(wanted.items()) + [(path, None) for path in had]:
        have = obs.file(path)
        if not remove and want is not None and have != want:
            shown = TARGETS.get(posixpath.basename(path)) or path[len(f"{FILES}/{p['name']}"):]
            tp.act(ops.WRITE_FILE, "", path, f"{shown} inside: {path}", content=want)
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
        _write_names(tp, {**p, "hosts": None, "resolv": None, "mounts": []}, obs, ctx, remove=True, cur=cur)
        return tp
    if cur is None and "net" in p["kinds"] and name in obs.netns:
        raise PlanError(f"netns '{name}' already exists; a namespace set with kind net needs its own name")
    spec = _spec(p, ctx.mark)
    unmade = _unmade_targets(spec["mounts"], obs)
    optional = [m["target"] for m in spec["mounts"] if m["target"] in unmade and _optional(m)]
    if optional:         # a topology's bind over what only an image would have had: said, and left out
        spec["mounts"] = [m for m in spec["mounts"] if m["target"] not in optional]
        unmade = [u for u in unmade if u not in optional]
        tp.reasons.append(f"not mounted: no {', '.join(optional)} on this host to mount over (nsprov never makes "
                          f"files on the host)")
    if unmade:
        raise PlanError(f"namespace set '{name}': no {', '.join(unmade)} on this host to mount over; nsprov "
                        f"never makes files on the host (mount a tmpfs on the directory first: a target inside "
                        f"it is made there)")
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
        _write_names(tp, p, obs, ctx, remove=True, cur=cur)
        return tp
    if "uts" in p["kinds"]:
        want_host, want_dn = p["hostname"] or cur["hostname"], p["domainname"] or ""
        if cur["hostname"] != want_host or (p["domainname"] is not None and cur["domainname"] != want_dn):
            tp.act(ops.SET_HOSTNAME, "", name, f"hostname {cur['hostname']}→{want_host}",
                   hostname=want_host, domainname=want_dn, kinds=p["kinds"])
    _write_names(tp, p, obs, ctx, remove=True, cur=cur)
    if not tp.actions:
        tp.reasons.append("exists as declared" + (", init alive" if cur.get("alive") else ""))
    return tp


def absent(record: dict) -> dict:
    return {"name": record["name"], "kinds": record.get("kinds") or ["net"], "state": "absent"}


def exists(record: dict, obs: Observed) -> bool:
    return obs.nsset(record["name"]) is not None


def keys(p: dict, obs: Observed, ctx: Context) -> list:
    return [("nsset", "", p["name"])]
