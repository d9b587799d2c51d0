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
    difflib's ratio of 0.6 or more (its default): `netnss`, `nmae`, `nta` (nat) find theirs;
    `ip` and `vlan` find nothing among the module names."""
    if not isinstance(word, str) or not word:
        return ""
    import difflib
    best, key = "", (0.6, False)
    for option in (o for o in options if isinstance(o, str)):
        ratio = difflib.SequenceMatcher(None, word, option).ratio()
        mine = (ratio, sorted(word) == sorted(option))   # a tie goes to the same letters swapped (nta: nat)
        if mine >= key and (mine > key or not best):
            best, key = option, mine
    return f" (did you mean {best}?)" if best else ""
