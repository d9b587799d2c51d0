"""The shape of the code, checked like any other behaviour: in nsprov/, no file over 400 lines,
no function over 60, no function with more than 6 parameters (click commands aside: their
parameters are their options). A file or function that grows past these is a sign of a missing
noun (STYLE.md); this test says which."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2] / "nsprov"
MAX_FILE, MAX_FUNCTION, MAX_PARAMS = 400, 60, 6


def _is_click_command(node) -> bool:
    for d in node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        name = ast.unparse(target)
        if name.endswith((".command", ".group")) or name in ("click.command", "click.group"):
            return True
    return False


def shape_problems(root: Path = ROOT) -> list:
    problems = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(root.parent)
        lines = len(text.splitlines())
        if lines > MAX_FILE:
            problems.append(f"{rel}: {lines} lines (at most {MAX_FILE})")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION:
                problems.append(f"{rel}:{node.lineno}: {node.name} is {length} lines (at most {MAX_FUNCTION})")
            a = node.args
            params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs if p.arg not in ("self", "cls")]
            if len(params) > MAX_PARAMS and not _is_click_command(node):
                problems.append(f"{rel}:{node.lineno}: {node.name} takes {len(params)} parameters "
                                f"(at most {MAX_PARAMS})")
    return problems


def test_no_file_function_or_parameter_list_is_too_big():
    assert shape_problems() == []


def test_the_check_itself_catches_each_kind_of_excess(tmp_path):
    pkg = tmp_path / "nsprov"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (pkg / "big.py").write_text("def long():\n" + body + "\n\n\ndef wide(a, b, c, d, e, f, g):\n    pass\n"
                                + "\n" * 340)
    found = shape_problems(pkg)
    assert any("big.py: " in p and "lines (at most 400)" in p for p in found)
    assert any("long is 62 lines" in p for p in found)
    assert any("wide takes 7 parameters" in p for p in found)
