"""The agent's own directories (/var/lib/nsprov, /run/nsprov): root-only, checked before use.

A directory that is a symlink, owned by someone else, or writable by group/others is refused,
never used: another user could otherwise plant a ledger or a bundle for root to trust.
"""

from __future__ import annotations

import os
import stat

STATE_DIR = os.environ.get("NSPROV_STATE_DIR", "/var/lib/nsprov")


class UnsafeDirectory(RuntimeError):
    pass


def ensure_private_dir(path: str) -> str:
    """Create PATH 0700 if missing; refuse it if it is not a private directory of ours."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"refusing {path}: not a directory (a symlink or file is in the way)")
    if st.st_uid != os.geteuid():
        raise UnsafeDirectory(f"refusing {path}: owned by uid {st.st_uid}, not {os.geteuid()}")
    if st.st_mode & 0o077:
        raise UnsafeDirectory(f"refusing {path}: mode {stat.S_IMODE(st.st_mode):04o} lets others in (want 0700)")
    return path
