"""The run's console lines written without rich look as rich draws them: the recap table and
the rules, checked against rich itself (the oracle) for plain text and for styles; colour only
on a terminal; a rich console prints these lines too."""

from __future__ import annotations

import io

import pytest
from rich.console import Console as RichConsole
from rich.table import Table
from rich.text import Text as RichText

from nsprov.reporting.ansi import Console, Text, rule
from nsprov.reporting.console import RECAP_COLUMNS, STYLE, render_recap


class Outcome:
    def __init__(self, **counts):
        self.counts = {"ok": 0, "changed": 0, "unreachable": False, "failed": 0, "skipped": 0, **counts}


def rich_recap(results: dict) -> Table:
    """The recap as it was drawn with rich.table (what users saw before)."""
    table = Table(title="PLAY RECAP", title_justify="left", title_style="bold")
    table.add_column("host", style="bold")
    for col in RECAP_COLUMNS:
        table.add_column(col, justify="right")
    for host, r in results.items():
        row = [RichText(host)]
        for col in RECAP_COLUMNS:
            n = int(r.counts.get(col, 0))
            row.append(RichText(str(n), style=STYLE[col] if n else "dim"))
        table.add_row(*row)
    return table


def draw_rich(renderable, terminal: bool, **kw) -> str:
    buf = io.StringIO()
    console = RichConsole(file=buf, width=120, force_terminal=terminal, color_system="standard" if terminal else None,
                          highlight=False, markup=False)
    if isinstance(renderable, tuple):
        console.rule(*renderable, **kw)
    elif isinstance(renderable, Table):
        console.print(renderable)                  # as the recap was printed
    else:
        console.print(renderable, soft_wrap=True)  # as the reporter prints its lines
    return buf.getvalue()


def lite(terminal: bool) -> tuple:
    buf = io.StringIO()
    console = Console(file=buf)
    console.is_terminal = console.color = terminal
    console.width = 120
    return console, buf


CASES = [{"lab1": Outcome(ok=3, changed=2)},
         {"a-much-longer-host-name": Outcome(ok=100, changed=1, failed=1), "h": Outcome(unreachable=True)},
         {"web1": Outcome(ok=1, skipped=1000, interrupted=True), "web2": Outcome()}]


@pytest.mark.parametrize("results", CASES)
def test_the_recap_reads_as_richs_table(results):
    console, buf = lite(False)
    console.print(*render_recap(results))
    assert buf.getvalue() == draw_rich(rich_recap(results), False)


@pytest.mark.parametrize("results", CASES)
def test_the_recap_colours_what_rich_colours(results):
    """Styles compared cell by cell: the same text carries the same SGR codes (rich also
    styles the padding inside a cell, which shows nothing)."""
    import re
    console, buf = lite(True)
    console.print(*render_recap(results))
    ours, theirs = buf.getvalue(), draw_rich(rich_recap(results), True)
    styled = re.compile(r"\x1b\[([0-9;]+)m([^\x1b]*)\x1b\[0m")
    assert {(c, t.strip()) for c, t in styled.findall(ours) if t.strip()} == \
        {(c, t.strip()) for c, t in styled.findall(theirs) if t.strip()}
    assert re.sub(r"\x1b\[[0-9;]*m", "", ours) == re.sub(r"\x1b\[[0-9;]*m", "", theirs)


@pytest.mark.parametrize("align", ["left", "center"])
@pytest.mark.parametrize("title", ["PLAY [web]", "DESTROY lab net (playbooks/net.yml)", "x" * 30])
def test_rules_are_drawn_as_rich_draws_them(align, title):
    for terminal in (False, True):
        console, buf = lite(terminal)
        rule(console, Text(title, "bold"), align=align)
        assert buf.getvalue() == draw_rich((RichText(title, style="bold"),), terminal, align=align)


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    line = Text("lab1 ", "bold").append("changed", "yellow")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    buf = io.StringIO()
    Console(file=buf).print(line)          # a StringIO is no terminal
    assert buf.getvalue() == "lab1 changed\n"
    monkeypatch.setenv("FORCE_COLOR", "1")
    buf = io.StringIO()
    Console(file=buf).print(line)
    assert buf.getvalue() == "\x1b[1mlab1 \x1b[0m\x1b[33mchanged\x1b[0m\n"
    monkeypatch.setenv("NO_COLOR", "1")
    buf = io.StringIO()
    Console(file=buf).print(line)
    assert buf.getvalue() == "lab1 changed\n"


def test_user_text_is_printed_verbatim_and_a_rich_console_prints_these_lines_too():
    line = Text("inventory [usa:children] ", "bold").append("[bold]not markup[/bold]")
    console, buf = lite(False)
    console.print(line)
    assert buf.getvalue() == "inventory [usa:children] [bold]not markup[/bold]\n"
    assert draw_rich(line, False) == buf.getvalue()
