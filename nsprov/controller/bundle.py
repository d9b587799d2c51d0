"""The agent bundle: a deterministic zipapp of nsprov.agent + nsprov.model, standard library only.

Same sources → same bytes → same sha256, which names the bundle on hosts
(/var/lib/nsprov/agent/<sha256>.pyz). The agent speaks rtnetlink itself (agent/rtdump.py,
agent/rtwrite.py): through pyroute2 a request cost ~0.2 ms and importing it ~0.14 s a run, which
kept W(100) above the `ip -batch` baseline. pyroute2 stays the test oracle that every message
the agent builds or parses is checked against (tests/unit/test_rtnetlink.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import time
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

SHEBANG = b"#!/usr/bin/env python3\n"
EPOCH = (1980, 1, 1, 0, 0, 0)
MAIN = b"import sys\nfrom nsprov.agent.__main__ import main\nsys.exit(main())\n"
REMOTE_CACHE = "/var/lib/nsprov/agent"
KEEP_BUNDLES = 8          # newest bundles kept in the controller's cache (other installs, older sources)
# not in the bundle: the bootstrap is sent as `python3 -c`; the fake kernel is for tests
LEFT_OUT = ("nsprov/agent/bootstrap.py", "nsprov/agent/kernel/fake.py")


@dataclass(frozen=True)
class Bundle:
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"cannot find package {name} to bundle")
    return Path(list(spec.submodule_search_locations)[0])


def _py_files(root: Path, arc_prefix: str) -> list[tuple[str, Path]]:
    out = []
    for p in sorted(root.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        out.append((f"{arc_prefix}/{p.relative_to(root).as_posix()}", p))
    return out


def bundle_sources() -> list[tuple[str, Optional[Path], Optional[bytes]]]:
    """(name in zip, file to read, or bytes) for every member, sorted by name."""
    nsprov_dir = _package_dir("nsprov")
    members: list[tuple[str, Optional[Path], Optional[bytes]]] = [
        ("__main__.py", None, MAIN),
        ("nsprov/__init__.py", nsprov_dir / "__init__.py", None),
    ]
    for sub in ("model", "agent"):
        members += [(a, p, None) for a, p in _py_files(nsprov_dir / sub, f"nsprov/{sub}")
                    if a not in LEFT_OUT]
    return sorted(members, key=lambda m: m[0])


def build_bundle() -> Bundle:
    buf = io.BytesIO()
    buf.write(SHEBANG)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for arcname, path, data in bundle_sources():
            info = zipfile.ZipInfo(arcname, date_time=EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data if data is not None else path.read_bytes(), compresslevel=6)
    data = buf.getvalue()
    return Bundle(data, hashlib.sha256(data).hexdigest())


def _cache_key() -> str:
    """Changes whenever a bundled source file changes (path, size, mtime)."""
    h = hashlib.sha256()
    for arcname, path, data in bundle_sources():
        h.update(arcname.encode())
        if path is not None:
            st = path.stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        else:
            h.update(data)
    return h.hexdigest()[:32]


def load_bundle() -> Bundle:
    """The bundle for the installed sources, built once and cached under ~/.cache/nsprov."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nsprov"
    path = cache / f"bundle-{_cache_key()}.pyz"
    try:
        data = path.read_bytes()
        return Bundle(data, hashlib.sha256(data).hexdigest())
    except OSError:
        pass
    bundle = build_bundle()
    try:
        cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(bundle.data)
        os.replace(tmp, path)
        _prune(cache)
    except OSError:
        pass
    return bundle


def _prune(cache: Path) -> None:
    """Every source edit makes a new bundle; keep the KEEP_BUNDLES newest (an install whose
    bundle went only builds it again, ~30 ms) and no leftover temporary files."""
    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0
    bundles = sorted(cache.glob("bundle-*.pyz"), key=mtime, reverse=True)
    for old in bundles[KEEP_BUNDLES:] + [t for t in cache.glob("bundle-*.tmp") if time.time() - mtime(t) > 3600]:
        try:
            old.unlink()
        except OSError:
            pass


@lru_cache(maxsize=1)
def bootstrap_code() -> str:
    """The bootstrap (nsprov/agent/bootstrap.py: it runs on the host, so it lives with the agent)."""
    return (_package_dir("nsprov") / "agent" / "bootstrap.py").read_text()
