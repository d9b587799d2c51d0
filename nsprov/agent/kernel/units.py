"""systemd units nsprov writes on a host (a persisted lab's boot-time restore): written whole,
enabled and disabled through systemctl, never one nsprov did not write."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Optional

UNIT_DIR = os.environ.get("NSPROV_UNIT_DIR", "/etc/systemd/system")
SYSTEMD = "/run/systemd/system"      # present exactly when systemd is the running init (sd_booted)
WANTS = "multi-user.target.wants"
_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


def unavailable() -> Optional[str]:
    """Why this host cannot run a unit at boot, or None."""
    if not os.path.isdir(SYSTEMD):
        return "this host does not run systemd (no /run/systemd/system), so no unit can restore the lab at boot"
    if shutil.which("systemctl", path=_PATH) is None:
        return "systemctl is not installed"
    return None


def _systemctl(*args: str) -> None:
    proc = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=60, env={"PATH": _PATH})
    if proc.returncode != 0:
        raise OSError(f"systemctl {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")


def install(name: str, text: str, write) -> bool:
    """Unit NAME holds TEXT (WRITE(path, text, mode) writes it when it differs) and is enabled:
    whether anything changed."""
    changed = write(os.path.join(UNIT_DIR, name), text, 0o644)
    if changed or not os.path.exists(os.path.join(UNIT_DIR, WANTS, name)):
        _systemctl("enable", name)
        return True
    return False


def remove(name: str) -> None:
    """Unit NAME disabled and gone (where systemd runs; elsewhere only its file goes)."""
    path = os.path.join(UNIT_DIR, name)
    if not os.path.exists(path):
        return
    running = unavailable() is None
    if running:
        _systemctl("disable", name)
    os.unlink(path)
    if running:
        _systemctl("daemon-reload")
