"""The reference as data: every module's parameters and docs, and the play and task keywords,
for `nsprov doc` (reporting/reference.py renders it), `nsprov doc --json` and `nsprov schema`."""

from __future__ import annotations

from typing import Any

from nsprov.model.kinds import MODULES

# the keywords a play and a task take, with what they mean (`nsprov doc`, `nsprov schema`)
PLAY_KEYWORDS = {
    "name": "what the play is called in the output",
    "hosts": "an Ansible host pattern: the hosts the play targets (required)",
    "vars": "variables for its tasks' templates (over inventory vars; -e wins over both)",
    "become": "run the agent with sudo on its hosts (as ansible_become)",
    "tags": "tags every task of the play has (for --tags / --skip-tags)",
    "tasks": "the tasks, in order; each names exactly one module",
    "gather_facts": "accepted for Ansible playbooks; nsprov's agent always observes the kernel itself",
    "any_errors_fatal": "a failure on one host stops every host of the play at its next safe point",
    "lab": "the lab's name (default: the playbook's file name); every play of a file names the same lab",
    "persist": "keep the lab across reboots of its hosts: a systemd unit on each re-applies it at boot (true on "
               "any play keeps the whole lab; a host without systemd warns and goes on; --persist insists)",
}
TASK_KEYWORDS = {
    "name": "what the task is called in the output (default: the object it manages)",
    "tags": "a tag or a list of tags (for --tags / --skip-tags; `always` runs unless skipped by name)",
    "when": "a Jinja2 expression or a boolean: run the task only when true (settled before the run)",
    "loop": "a list, or a template giving one: the task runs once per item, as `item`",
    "register": "a name for the task's result in --json output",
}


def module_reference(name: str) -> dict:
    """What `nsprov doc MODULE --json` prints: the module's reference as data."""
    kind = MODULES[name]
    return {
        "module": kind.name, "summary": kind.summary, "description": kind.doc, "absent": kind.absent or None,
        "example": kind.example,
        "parameters": [{"name": n, "type": p.type.name, "required": p.required, "default": p.default,
                        "description": p.doc, "example": p.example} for n, p in kind.params.items()],
    }


def keywords_reference() -> dict:
    return {"play": dict(PLAY_KEYWORDS), "task": dict(TASK_KEYWORDS)}


def example_value(value: Any) -> str:
    """A parameter's example as it is written in YAML flow style."""
    import json
    if isinstance(value, str):
        return value if value and all(c.isalnum() or c in "._/-:" for c in value) else json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(example_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {example_value(v)}" for k, v in value.items()) + "}"
    return str(value)
