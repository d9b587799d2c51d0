"""Jinja2 templating of playbook values, Ansible style: `{{ var }}` alone keeps its type."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Optional

from nsprov.controller.yamlsrc import MarkedDict, MarkedList
from nsprov.model.errors import did_you_mean

_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)


class TemplateError(ValueError):
    pass


@lru_cache(maxsize=1)
def _env():
    """Jinja2, imported when the first template is met: a playbook without any pays nothing."""
    import jinja2
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def _jinja():
    import jinja2
    return jinja2


@lru_cache(maxsize=4096)
def _template(source: str):
    """Compiling is the expensive part (~0.6 ms); a loop renders the same source many times."""
    return _env().from_string(source)


@lru_cache(maxsize=4096)
def _expression(source: str):
    return _env().compile_expression(source, undefined_to_none=False)


def _defined(value: Any) -> Any:
    if isinstance(value, _jinja().Undefined):
        str(value)   # StrictUndefined raises here, naming the variable
    return value


_UNDEFINED_NAME = re.compile(r"^'([A-Za-z_][A-Za-z0-9_]*)' is undefined$")


def _undefined(exc, variables: dict) -> str:
    """`undefined variable: 'inventroy_hostname' is undefined (did you mean inventory_hostname?)`"""
    m = _UNDEFINED_NAME.match(exc.message or "")
    return f"undefined variable: {exc.message}" + (did_you_mean(m.group(1), variables) if m else "")


def render(value: Any, variables: dict) -> Any:
    """Render strings (recursively in lists and dicts); undefined variables raise TemplateError."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        jinja2 = _jinja()
        try:
            m = _WHOLE.match(value)
            if m and "{{" not in m.group(1) and "}}" not in m.group(1):
                return _defined(_expression(m.group(1).strip())(**variables))
            return _template(value).render(**variables)
        except jinja2.UndefinedError as exc:
            raise TemplateError(_undefined(exc, variables)) from None
        except TemplateError:
            raise
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template error in {value!r}: {exc}") from None
        except Exception as exc:   # the expression itself failed: 'a' + 1, 1 / 0, a filter given junk
            raise TemplateError(f"template error in {value!r}: {type(exc).__name__}: {exc}") from None
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    return value


def evaluate(expression: Any, variables: dict) -> Any:
    """A bare Jinja expression (as in `when:`), evaluated to a Python value."""
    if isinstance(expression, bool):
        return expression
    jinja2 = _jinja()
    try:
        return _defined(_expression(str(expression))(**variables))
    except jinja2.UndefinedError as exc:
        raise TemplateError(_undefined(exc, variables)) from None
    except TemplateError:
        raise
    except jinja2.TemplateError as exc:
        raise TemplateError(f"invalid expression {expression!r}: {exc}") from None
    except Exception as exc:
        raise TemplateError(f"invalid expression {expression!r}: {type(exc).__name__}: {exc}") from None


# ------------------------------------------------------------------ what a template reads
@lru_cache(maxsize=4096)
def _source_names(source: str) -> Optional[frozenset]:
    """Every name the template looks up: a superset of the variables it reads (names it sets
    itself, and Jinja's globals such as range, are in it too; a variable that shadows a global
    is therefore never missed). Parsing only: an unknown test or filter (`is changed`) still
    gives the names, the error is left to rendering."""
    jinja2 = _jinja()
    try:
        return frozenset(n.name for n in _env().parse(source).find_all(jinja2.nodes.Name) if n.ctx == "load")
    except jinja2.TemplateSyntaxError:
        return None


def names_read(value: Any) -> Optional[frozenset]:
    """Every variable the templates in VALUE (strings, recursively in lists and dicts) read, or
    None when one of them does not parse (rendering it reports that)."""
    if isinstance(value, str):
        return _source_names(value) if "{{" in value or "{%" in value else frozenset()
    if isinstance(value, (list, tuple)):
        parts = [names_read(v) for v in value]
    elif isinstance(value, dict):
        parts = [names_read(v) for v in value.values()]
    else:
        return frozenset()
    if any(p is None for p in parts):
        return None
    return frozenset().union(*parts)


def names_evaluated(expression: Any) -> Optional[frozenset]:
    """The variables a bare expression (as in `when:`) reads; None when it does not parse."""
    if isinstance(expression, bool):
        return frozenset()
    return _source_names("{{ (" + str(expression) + ") }}")


class Unfreezable(Exception):
    """A value that cannot stand in a cache key (say, hostvars, filled in as it is read)."""


_PLAIN = (str, int, float, bool, type(None))
_CONTAINERS = (dict, list, tuple, MarkedDict, MarkedList)


def frozen(value: Any) -> Any:
    """VALUE as a hashable key equal only for values every template renders alike (types are
    part of it: 1, 1.0 and True render differently); Unfreezable for anything else."""
    kind = type(value)
    if kind in _PLAIN:
        return (kind, value)
    if kind not in _CONTAINERS:
        raise Unfreezable(kind.__name__)
    if isinstance(value, dict):
        return (kind, tuple((frozen(k), frozen(v)) for k, v in value.items()))
    return (kind, tuple(frozen(v) for v in value))
