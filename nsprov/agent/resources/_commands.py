"""What process and exec share: where a command runs (a namespace set, a netns, or the host),
the argv prefix that enters it, and the working directory it starts in."""

from __future__ import annotations

from nsprov.agent.kernel.enter import NAME_FILES, enter_prefix, etc_path, host_cwd
from nsprov.agent.planning import PlanError
from nsprov.agent.state import Observed


def target(p: dict, obs: Observed) -> tuple:
    """(target, argv prefix that enters it, working directory on the host side)."""
    where = {"namespace": p["namespace"], "netns": p["netns"]}
    kinds = None
    if p["namespace"]:
        cur = obs.nsset(p["namespace"])
        if cur is None:
            raise PlanError(f"namespace set '{p['namespace']}' does not exist (declare it with a namespace task)")
        kinds = cur["kinds"]
    elif p["netns"] and not obs.exists(p["netns"]):
        raise PlanError(f"netns '{p['netns']}' does not exist")
    names = bool(p["netns"]) and not p["namespace"] and any(obs.file(etc_path(p["netns"], f)) is not None
                                                            for f in NAME_FILES)
    return where, enter_prefix(where, kinds, p["chdir"], names), host_cwd(where, kinds, p["chdir"])
