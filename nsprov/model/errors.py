"""Typed errors that travel as data: each carries what failed and where."""

from __future__ import annotations


class NsprovError(Exception):
    """Base of nsprov's own errors."""


class KernelError(NsprovError):
    """A kernel operation failed: `could not create veth 'v1' in netns 'red': File exists`."""

    def __init__(self, action: str, obj: str, netns: str, reason: str):
        where = f" in netns '{netns}'" if netns else ""
        super().__init__(f"could not {action} {obj}{where}: {reason}")
        self.action, self.obj, self.netns, self.reason = action, obj, netns, reason
