"""The ledger: what nsprov created on this host, so destroy removes exactly that and nothing else.

Crash-safe: before a kernel change the intent is recorded (written to a temporary file,
fsynced, renamed over the ledger, directory fsynced); after it the entry is marked done the same
way. A SIGKILL at any instant leaves either the old or the new ledger, never a torn one; an
entry still marked "intent" may or may not exist in the kernel, and destroy treats it as
"remove if it is there and carries our mark".

One writer at a time: `Ledger.open()` takes an exclusive flock on STATE_DIR/lock, waiting up
to a timeout that the error reports.

Every object belongs to one lab; `labs` says, per lab, which playbook (absolute path, on which
controller, by whom) made it and when: another playbook claiming the same lab is refused
(claim). Version 1 ledgers (objects with an "owner", the playbook's file stem) are read as
labs of that name whose playbook is not known yet: the first run that claims one records it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from typing import Iterable, Optional

from nsprov.agent.kernel.statedir import STATE_DIR, ensure_private_dir

LEDGER_VERSION = 2
STAMP = "%Y-%m-%dT%H:%M:%SZ"       # when a lab was made, updated, restored: UTC, to the second


def stamp() -> str:
    return time.strftime(STAMP, time.gmtime())


class LockTimeout(RuntimeError):
    pass


class LabClaimed(RuntimeError):
    """Another playbook made this lab on this host."""


def object_key(obj: dict) -> str:
    """Identity of a kernel object: kind, namespace and name (what the kernel keys it by)."""
    return f"{obj['kind']}:{obj.get('netns', '')}:{obj['name']}"


class Ledger:
    def __init__(self, directory: str, data: tuple, lock_fd: Optional[int]):
        self.directory = directory
        self.path = os.path.join(directory, "ledger.json")
        self._lock_fd = lock_fd
        self.labs, self.objects = data

    @property
    def objects(self) -> list:
        return self._objects

    @objects.setter
    def objects(self, value: list) -> None:
        self._objects = list(value)
        self._by_key = {object_key(o): o for o in self._objects}

    # ------------------------------------------------------------ opening
    @staticmethod
    def _load(path: str) -> tuple:
        """(labs, objects), from a version 2 ledger or a version 1 one."""
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read().decode())
        except FileNotFoundError:
            return {}, []
        version = data.get("version")
        if version == 1:
            objects = [{**{k: v for k, v in o.items() if k != "owner"}, "lab": o.get("owner")}
                       for o in data.get("objects", [])]
            return {o["lab"]: {"playbook": None} for o in objects}, objects
        if version != LEDGER_VERSION:
            raise RuntimeError(f"{path}: ledger version {version!r} is not {LEDGER_VERSION} (nor 1)")
        return dict(data.get("labs", {})), list(data.get("objects", []))

    @classmethod
    def open_readonly(cls, directory: str = STATE_DIR) -> "Ledger":
        """The ledger as it is, without the lock and without making anything: `drift` and
        `labs` leave the host byte for byte as they found it."""
        path = os.path.join(directory, "ledger.json")
        if not os.path.isdir(directory):
            return cls(directory, ({}, []), None)
        return cls(directory, cls._load(path), None)

    @classmethod
    def open(cls, directory: str = STATE_DIR, timeout: float = 60.0) -> "Ledger":
        """Lock the host for this run (one writer at a time) and load the ledger."""
        ensure_private_dir(directory)
        fd = os.open(os.path.join(directory, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise LockTimeout(f"another nsprov run holds {directory}/lock; gave up after {timeout:.0f} s")
                time.sleep(0.05)
        return cls(directory, cls._load(os.path.join(directory, "ledger.json")), fd)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)   # releases the flock
            self._lock_fd = None

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ labs
    def claim(self, lab: str, claim: dict, take_over: bool = False) -> None:
        """Lab LAB is this playbook's (CLAIM: playbook path, controller, user): a lab another
        playbook made is refused, naming both, unless TAKE_OVER; a new one is recorded (saved
        with the next write)."""
        held = self.labs.get(lab)
        if held and held.get("playbook") and held["playbook"] != claim.get("playbook") and not take_over:
            raise LabClaimed(f"lab '{lab}' on this host was made by {held['playbook']} (from {held.get('user')}@"
                             f"{held.get('controller')}); this run is from {claim.get('playbook')} (from "
                             f"{claim.get('user')}@{claim.get('controller')}): refusing. Name another lab (lab: in "
                             f"the play, or --lab), or pass --take-over to move the lab to this playbook")
        now = stamp()
        entry = {"created": now, **(held or {}), **claim, "updated": now}
        if held and held.get("playbook") and held["playbook"] != claim.get("playbook"):
            entry["taken_over_from"] = held["playbook"]
        self.labs[lab] = entry

    def release(self, lab: str) -> None:
        """Forget lab LAB once nothing of it is left (saved with the next write)."""
        if not self.owned_by(lab):
            self.labs.pop(lab, None)

    # ------------------------------------------------------------ reading
    def find(self, kind: str, netns: str, name: str) -> Optional[dict]:
        return self._by_key.get(f"{kind}:{netns}:{name}")

    def owned_by(self, lab: str) -> list[dict]:
        """What lab LAB recorded on this host (a value several labs declare is each one's)."""
        return [o for o in self.objects if o.get("lab") == lab or lab in o.get("labs", ())]

    # ------------------------------------------------------------ writing
    def record_intents(self, objs: Iterable[dict]) -> None:
        """Before creating: add entries in state 'intent' (one fsynced write for the batch). An
        object made again (removed as no longer declared, then declared anew) replaces its entry."""
        changed = False
        for obj in objs:
            entry = {**obj, "state": "intent"}
            old = self._by_key.get(object_key(entry))
            if old is not None:
                if old == entry:
                    continue
                self._objects[self._objects.index(old)] = entry
            else:
                self._objects.append(entry)
            self._by_key[object_key(entry)] = entry
            changed = True
        if changed:
            self._save()

    def save(self) -> None:
        self._save()

    def mark_done(self, objs: Iterable[dict]) -> None:
        keys = {object_key(o) for o in objs}
        for obj in self.objects:
            if object_key(obj) in keys:
                obj["state"] = "created"
        self._save()

    def update(self, obj: dict) -> None:
        """Replace an entry's data (e.g. a sysctl's remembered previous value)."""
        key = object_key(obj)
        self.objects = [obj if object_key(o) == key else o for o in self.objects]
        self._save()

    def forget(self, objs: Iterable[dict]) -> None:
        keys = {object_key(o) for o in objs}
        before = len(self.objects)
        self.objects = [o for o in self.objects if object_key(o) not in keys]
        if len(self.objects) != before:
            self._save()

    def _save(self) -> None:
        data = json.dumps({"version": LEDGER_VERSION, "labs": self.labs, "objects": self.objects},
                          separators=(",", ":")).encode()
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
