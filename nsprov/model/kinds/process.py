"""process: a long-running command inside a namespace set or netns."""

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, Param, STATE

ENV_DOC = ("extra environment; every command starts with PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
           "/usr/bin:/sbin:/bin and HOME=/root only, never the login session's")
CHDIR_DOC = "the working directory (inside the set's mount namespace when it has one)"
NAMESPACE_DOC = "the namespace set it runs in (every kind of the set)"
NETNS_DOC = "or: the netns it runs in (network namespace only)"
RESTART = t.Type("no | always | on-failure", t.choice("no", "always", "on-failure"),
                 {"enum": ["no", "always", "on-failure"]}, "always")


def _revision(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"expected a version or digest (text), not {value!r}")
    return str(value)


REVISION = t.Type("text", _revision, {"type": ["string", "integer"]}, "frr.conf 3f2a9c")
REVISION_DOC = ("what the process reads, as a version or a digest of its configuration: when it changes, a "
                "run runs `reload` in the process's namespaces (without reload: restarts the process)")
RELOAD_DOC = "argv that makes the running process read its configuration again (e.g. [frr-reload.py, --reload, F])"
RESTART_DOC = ("no: a run starts it again if it died; always (on-failure: unless it exited 0): a supervisor "
               "starts it again at once when it exits, pausing 1 s, doubling to 30 s while it keeps dying young")


def where_rules(p: dict) -> list:
    if p["namespace"] and p["netns"]:
        return [("netns", "give namespace (a namespace set) or netns, not both")]
    return []


def where_declares(p: dict) -> Declares:
    return Declares(netns_used=(("netns", p["netns"]),) if p["netns"] else (),
                    sets_used=(("namespace", p["namespace"]),) if p["namespace"] else ())


def _rules(p: dict) -> list:
    out = where_rules(p)
    if p["state"] == "present" and not p["command"]:
        out.append(("command", "is required when state is present"))
    if p["reload"] and not p["revision"]:
        out.append(("reload", "runs when revision changes: give revision too"))
    return out


def _declares(p: dict) -> Declares:
    d = where_declares(p)
    if p["state"] != "present":
        return d
    return Declares(objects=(("process", "", p["name"]),), netns_used=d.netns_used, sets_used=d.sets_used)


def _draw(p: dict, topo) -> None:
    if p["state"] == "present":
        command = " ".join(p["command"] or [])
        topo.line(p["namespace"] or p["netns"], f"process {p['name']}: {command[:40]}"
                                                f"{'...' if len(command) > 40 else ''}")


def _label(p: dict) -> str:
    where = p["namespace"] or p["netns"]
    return f"process {p['name']}" + (f" in {where}" if where else "")


class Process(Kind):
    name = "process"
    summary = "a long-running command started inside a namespace set or netns (restarted if it died)"
    doc = ("Starts COMMAND (an argv list, never a shell string) in its own session, with a pid file "
           "(PID and start time) under /run/nsprov/proc and its output in /var/lib/nsprov/log/LAB/NAME.log. "
           "A re-run restarts it only if it died or its command or restart policy changed; with `restart: "
           "always` (or on-failure) a supervisor of its own starts it again at once.")
    absent = "Stops it (SIGTERM, then SIGKILL after 3 s)."
    example = 'process: {name: web, namespace: box1, command: [python3, -m, http.server, "80"]}'
    params = {
        "name": Param(t.PROC_NAME, "the process's name on this host", required=True),
        "namespace": Param(t.NETNS, NAMESPACE_DOC, default=""),
        "netns": Param(t.NETNS, NETNS_DOC, default=""),
        "command": Param(t.COMMAND, "argv (required when present)"),
        "env": Param(t.ENV, ENV_DOC, default={}),
        "chdir": Param(t.PATH, CHDIR_DOC, default="/", example="/srv/www"),
        "restart": Param(RESTART, RESTART_DOC, default="no"),
        "revision": Param(REVISION, REVISION_DOC, default=""),
        "reload": Param(t.COMMAND, RELOAD_DOC),
        "state": STATE,
    }
    label = staticmethod(_label)
    rules = staticmethod(_rules)
    declares = staticmethod(_declares)
    draw = staticmethod(_draw)


KIND = Process()
