"""Jinja2 templating of playbook values, Ansible style: `{{ var }}` alone keeps its type.

Templates run on the controller, from files anyone may hand over, so they run in Jinja2's
immutable sandbox (no attribute of Python's internals, no list or dict changed in place) and
within limits, each of which is an input error naming the file and line, not a minute of CPU
and gigabytes of memory:
- a `range` gives at most MAX_RANGE numbers (the sandbox's own limit), so a loop has at most
  as many items;
- a string or list a template makes (its output, a `*` or `+`, a width given to a filter) is
  at most MAX_OUTPUT characters or items;
- one template renders within MAX_SECONDS (an interval timer in the main thread; elsewhere
  every call the template makes checks the clock).
"""

from __future__ import annotations

import re
import signal
import threading
import time
from functools import lru_cache
from typing import Any, Optional

from nsprov.controller.yamlsrc import MarkedDict, MarkedList
from nsprov.model.errors import did_you_mean

_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)


MAX_RANGE = 100_000          # numbers in one range(): the sandbox's own limit
MAX_OUTPUT = 1_000_000       # characters (or items) of one value a template makes
MAX_SECONDS = 2.0            # to render one template
_WIDTH_FILTERS = ("center", "indent", "truncate", "wordwrap")


class TemplateError(ValueError):
    pass


class TemplateLimit(TemplateError):
    """A template went past one of the limits above."""


class TemplateTimeout(TemplateLimit):
    """A template took longer than MAX_SECONDS: the same source is not tried again (for the
    next host), so a run with many hosts still says so within seconds."""


def _sized(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > MAX_OUTPUT:
        raise TemplateLimit(f"a template made a value of {len(value)} characters or items; "
                            f"the limit is {MAX_OUTPUT}")
    return value


class _Clock:
    """The deadline of the template being rendered in this thread (0: none)."""
    local = threading.local()

    @classmethod
    def check(cls) -> None:
        deadline = getattr(cls.local, "deadline", 0)
        if deadline and time.monotonic() > deadline:
            raise TemplateTimeout(f"a template took over {MAX_SECONDS:g} s to render")


def _on_alarm(signum, frame):
    raise TemplateTimeout(f"a template took over {MAX_SECONDS:g} s to render")


class _Limited:
    """Runs one render of SOURCE within MAX_SECONDS: an interval timer when in the main thread
    (it stops even a loop that calls nothing), the call hook's clock checks everywhere."""
    too_slow: set = set()

    def __init__(self, source: str):
        self.source = source

    def __enter__(self):
        if self.source in self.too_slow:
            raise TemplateTimeout(f"a template took over {MAX_SECONDS:g} s to render")
        self.outer = getattr(_Clock.local, "deadline", 0)
        if self.outer:
            return self           # a template rendered while rendering one: the outer limit holds
        _Clock.local.deadline = time.monotonic() + MAX_SECONDS
        self.timer = threading.current_thread() is threading.main_thread()
        if self.timer:
            self.previous = signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, MAX_SECONDS)
        return self

    def __exit__(self, kind, exc, tb):
        if self.outer:
            return False
        if self.timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        _Clock.local.deadline = 0
        if kind is not None and issubclass(kind, TemplateTimeout):
            self.too_slow.add(self.source)
        return False


def _bounded_filter(f):
    def bounded(*args, **kwargs):
        for a in (*args[1:], *kwargs.values()):
            if isinstance(a, int) and not isinstance(a, bool) and a > MAX_OUTPUT:
                raise TemplateLimit(f"a width of {a} given to a filter; the limit is {MAX_OUTPUT}")
        return _sized(f(*args, **kwargs))
    for attr in ("jinja_pass_arg",):
        if hasattr(f, attr):
            setattr(bounded, attr, getattr(f, attr))
    return bounded


@lru_cache(maxsize=1)
def _env():
    """Jinja2's immutable sandbox, imported when the first template is met: a playbook without
    any pays nothing."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+"})

        def call_binop(self, context, operator, left, right):
            _Clock.check()
            if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 \
                    and right * max(abs(left), 2).bit_length() > 4096:
                raise TemplateLimit(f"{left} ** {right} is over 4096 bits")
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_OUTPUT:
                        raise TemplateLimit(f"a template would make a value of {len(seq) * n} characters or "
                                            f"items; the limit is {MAX_OUTPUT}")
            return _sized(super().call_binop(context, operator, left, right))

        def call(__self, __context, __obj, *args, **kwargs):   # noqa: N805 (Jinja's own signature)
            _Clock.check()
            return _sized(super().call(__context, __obj, *args, **kwargs))

    env = Sandbox(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    for name in _WIDTH_FILTERS:
        env.filters[name] = _bounded_filter(env.filters[name])
    return env


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


def _rendered(template, variables: dict) -> str:
    """The template's output, given up as soon as it passes MAX_OUTPUT."""
    parts, size = [], 0
    for chunk in template.generate(**variables):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise TemplateLimit(f"a template's output passed {MAX_OUTPUT} characters")
        parts.append(chunk)
    return "".join(parts)


def render(value: Any, variables: dict) -> Any:
    """Render strings (recursively in lists and dicts); undefined variables raise TemplateError."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        jinja2 = _jinja()
        try:
            m = _WHOLE.match(value)
            with _Limited(value):
                if m and "{{" not in m.group(1) and "}}" not in m.group(1):
                    return _sized(_defined(_expression(m.group(1).strip())(**variables)))
                return _rendered(_template(value), variables)
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
        with _Limited(str(expression)):
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
