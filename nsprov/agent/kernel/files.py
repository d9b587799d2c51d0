"""Files nsprov writes for a namespace (a netns's /etc/netns/NAME/hosts, which `ip netns exec`
puts over /etc/hosts): read, written whole (a temporary file renamed over it, so a reader never
sees half of one), removed with the directory it leaves empty."""

from __future__ import annotations

import os
from typing import Optional


def read(path: str) -> Optional[str]:
    """PATH's text, or None when there is no such file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def write(path: str, content: str) -> None:
    """A new file appears whole (renamed into place); one there already is rewritten in place,
    so a bind mount of it (a namespace set's /etc/hosts, `ip netns exec`'s) shows the new text."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    if os.path.isfile(path):
        with open(path, "r+", encoding="utf-8") as f:
            f.write(content)
            f.truncate()
        return
    tmp = f"{path}.nsprov-{os.getpid()}"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), "w", encoding="utf-8") as f:
        f.write(content)
    os.replace(tmp, path)


KEPT = "/var/lib/nsprov/files/"     # the texts of namespace sets' file mounts, one tree per set


def remove(path: str) -> None:
    """PATH, and the directory it leaves empty (under KEPT, every one up to KEPT's own)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    parent = os.path.dirname(path)
    while True:
        try:
            os.rmdir(parent)      # only when empty: someone else's files keep it
        except OSError:
            return
        parent = os.path.dirname(parent)
        if not parent.startswith(KEPT):
            return
