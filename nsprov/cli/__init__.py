"""The `nsprov` command line: commands are wired here (each group in a module beside this one);
common.py holds what they share, and is the only place that exits.

Exit codes: 0 all good, 1 a task failed or a check was violated, 2 bad input or unreachable host.
Heavy imports (fabric, jinja2, rich) happen inside the commands that need them, so
`nsprov --help` and friends start fast.
"""

from __future__ import annotations

import gc
import sys

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nsprov")
def cli() -> None:
    """Provision Linux namespaces on remote hosts over SSH, and prove the isolation holds."""


def main() -> None:
    """The `nsprov` command. A run is a short-lived process whose start-up (imports of paramiko,
    cryptography, jinja2, click, yaml) leaves ~66,000 objects the cyclic collector tracks, all
    alive until exit. The collector would walk them again and again while they are imported, and
    once more at exit (tens of ms; figures in the README's speed section). So collection is off
    during start-up, the start-up objects are frozen out of every later collection when the work
    begins (common.startup_done), and everything is frozen at exit, where the interpreter frees
    it anyway."""
    gc.disable()
    if not sys.warnoptions:   # Python's own warnings (a SyntaxWarning from an odd literal) are not for users
        import warnings
        warnings.simplefilter("ignore")
    try:
        code = cli.main(prog_name="nsprov", standalone_mode=False)
    except click.ClickException as exc:   # a bad option or argument: under --json an event too
        code = exc.exit_code
        if "--json" in sys.argv[1:]:
            import json
            problem = {"file": "", "line": 0, "field": getattr(getattr(exc, "param", None), "opts", [""])[0],
                       "message": exc.format_message()}
            click.echo(json.dumps({"event": "input_error", "message": exc.format_message(), "exit": code,
                                   "problems": [problem]}))
        else:
            exc.show()
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        code = 1
    finally:
        gc.freeze()
    sys.exit(code or 0)


from nsprov.cli import hosts, lab, labs, playbooks, reference  # noqa: E402  (each adds its commands to `cli`)

__all__ = ["cli", "main", "hosts", "lab", "labs", "playbooks", "reference"]
