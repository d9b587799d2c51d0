"""One task for one host and item, rendered and validated, and shared between hosts whose
variables it reads are equal."""

from __future__ import annotations

from nsprov.controller.inventory import Inventory
from nsprov.controller.playbook import Task
from nsprov.controller.templating import TemplateError, Unfreezable, evaluate, frozen, render
from nsprov.controller.yamlsrc import plain
from nsprov.model.errors import did_you_mean
from nsprov.model.kinds import object_name, validate_params


def task_outcome(task: Task, variables: dict, where: str, item_label: str) -> tuple:
    """One task for one host and item, as far as it depends on the variables alone: its
    problems [(line, field, message)] and its request entry (None when it has problems), and
    whether both depend only on the variables its templates name (see Outcomes)."""
    line = task.line
    try:
        params = render(plain(task.params), variables)
    except TemplateError as exc:
        return [(line, f"{where}.{task.module}", str(exc))], None, True
    params, invalid = validate_params(task.module, params)
    if invalid:
        return [(task.param_lines.get(fld, line), f"{where}.{task.module}.{fld}" if fld else where, message)
                for fld, message in invalid], None, True
    name = task.name if task.name is not None else object_name(task.module, params)
    # a name made from the parameters is rendered again: what it renders can come from values
    # (not names) the templates read, so such an outcome is not shared
    shared = task.name is not None or not ("{{" in name or "{%" in name)
    try:
        name = str(render(name, variables)) + item_label
    except TemplateError as exc:
        return [(line, f"{where}.name", str(exc))], None, shared
    entry = {"name": name, "module": task.module, "params": params}
    if task.when is not None:
        try:
            if not evaluate(task.when, variables):
                entry = {"name": name, "module": task.module, "skip": f"when: {task.when} is false"}
        except TemplateError as exc:
            return [(task.line_of("when"), f"{where}.when", str(exc))], None, shared
    return [], entry, shared


_UNSHARED = object()


class Outcomes:
    """Task outcomes shared between hosts. A play run on 50 hosts renders and validates the
    same task 50 times, mostly with the same values (an item, a play var): ~30 us each, which
    is 0.1 s of a 50-host run before the first connection. An outcome is shared when the
    names its templates look up (every Name in their parse tree) hold equal values, compared with
    their types; a template that names a variable holding anything else (hostvars, filled in
    as it is read) is rendered for every host as before."""

    def __init__(self):
        self._seen: dict = {}       # key -> (problems, entry) or _UNSHARED

    def outcome(self, task: Task, variables: dict, where: str, item_label: str) -> tuple:
        key = None
        if task.names is not None:
            try:
                key = (id(task), where, item_label,
                       tuple((n, frozen(variables[n]) if n in variables else None) for n in task.names))
            except Unfreezable:
                key = None
        if key is not None:
            seen = self._seen.get(key)
            if seen is not None and seen is not _UNSHARED:
                return seen
        problems, entry, shared = task_outcome(task, variables, where, item_label)
        if key is not None:
            self._seen[key] = (problems, entry) if shared else _UNSHARED
        return problems, entry


class LazyHostvars(dict):
    """`hostvars['lab2'].ansible_host` in templates, computed only for hosts a template names."""

    def __init__(self, inv: Inventory):
        super().__init__()
        self._inv = inv

    def __missing__(self, host: str) -> dict:
        if host not in self._inv.hosts:   # not a KeyError: Jinja would make it "no attribute" of this class
            raise TemplateError(f"hostvars[{host!r}]: host {host!r} is not in the inventory"
                                f"{did_you_mean(host, self._inv.hosts)}")
        self[host] = self._inv.host_vars(host)
        return self[host]

    def __contains__(self, host: object) -> bool:
        return host in self._inv.hosts
