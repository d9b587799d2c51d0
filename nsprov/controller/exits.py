"""The exit codes of every command, which one a run's results give (0 all good, 1 a task
failed or a check was violated, 2 bad input or an unreachable host, 130 interrupted), and the
two errors that end a host's run. A module of its own so that the command line knows them
without importing the transport."""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_code(results: dict, violated: bool = False) -> int:
    """130 when interrupted, 2 when a host was unreachable (or bad input), 1 when one failed
    or a check was violated, else 0: the one place that says so. RESULTS: {host: outcome with
    a `status`}."""
    statuses = {r.status for r in results.values()}
    if "interrupted" in statuses:
        return EXIT_INTERRUPTED
    if "unreachable" in statuses:
        return EXIT_BAD_INPUT
    if "failed" in statuses or violated:
        return EXIT_FAILED
    return EXIT_OK


class Unreachable(Exception):
    """The host could not be reached or authenticated (exit 2); the message says why."""


class AgentFailed(Exception):
    """The agent could not run (bootstrap refused, crashed, or spoke garbage): the host failed."""
