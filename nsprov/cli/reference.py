"""Commands about nsprov itself, from the one module table: `doc`, `schema`. No host, no input."""

from __future__ import annotations

import json

import click

from nsprov.cli import cli
from nsprov.cli.common import fail


@cli.command()
@click.argument("module", required=False)
@click.option("--json", "as_json", is_flag=True, help="the reference as JSON")
def doc(module, as_json) -> None:
    """The module reference (as ansible-doc): without MODULE the list of modules and the play and
    task keywords; with one, its parameters (type, default, required, meaning, example), what
    `state: absent` does, and an example task."""
    from nsprov.model.reference import keywords_reference, module_reference
    from nsprov.model.errors import did_you_mean
    from nsprov.model.kinds import KINDS, MODULES
    if module is not None and module not in MODULES:
        fail(f"no module {module!r}{did_you_mean(module, MODULES)}; modules: {', '.join(k.name for k in KINDS)}")
    if as_json:
        data = module_reference(module) if module else {
            "modules": [{"module": k.name, "summary": k.summary} for k in KINDS], "keywords": keywords_reference()}
        click.echo(json.dumps(data, indent=2))
        return
    from nsprov.reporting.reference import render_index, render_module
    click.echo(render_module(module) if module else render_index(), nl=False)


@cli.command()
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False), help="write it here (default: stdout)")
def schema(output) -> None:
    """A JSON Schema for playbooks, from the module table, for editors (yaml-language-server:
    `# yaml-language-server: $schema=PATH` at the top of a playbook)."""
    from nsprov.controller.reference import playbook_schema
    text = json.dumps(playbook_schema(), indent=2) + "\n"
    if output:
        with open(output, "w") as f:
            f.write(text)
    else:
        click.echo(text, nl=False)
