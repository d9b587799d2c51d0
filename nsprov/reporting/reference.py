"""How `nsprov doc` reads: plain text, as ansible-doc prints it, so it pipes to less and grep."""

from __future__ import annotations

import textwrap

from nsprov.model.reference import example_value, keywords_reference, module_reference
from nsprov.model.kinds import KINDS

WIDTH = 100


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent)


def render_index() -> str:
    """`nsprov doc`: every module with its summary, then the play and task keywords."""
    width = max(len(k.name) for k in KINDS) + 2
    lines = ["MODULES"]
    lines += [textwrap.fill(k.summary, WIDTH, initial_indent=f"  {k.name:<{width}}",
                            subsequent_indent=" " * (width + 2)) for k in KINDS]
    for title, words in (("TASK KEYWORDS (beside the module)", keywords_reference()["task"]),
                         ("PLAY KEYWORDS", keywords_reference()["play"])):
        w = max(len(k) for k in words) + 2
        lines += ["", title] + [textwrap.fill(v, WIDTH, initial_indent=f"  {k:<{w}}", subsequent_indent=" " * (w + 2))
                                for k, v in words.items()]
    lines += ["", "`nsprov doc MODULE` shows a module's parameters; `nsprov schema` writes a JSON Schema "
                  "for editors."]
    return "\n".join(lines) + "\n"


def render_module(name: str) -> str:
    """`nsprov doc MODULE`: what it manages, every parameter, what state: absent does, an example."""
    ref = module_reference(name)
    lines = [f"> {ref['module'].upper()}    {ref['summary']}", "", _wrap(ref["description"], "  "), "",
             "PARAMETERS"]
    for p in ref["parameters"]:   # laid out as ansible-doc lays out an option
        lines += [f"- {p['name']}", _wrap(p["description"], "      "), f"      type: {p['type']}"]
        if p["required"]:
            lines.append("      required: yes")
        elif p["default"] is not None:
            lines.append(f"      default: {example_value(p['default'])}")
        if p["example"] is not None:
            lines.append(f"      example: {p['name']}: {example_value(p['example'])}")
    if ref["absent"]:
        lines += ["", "STATE: ABSENT", _wrap(ref["absent"], "  ")]
    first, *rest = ref["example"].splitlines()
    lines += ["", "EXAMPLE", f"  - {first}", *(f"    {line}" for line in rest)]
    return "\n".join(lines) + "\n"
