"""exec: a one-shot command inside a namespace set or netns."""

from nsprov.model import types as t
from nsprov.model.kinds.base import Kind, Param
from nsprov.model.kinds.process import CHDIR_DOC, ENV_DOC, NAMESPACE_DOC, NETNS_DOC, where_declares, where_rules


def _label(p: dict) -> str:
    where = p["namespace"] or p["netns"]
    return f"exec {' '.join(p['command'] or [])[:40]}" + (f" in {where}" if where else "")


class Exec(Kind):
    name = "exec"
    summary = "a one-shot command inside a namespace set or netns (changed unless creates/changed_when)"
    doc = ("Runs COMMAND once per run and waits for it (up to 300 s); a non-zero exit fails the task (and "
           "rolls the run back), unless `failed_when: false`. It is reported changed, unless `creates` names a path that exists (then it "
           "does not run) or `changed_when: false`.")
    absent = ""
    example = "exec: {command: [ip, route], netns: red, changed_when: false}"
    params = {
        "command": Param(t.COMMAND, "argv", required=True, example=["ip", "link", "set", "lo", "up"]),
        "namespace": Param(t.NETNS, NAMESPACE_DOC, default=""),
        "netns": Param(t.NETNS, NETNS_DOC, default=""),
        "creates": Param(t.PATH, "skip the command when this path exists (looked up where it runs)",
                         example="/run/setup-done"),
        "changed_when": Param(t.BOOL, "report the task changed when it ran (true or false, no expression)",
                              default=True, example=False),
        "failed_when": Param(t.BOOL, "fail the task when the command exits non-zero (false: the exit status is "
                                     "reported, and the play goes on)", default=True, example=False),
        "env": Param(t.ENV, ENV_DOC, default={}),
        "chdir": Param(t.PATH, CHDIR_DOC, default="/", example="/srv"),
    }
    label = staticmethod(_label)
    rules = staticmethod(where_rules)
    declares = staticmethod(where_declares)


KIND = Exec()
