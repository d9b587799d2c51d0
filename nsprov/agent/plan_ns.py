"""plan() for namespace sets, processes and one-shot commands. Pure, like plan.py."""

from __future__ import annotations

from nsprov.agent.plan import Context, PlanError, TaskPlan
from nsprov.agent.processes import enter_prefix, host_cwd
from nsprov.agent.state import Observed


def _spec(p: dict) -> dict:
    return {"kinds": p["kinds"], "hostname": p["hostname"], "domainname": p["domainname"],
            "uid_map": p["uid_map"], "gid_map": p["gid_map"], "mounts": p["mounts"]}


def _summary(cur: dict) -> dict:
    return {k: cur.get(k) for k in ("kinds", "hostname", "domainname", "uid_map", "gid_map")}


def plan_namespace(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, name = TaskPlan(), p["name"]
    cur = obs.nsset(name)
    if cur is not None and not ctx.owns("nsset", "", name):
        raise ctx.not_ours(f"namespace set '{name}'", "nsset", "", name)
    if cur is None and "net" in p["kinds"] and name in obs.netns and p["state"] == "present":
        raise PlanError(f"netns '{name}' already exists; a namespace set with kind net needs its own name")
    tp.before = _summary(cur) if cur else {}
    if p["state"] == "absent":
        if cur is not None:
            tp.act("nsset.delete", "", name, "stopped its init and unpinned it")
            tp.forgets.append({"kind": "nsset", "netns": "", "name": name})
        else:
            tp.reasons.append("absent")
        return tp
    spec = _spec(p)
    tp.after = _summary(spec)
    record = {"kind": "nsset", "netns": "", "name": name, "owner": ctx.owner, "kinds": p["kinds"]}
    if cur is None:
        tp.act("nsset.create", "", name, f"created ({', '.join(p['kinds'])})", spec=spec)
        tp.records.append(record)
        return tp
    why = []
    if sorted(cur["kinds"]) != sorted(p["kinds"]):
        why.append(f"kinds {' '.join(cur['kinds'])}→{' '.join(p['kinds'])}")
    if "user" in p["kinds"] and (cur.get("uid_map") != p["uid_map"] or cur.get("gid_map") != p["gid_map"]):
        why.append("uid/gid maps changed (they cannot be rewritten)")
    if not cur.get("alive") and (cur.get("pid") is None or "pid" in p["kinds"] or "user" in p["kinds"]):
        why.append("its init died or it was left half made")
    if why:
        tp.act("nsset.delete", "", name, "recreating: " + "; ".join(why))
        tp.act("nsset.create", "", name, f"created ({', '.join(p['kinds'])})", spec=spec)
        return tp
    if "uts" in p["kinds"]:
        want_host, want_dn = p["hostname"] or cur["hostname"], p["domainname"] or ""
        if cur["hostname"] != want_host or (p["domainname"] is not None and cur["domainname"] != want_dn):
            tp.act("nsset.set_hostname", "", name, f"hostname {cur['hostname']}→{want_host}",
                   hostname=want_host, domainname=want_dn, kinds=p["kinds"])
    if not tp.actions:
        tp.reasons.append("exists as declared" + (", init alive" if cur.get("alive") else ""))
    return tp


def _target(p: dict, obs: Observed) -> tuple:
    """(target, argv prefix that enters it, working directory on the host side)."""
    target = {"namespace": p["namespace"], "netns": p["netns"]}
    kinds = None
    if p["namespace"]:
        cur = obs.nsset(p["namespace"])
        if cur is None:
            raise PlanError(f"namespace set '{p['namespace']}' does not exist (declare it with a namespace task)")
        kinds = cur["kinds"]
    elif p["netns"] and not obs.exists(p["netns"]):
        raise PlanError(f"netns '{p['netns']}' does not exist")
    return target, enter_prefix(target, kinds, p["chdir"]), host_cwd(target, kinds, p["chdir"])


def plan_process(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp, name = TaskPlan(), p["name"]
    cur = obs.process(name)
    if cur is not None and not ctx.owns("process", "", name):
        raise ctx.not_ours(f"process '{name}'", "process", "", name)
    tp.before = {"running": bool(cur and cur["alive"])}
    if p["state"] == "absent":
        if cur is not None:
            tp.act("process.stop", "", name, f"stopped (pid {cur.get('pid')})" if cur["alive"] else "cleaned up")
            tp.forgets.append({"kind": "process", "netns": "", "name": name})
        else:
            tp.reasons.append("not running")
        return tp
    target, prefix, cwd = _target(p, obs)
    argv = prefix + p["command"]
    record = {"kind": "process", "netns": "", "name": name, "owner": ctx.owner}
    how = {"argv": argv, "env": p["env"], "target": target, "cwd": cwd}
    if cur is None:
        tp.act("process.start", "", name, "started", **how)
        tp.records.append(record)
    elif not cur["alive"]:
        tp.act("process.start", "", name, f"restarted (pid {cur.get('pid')} had died)", **how)
    elif cur.get("argv") != argv or cur.get("cwd", "/") != cwd:
        tp.act("process.stop", "", name, "stopped: its command changed")
        tp.act("process.start", "", name, "started", **how)
    else:
        tp.reasons.append(f"running (pid {cur['pid']})")
    tp.after = {"running": True}
    return tp


def plan_exec(p: dict, obs: Observed, ctx: Context) -> TaskPlan:
    tp = TaskPlan()
    target, prefix, cwd = _target(p, obs)
    argv = prefix + p["command"]
    if p["creates"]:
        check = prefix + ["test", "-e", p["creates"]] if prefix else None
        tp.act("exec.run", "", p["command"][0], f"ran {p['command'][0]}", argv=argv, env=p["env"], cwd=cwd,
               creates=p["creates"], creates_check=check, changed=p["changed_when"])
    else:
        tp.act("exec.run", "", p["command"][0], f"ran {p['command'][0]}", argv=argv, env=p["env"], cwd=cwd,
               changed=p["changed_when"])
    return tp
