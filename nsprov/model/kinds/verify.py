"""verify: assertions checked on the host, after the tasks before it."""

from nsprov.model import types as t
from nsprov.model.kinds.base import Declares, Kind, Param

SET_CHECKS = ("isolation", "ipc_isolated", "pid1", "mount_isolated", "isolated_from_host")
CHECKS = (*SET_CHECKS, "reach", "no_reach", "hostname", "uid_map")


def _rules(p: dict) -> list:
    return [] if any(p[k] for k in CHECKS) else [("", "verify needs at least one check")]


def _declares(p: dict) -> Declares:
    sets = [(k, n) for k in SET_CHECKS for n in p[k]]
    sets += [(k, h["namespace"]) for k in ("hostname", "uid_map") for h in p[k]]
    netns = [(f"{k}.from", r["from"]) for k in ("reach", "no_reach") for r in p[k] if r["from"]]
    return Declares(netns_used=tuple(netns), sets_used=tuple(sets))


class Verify(Kind):
    name = "verify"
    summary = "assertions: reach/no_reach, hostname, ipc_isolated, pid1, mount_isolated, uid_map, isolation"
    doc = ("Runs the seed tutorial's experiments for real on the host once the tasks before it are done, "
           "and reachability by packets: ping, or a TCP connect when a port is given (a refused port that must "
           "be reached is retried for 10 s). A failed check fails the task without undoing the build.")
    absent = ""
    example = "verify:\n  reach: [{from: red, to: 10.2.0.1}]\n  no_reach: [{from: netns1, to: 10.2.0.2, port: 80}]"
    params = {
        "isolation": Param(t.NAME_LIST, "sets to put through every experiment their kinds allow", default=[]),
        "reach": Param(t.REACH_LIST, "{from: NAMESPACE, to: ADDRESS, port: N} that must answer", default=[]),
        "no_reach": Param(t.REACH_LIST, "the same, that must not answer", default=[]),
        "hostname": Param(t.HOSTNAME_CHECKS, "{namespace, equals}: the hostname inside", default=[]),
        "ipc_isolated": Param(t.NAME_LIST, "sets whose SysV message queues are their own", default=[]),
        "pid1": Param(t.NAME_LIST, "sets whose init is PID 1 inside and another PID outside", default=[]),
        "mount_isolated": Param(t.NAME_LIST, "sets where a mount made inside is absent outside", default=[]),
        "uid_map": Param(t.UID_CHECKS, "{namespace, inside, outside}: a uid mapping (and file ownership)",
            default=[]),
        "isolated_from_host": Param(t.NAME_LIST, "sets whose namespaces all differ from the host's", default=[]),
    }

    def label(self, p):
        return "verify " + ", ".join(k for k in CHECKS if p.get(k))

    rules = staticmethod(_rules)
    declares = staticmethod(_declares)

    def proves(self, p):
        return {"assertions": [p]}


KIND = Verify()
