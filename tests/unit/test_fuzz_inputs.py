"""Property tests: whatever the input, the loaders give a result or a clean InputError whose every
problem names a file (and a line where there is one); never a traceback."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nsprov.controller.inventory_files import load_inventory
from nsprov.controller.playbook import load_playbook_lenient
from nsprov.controller.resolve import resolve
from nsprov.controller import yamlsrc
from nsprov.controller.yamlsrc import InputError
from nsprov.model.kinds import MODULES

ROOT = Path(__file__).parents[2]
INVENTORY = "all:\n  hosts:\n    h1: {ansible_host: 127.0.0.1}\n    h2:\n  children:\n    web: {hosts: {h1: }}\n"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.text(max_size=20),
                    st.sampled_from(["{{ x }}", "{{ item }}", "10.0.0.1/24", "default", "eth0", "a" * 16,
                                     "x; rm -rf /", "$(id)", "{{ 'a' + 1 }}", "{{ 1 / 0 }}", "lab1", "present", "absent", "net", "uts"]))
keys = st.sampled_from([*MODULES, "name", "hosts", "tasks", "vars", "loop", "when", "tags", "register", "become",
                        "bogus", "state", "netns", "peer", "address", "addresses", "to", "via", "kinds", "command"])
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(keys, inner, max_size=5)), max_leaves=20)


def _check_clean(exc: InputError, path: str) -> None:
    assert exc.problems
    for p in exc.problems:
        assert p.file and p.message and p.line >= 0
        assert str(p).startswith(p.file)


def _load_and_resolve(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        inv_path = Path(d) / "inv.yml"
        inv_path.write_text(INVENTORY)
        book_path = Path(d) / "book.yml"
        book_path.write_text(text)
        inv = load_inventory([str(inv_path)])
        try:
            book, problems = load_playbook_lenient(str(book_path))
            resolve(book, inv, extra_vars={"x": "1"})
        except InputError as exc:
            _check_clean(exc, str(book_path))


@SETTINGS
@given(st.lists(values, max_size=3))
def test_any_playbook_structure_resolves_or_fails_cleanly(plays):
    _load_and_resolve(yaml.safe_dump(plays))


@SETTINGS
@given(st.lists(st.fixed_dictionaries({"hosts": st.sampled_from(["all", "web", "h2", "nope", "h[0:1]", "!web"]),
                                       "tasks": st.lists(st.dictionaries(keys, values, min_size=1, max_size=3),
                                                         max_size=4)}), max_size=2))
def test_plays_with_random_tasks_resolve_or_fail_cleanly(plays):
    _load_and_resolve(yaml.safe_dump(plays))


@SETTINGS
@given(st.text(alphabet=string.printable + "\u00e9\u4e2d{}[]:-#&*!|>'\"%@`", max_size=300))
def test_any_text_as_a_playbook_fails_cleanly(text):
    _load_and_resolve(text)


@SETTINGS
@given(st.text(alphabet=string.printable, max_size=300))
def test_any_text_as_an_ini_inventory_fails_cleanly(text):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "hosts"
        path.write_text(text)
        try:
            inv = load_inventory([str(path)])
            inv.as_ansible_list()
            inv.graph()
        except InputError as exc:
            _check_clean(exc, str(path))


@SETTINGS
@given(values)
def test_any_yaml_inventory_fails_cleanly(data):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "inv.yml"
        path.write_text(yaml.safe_dump(data))
        try:
            inv = load_inventory([str(path)])
            for h in inv.hosts:
                inv.host_vars(h)
                inv.connection(h)
        except InputError as exc:
            _check_clean(exc, str(path))


def _marks(value):
    if isinstance(value, dict):
        return (value.line, sorted(value.key_lines.items(), key=repr), [_marks(v) for v in value.values()])
    if isinstance(value, list):
        return (value.line, value.item_lines, [_marks(v) for v in value])
    return None


def _parse(text: str, loader) -> tuple:
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError:
        return ("error",)
    return "ok", data, _marks(data)


@SETTINGS
@given(values, st.sampled_from([None, False, True]))
def test_libyaml_loader_gives_the_same_data_and_marks(data, flow):
    """Input is parsed by libyaml first (10x faster); when it refuses, load_yaml parses again
    with the pure-Python parser, which words the error. Documents of any shape (block, flow or
    mixed style) must come out of libyaml exactly as the pure-Python parser makes them: the
    same data and every line mark. (Random text is not compared: the two differ in corners no
    playbook uses, a lone `!` tag, `>#`; such text is still refused or loaded cleanly, as the
    property tests above check through the loaders.)"""
    text = yaml.safe_dump(data, default_flow_style=flow)
    assert _parse(text, yamlsrc._FastLoader) == _parse(text, yamlsrc._Loader)


REPO_YAML = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("**/*.yml")   # the project's own, not venvs or results
                   if not any(part.startswith(".") or part == "results" for part in p.relative_to(ROOT).parts))


@pytest.mark.parametrize("path", REPO_YAML, ids=REPO_YAML)
def test_every_yaml_file_in_the_repository_loads_alike_with_both_parsers(path):
    text = (ROOT / path).read_text()
    fast = _parse(text, yamlsrc._FastLoader)
    assert fast[0] == "ok" and fast == _parse(text, yamlsrc._Loader)


def test_a_yaml_error_is_worded_by_the_pure_python_parser(tmp_path):
    path = tmp_path / "book.yml"
    with pytest.raises(InputError) as exc:
        yamlsrc.load_yaml(path, "- hosts: all\n  tasks:\n\t- netns: {name: a}\n")
    assert "found character '\\t' that cannot start any token" in str(exc.value)
