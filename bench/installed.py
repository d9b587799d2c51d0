"""nsprov as pip installs it, for timing: this tree installed (not editable) into a venv of the
bench's own, `bench/.venv-nsprov`, byte-compiled by pip.

The development venv's editable install adds an import hook that every Python start of that
venv pays (~11 ms here: setuptools' finder imports pathlib, urllib.parse and re), which no
user's `pip install nsprov` has; a bench run from it would time the checkout, not the tool.
The first call makes the venv with nsprov's dependencies from the package index; later calls
reinstall only nsprov, so the tree being measured is always the one the bench runs from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-nsprov"


def install() -> Path:
    """The installed venv's python, with this tree's nsprov in it."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], check=True)
    else:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(ROOT)],
                       check=True)
    return python


def command(python: Path) -> list:
    """The `nsprov` command of that venv, as a user runs it (its console script: no current
    directory on the module path, so the checkout's own package is never the one imported)."""
    return [str(python.parent / "nsprov")]
