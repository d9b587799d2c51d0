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


def did_you_mean(word: object, options) -> str:
    """' (did you mean X?)' when WORD is a near miss of one of OPTIONS, else ''. Close means
    difflib's ratio of 0.75 or more: `netnss`, `nmae`, `inventroy_hostname` find theirs; `ip`
    finds nothing among the module names."""
    if not isinstance(word, str) or not word:
        return ""
    import difflib
    close = difflib.get_close_matches(word, [o for o in options if isinstance(o, str)], n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""
