"""Writing a run's output so that a reader who goes away never stops the run.

`nsprov run ... | head` closes the pipe after a few lines while agents are still working on
hosts; a write that fails then must not fail a host or leave an agent half-way. The first
broken pipe turns the stream into /dev/null (its file descriptor too, so that Python's flush at
exit is quiet), and the run goes on to its end and its exit status."""

from __future__ import annotations

import os


def write(stream, text: str) -> None:
    """TEXT on STREAM, flushed; nothing at all once its reader is gone."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        silence(stream)


def silence(stream) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass          # not a file (a test's buffer): it cannot break again anyway
