"""The module reference and the playbook JSON Schema, both read from the one module table
(nsprov.model.kinds) and the playbook's keywords: `nsprov doc` and `nsprov schema` never say
anything the loader does not hold to.

The schema follows the loader: where a parameter takes a value, it also takes a template
(`{{ }}` or `{% %}`, rendered per host before validation); a whole number also takes a string
of digits and a boolean also takes yes/no/true/false/on/off strings, as the loader does; an
optional parameter may be null (not given). Rules across fields (a command required when
present, an address not on both ends) are the loader's alone."""

from __future__ import annotations

import copy

from nsprov.model.kinds import KINDS, Kind
from nsprov.model.reference import PLAY_KEYWORDS, TASK_KEYWORDS
from nsprov.model.types import NAME_RULE

SCHEMA_ID = "https://nsprov.dev/schema/playbook.json"
TEMPLATE = {"type": "string", "pattern": r"\{\{|\{%", "description": "a Jinja2 template, rendered per host"}
DIGITS = {"type": "string", "pattern": r"^-?[0-9]+$"}
# case-blind as the loader is, in the regex dialect editors speak (ECMA 262: no inline flags)
YES_NO = {"type": "string", "pattern": "^([Yy][Ee][Ss]|[Nn][Oo]|[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Oo][Nn]|"
                                       "[Oo][Ff][Ff]|1|0)$"}
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _loose(fragment: dict) -> list:
    """What the loader takes besides FRAGMENT itself: digit strings for numbers, yes/no strings
    for booleans. (Nested numbers and booleans are loosened too.)"""
    kinds = fragment.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    extra = []
    if "integer" in kinds:
        extra.append(DIGITS)
    if "boolean" in kinds:
        extra.append(YES_NO)
    return extra


def _deep_loose(fragment: dict) -> dict:
    """FRAGMENT with every integer or boolean inside it (list items, object properties) also
    taking what the loader takes, and every string also a template."""
    out = copy.deepcopy(fragment)
    if "items" in out:
        out["items"] = _value(out["items"])
    if "properties" in out:
        out["properties"] = {k: _value(v) for k, v in out["properties"].items()}
    return out


def _value(fragment: dict) -> dict:
    return {"anyOf": [_deep_loose(fragment), *_loose(fragment), TEMPLATE]}


def param_schema(kind: Kind, name: str) -> dict:
    spec = kind.params[name]
    out = _value(spec.type.schema)
    if not spec.required:
        out["anyOf"].append({"type": "null"})
    out["description"] = f"{spec.doc} ({spec.type.name})"
    if spec.default not in (None, "", [], {}):
        out["default"] = spec.default
    if spec.example is not None:
        out["examples"] = [spec.example]
    return out


def module_schema(kind: Kind) -> dict:
    return {"type": "object", "description": kind.summary, "additionalProperties": False,
            "required": [n for n, p in kind.params.items() if p.required],
            "properties": {n: param_schema(kind, n) for n in kind.params}}


_TAGS = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": ["string", "number"]}}]}
_BOOLISH = {"anyOf": [{"type": "boolean"}, YES_NO]}


def _task_keywords() -> dict:
    kinds = {"name": {"type": "string"}, "tags": _TAGS, "when": {"type": ["string", "boolean"]},
             "loop": {"anyOf": [{"type": "array"}, TEMPLATE]},
             "register": {"type": "string", "pattern": _VARIABLE_PATTERN}}
    return {k: {**kinds[k], "description": TASK_KEYWORDS[k]} for k in TASK_KEYWORDS}


def _play() -> dict:
    kinds = {"name": {"type": "string"}, "hosts": {"type": "string", "minLength": 1},
             "vars": {"type": ["object", "null"]}, "become": _BOOLISH, "tags": _TAGS,
             "tasks": {"type": ["array", "null"], "items": {"$ref": "#/definitions/task"}},
             "gather_facts": _BOOLISH, "any_errors_fatal": _BOOLISH, "persist": _BOOLISH,
             "lab": {"type": "string", "pattern": _NAME_PATTERN, "description": f"{NAME_RULE}"}}
    props = {k: {**kinds[k], "description": PLAY_KEYWORDS[k] +
                 (f"; {kinds[k]['description']}" if "description" in kinds[k] else "")} for k in PLAY_KEYWORDS}
    return {"type": "object", "required": ["hosts"], "additionalProperties": False, "properties": props}


def playbook_schema() -> dict:
    """A JSON Schema (draft-07, what yaml-language-server reads) for nsprov playbooks: a list of
    plays; a task is exactly one module (oneOf) with the task keywords beside it."""
    keywords = _task_keywords()
    tasks = [{"title": kind.name, "type": "object", "required": [kind.name], "additionalProperties": False,
              "properties": {kind.name: {"$ref": f"#/definitions/modules/{kind.name}"}, **keywords}}
             for kind in KINDS]
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "nsprov playbook",
        "description": "Plays of tasks, each task exactly one nsprov module (see `nsprov doc MODULE`).",
        "type": "array",
        "items": {"$ref": "#/definitions/play"},
        "definitions": {
            "play": _play(),
            "task": {"oneOf": tasks, "description": "exactly one module, with name/tags/when/loop/register"},
            "modules": {kind.name: module_schema(kind) for kind in KINDS},
        },
    }
