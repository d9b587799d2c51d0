"""The agent bundle is deterministic and self-contained; the agent answers bad requests cleanly."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from nsprov.controller.bundle import build_bundle

SYSTEM_PYTHON = "/usr/bin/python3"   # Debian's, without pyroute2: what a target has


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    b = build_bundle()
    path = tmp_path_factory.mktemp("bundle") / f"{b.sha256}.pyz"
    path.write_bytes(b.data)
    return b, path


def test_same_sources_give_the_same_bytes(bundle):
    again = build_bundle()
    assert again.sha256 == bundle[0].sha256 and again.data == bundle[0].data


def test_bundle_carries_agent_and_model_only(bundle):
    names = zipfile.ZipFile(BytesIO(bundle[0].data)).namelist()
    assert "__main__.py" in names and "nsprov/agent/__main__.py" in names and "nsprov/model/protocol.py" in names
    assert "nsprov/agent/kernel/rtwrite.py" in names and "nsprov/agent/kernel/rtdump.py" in names
    assert "nsprov/agent/bootstrap.py" not in names   # sent as python3 -c, never run from the bundle
    assert not any(n.startswith(("nsprov/controller", "nsprov/reporting", "nsprov/lab", "nsprov/cli", "pyroute2"))
                   for n in names)
    assert not any("__pycache__" in n for n in names)
    assert len(bundle[0].data) < 200_000


def test_agent_and_model_import_nothing_from_the_controller_side():
    """Imports flow one way: agent and model use the standard library (and each other) only."""
    root = Path(__file__).parents[2] / "nsprov"
    banned = ("nsprov.controller", "nsprov.reporting", "nsprov.lab", "nsprov.cli",
              "fabric", "paramiko", "rich", "yaml", "jinja2", "click", "pyroute2")
    for pkg in ("agent", "model"):
        for f in (root / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text())):
                mods = []
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    mods = [node.module]
                for m in mods:
                    assert not m.startswith(banned), f"{f}: imports {m}"
                    if pkg == "model":
                        assert not m.startswith("nsprov.agent"), f"{f}: imports {m}"


def _agent(path: Path, stdin: bytes) -> tuple[int, list[dict]]:
    proc = subprocess.run([SYSTEM_PYTHON, str(path)], input=stdin, capture_output=True, timeout=60)
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.mark.parametrize("stdin,message", [
    (b"{not json", "request is not valid JSON"),
    (b'{"protocol": 99, "op": "facts"}', "protocol version 99 is not supported"),
    (b'{"op": "facts"}', "protocol version None is not supported"),
    (b'[1, 2]', "request must be a JSON object"),
    (b'{"protocol": 1, "op": "rm -rf /"}', "unknown op 'rm -rf /'"),
    (b'\xff\xfe' * 10, "request is not valid JSON"),
    (b"", "request is not valid JSON"),
])
def test_agent_refuses_bad_requests_with_one_clean_error(bundle, stdin, message):
    status, events = _agent(bundle[1], stdin)
    assert status == 2
    assert len(events) == 1 and events[0]["event"] == "error" and events[0]["type"] == "ProtocolError"
    assert message in events[0]["message"]


def test_agent_runs_from_the_zip_with_a_plain_system_python(bundle):
    status, events = _agent(bundle[1], b'{"protocol": 1, "op": "facts"}')
    assert status == 0, events
    assert [e["event"] for e in events] == ["facts", "done"]
    facts = events[0]["facts"]
    assert "lo" in [link["name"] for link in facts["links"][""]]
    assert "net" in facts["namespace_kinds"]


def test_the_bundle_cache_keeps_the_newest_bundles_only(tmp_path, monkeypatch):
    from nsprov.controller import bundle as b
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "nsprov"
    cache.mkdir()
    olds = []
    for i in range(b.KEEP_BUNDLES + 4):   # bundles of earlier sources, oldest first
        p = cache / f"bundle-old{i:02d}.pyz"
        p.write_bytes(b"x")
        os.utime(p, (1_000_000 + i, 1_000_000 + i))
        olds.append(p.name)
    stale, fresh = cache / "bundle-x.123.tmp", cache / "bundle-y.456.tmp"   # a crashed write; one in progress
    stale.write_bytes(b"x")
    os.utime(stale, (1_000_000, 1_000_000))
    fresh.write_bytes(b"x")
    got = b.load_bundle()
    left = sorted(p.name for p in cache.glob("bundle-*.pyz"))
    current = f"bundle-{b._cache_key()}.pyz"
    assert (cache / current).read_bytes() == got.data
    assert left == sorted([current, *olds[-(b.KEEP_BUNDLES - 1):]])
    assert not stale.exists() and fresh.exists()
    assert b.load_bundle().data == got.data   # read back from the cache
