"""The fake kernel's namespace sets, processes and commands (fake.py has the rest): in memory,
held to the real kernel by tests/unit/test_kernel_contract.py like the rest of it."""

from __future__ import annotations

import errno
from typing import Optional


def _err(code: int, detail: str = "") -> OSError:
    import os
    return OSError(code, detail or os.strerror(code))


class FakeSets:
    """Mixed into FakeKernel, whose state (namespaces, sets, procs, calls, _pid) it uses."""

    def ensure_nsset(self, ns: str, name: str, spec: dict) -> None:
        self._call("ensure_nsset", ns, name)
        if "net" in spec["kinds"] and name in self.namespaces:
            raise _err(errno.EEXIST)
        self._pid += 1
        self.sets[name] = {"kinds": list(spec["kinds"]), "alive": True, "pid": self._pid,
                           "hostname": spec.get("hostname") if "uts" in spec["kinds"] else None,
                           "domainname": spec.get("domainname") or "", "uid_map": spec.get("uid_map"),
                           "gid_map": spec.get("gid_map")}
        if "net" in spec["kinds"]:
            self.namespaces[name] = self._fresh()

    def remove_nsset(self, ns: str, name: str) -> None:
        self._call("remove_nsset", ns, name)
        gone = self.sets.pop(name, None)
        if gone and "net" in gone["kinds"]:
            self.remove_netns("", name)

    def replace_nsset(self, ns: str, name: str, spec: dict, goes_with: tuple = ()) -> None:
        self._call("replace_nsset", ns, name)
        if name not in self.sets:
            raise _err(errno.ENOENT)
        calls = list(self.calls)
        self.remove_nsset(ns, name)
        self.ensure_nsset(ns, name, spec)
        self.calls = calls

    def set_hostname(self, ns: str, name: str, hostname: str, domainname: Optional[str], kinds: list) -> None:
        self._call("set_hostname", ns, name)
        if name not in self.sets:
            raise _err(errno.ENOENT)
        self.sets[name].update(hostname=hostname, domainname=domainname or "")

    def ensure_process(self, ns: str, name: str, command: dict, target: dict, lab: str) -> None:
        self._call("ensure_process", ns, name)
        self._pid += 1
        self.procs[name] = {"alive": True, "pid": self._pid, "argv": list(command["argv"]), "target": dict(target),
                            "cwd": command.get("cwd", "/"), "env": dict(command.get("env") or {}),
                            "restart": command.get("restart", "no")}

    def remove_process(self, ns: str, name: str) -> None:
        self._call("remove_process", ns, name)
        self.procs.pop(name, None)

    def run_command(self, ns: str, name: str, command: dict) -> dict:
        self._call("run_command", ns, name)
        return {"changed": command.get("changed", True), "output": {"rc": 0, "stdout": "", "stderr": ""}}

    def run_checks(self, ns: str, name: str, checks: dict) -> dict:
        self._call("run_checks", ns, name)
        return {"changed": False, "reason": "0 check(s) passed", "checks": [], "failed": False}
