"""Resolved plans, kept between runs: a second run of the same playbook on the same inventory
(R, drift, a re-run after a look) skips rendering its templates and importing Jinja2 (~35 ms of
a 10-namespace run on a 2-core machine).

What a resolution depends on is all in the key, so a hit is the plans resolution would give:
the playbook's bytes, the inventory as loaded (every host's variables, every group's hosts),
the extra vars, --limit, --tags, --skip-tags, and the controller's own code (each module's
size and mtime under nsprov/controller and nsprov/model). Templates run sandboxed with no
lookups, clock or environment, so nothing else goes in. Only a resolution without problems is
kept; a topology file is not (its plans also depend on placement options).

Kept as pickles under $XDG_CACHE_HOME/nsprov/plans (~/.cache/nsprov/plans), a directory of
the user's own, 0700: one owned by someone else or open to others is never read (a pickle can
run code). The newest 64 are kept. NSPROV_NO_CACHE=1 turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import stat
from pathlib import Path
from typing import Optional

KEEP = 64
_PACKAGE = Path(__file__).resolve().parents[1]


def directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nsprov" / "plans"


def enabled() -> bool:
    return os.environ.get("NSPROV_NO_CACHE", "") in ("", "0")


def _code_stamp() -> list:
    return sorted((str(p.relative_to(_PACKAGE)), s.st_size, s.st_mtime_ns)
                  for d in ("controller", "model") for p in (_PACKAGE / d).rglob("*.py") for s in (p.stat(),))


def key(path: str, inv, limit: Optional[str], extra: dict, tags: tuple, skip_tags: tuple) -> str:
    """What the plans are made of, hashed."""
    h = hashlib.sha256()
    h.update(Path(path).read_bytes())
    inventory = {"hosts": {host: inv.host_vars(host) for host in inv.hosts},
                 "groups": {g: inv.group_hosts(g) for g in inv.groups}}
    h.update(json.dumps([os.path.abspath(path), inventory, limit, extra, list(tags), list(skip_tags), _code_stamp()],
                        sort_keys=True, default=repr).encode())
    return h.hexdigest()


def _private(d: Path) -> bool:
    """D is a directory of ours that nobody else can write (made so if missing)."""
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(d)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077


def load(k: str) -> Optional[dict]:
    d = directory()
    if not enabled() or not _private(d):
        return None
    try:
        with open(d / f"{k}.pickle", "rb") as f:
            if os.fstat(f.fileno()).st_uid != os.geteuid():
                return None
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None


def store(k: str, plans: dict) -> None:
    d = directory()
    if not enabled() or not _private(d):
        return
    tmp = d / f"{k}.{os.getpid()}.tmp"
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            pickle.dump(plans, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, d / f"{k}.pickle")
        kept = sorted(d.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEEP:]:
            old.unlink()
    except OSError:
        pass            # a cache that cannot be written is only slower


def resolved(path: str, book, inv, limit: Optional[str], extra: dict, tags: tuple) -> dict:
    """resolve(), or the plans it gave last time for the same inputs. TAGS: (--tags, --skip-tags)."""
    from nsprov.controller import clab
    from nsprov.controller.resolve import resolve
    k = None if clab.looks_like_topology(path) else key(path, inv, limit, extra, *tags)
    plans = load(k) if k else None
    if plans is None:
        plans = resolve(book, inv, limit=limit, extra_vars=extra, tags=tags[0], skip_tags=tags[1])
        if k:
            store(k, plans)
    return plans
