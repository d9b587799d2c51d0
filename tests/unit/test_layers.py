"""The layers the README draws are the ones the imports make: the kernel layer (agent/kernel/)
is at the bottom of the agent and imports nothing else of it, and reporting renders model data
only. Every import counts, the ones inside functions too. Each rule has a control: the same check
over a made-up file that breaks it must find the break."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2] / "nsprov"

# package (as a dotted prefix) -> the nsprov packages its modules may import
RULES = {
    "nsprov.agent.kernel": ("nsprov.agent.kernel", "nsprov.model"),
    "nsprov.reporting": ("nsprov.reporting", "nsprov.model"),
    "nsprov.model": ("nsprov.model",),
}


def imports(source: str, module: str) -> list:
    """Every nsprov module SOURCE (the text of MODULE) imports, wherever the import is."""
    out = []
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            out += [base] + [f"{base}.{a.name}" for a in node.names]
    return [name for name in out if name == "nsprov" or name.startswith("nsprov.")]


def breaks(source: str, module: str) -> list:
    """The imports of MODULE that its layer's rule forbids."""
    for layer, allowed in RULES.items():
        if module == layer or module.startswith(layer + "."):
            return sorted({name for name in imports(source, module)
                           if not any(name == a or name.startswith(a + ".") for a in allowed)})
    return []


def _modules() -> list:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


@pytest.mark.parametrize("layer", sorted(RULES))
def test_each_layer_imports_only_what_is_below_it(layer):
    found = {module: breaks(path.read_text(), module) for module, path in _modules()
             if module == layer or module.startswith(layer + ".")}
    assert found, f"no module in {layer}"
    assert {m: b for m, b in found.items() if b} == {}


@pytest.mark.parametrize("module, source, broken", [
    ("nsprov.agent.kernel.netns", "from nsprov.agent.state import Observed\n", "nsprov.agent.state"),
    ("nsprov.agent.kernel", "def f():\n    from nsprov.agent import ops\n", "nsprov.agent.ops"),
    ("nsprov.agent.kernel.rtdump", "from ..ledger import Ledger\n", "nsprov.agent.ledger"),
    ("nsprov.reporting.graph", "import nsprov.controller.runner\n", "nsprov.controller.runner"),
    ("nsprov.model.kinds.veth", "from nsprov.agent.resources import veth\n", "nsprov.agent.resources"),
])
def test_control_a_file_that_breaks_its_layer_is_caught(module, source, broken):
    assert broken in breaks(source, module)
    assert breaks("from nsprov.model import types\n", module) == []
