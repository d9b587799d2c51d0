"""Styled lines for a run's console output, written without rich: a run's task lines, its play
rules and its recap table look as rich draws them, but a short run no longer pays rich's
imports (~35 ms of CPU, the largest part of a small lab's run on a terminal). rich still draws
what it is needed for: the live progress display (after half a second), and every other
command's tables. Text here has `__rich__`, so a rich console prints it as well.

Styles are the few the reporter uses (bold, dim and five colours); colour goes only to a
terminal, never when NO_COLOR is set or TERM is dumb, and FORCE_COLOR forces it, as with rich."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Optional

from nsprov.reporting.output import write

# box drawing where the output's encoding has none (LANG=en_US.ISO-8859-1), as rich substitutes
_ASCII = str.maketrans({"─": "-", "━": "=", "│": "|", "┃": "|", "┏": "+", "┳": "+", "┓": "+", "┡": "+", "╇": "+",
                        "┩": "+", "└": "+", "┴": "+", "┘": "+"})
_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "magenta": "35", "cyan": "36",
        "bright_green": "92"}


def _codes(style: str) -> str:
    return ";".join(_SGR[word] for word in style.split() if word in _SGR)


class Text:
    """A line as (text, style) spans, like rich.text.Text (append, plain)."""

    __slots__ = ("spans",)

    def __init__(self, text: str = "", style: str = ""):
        self.spans: list = [(text, style)] if text else []

    def append(self, text: str, style: Optional[str] = "") -> "Text":
        if text:
            self.spans.append((text, style or ""))
        return self

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.spans)

    def __str__(self) -> str:
        return self.plain

    def __len__(self) -> int:
        return len(self.plain)

    def render(self, color: bool) -> str:
        if not color:
            return self.plain
        return "".join(f"\x1b[{_codes(style)}m{text}\x1b[0m" if _codes(style) else text for text, style in self.spans)

    def __rich__(self):
        from rich.text import Text as RichText
        out = RichText()
        for text, style in self.spans:
            out.append(text, style=style or None)
        return out


class Console:
    """What the run reporter asks of a console (print, rule, is_terminal, width), on FILE."""

    lite = True

    def __init__(self, file=None, stderr: bool = False):
        self.file = file or (sys.stderr if stderr else sys.stdout)
        env = os.environ
        isatty = getattr(self.file, "isatty", None)
        self.is_terminal = bool(env.get("FORCE_COLOR")) or bool(isatty and isatty())
        self.color = self.is_terminal and not env.get("NO_COLOR") and env.get("TERM", "") not in ("dumb", "unknown")
        self.color_system = "standard" if self.color else None
        self.width = self._width()
        self.encoding = getattr(self.file, "encoding", None) or "utf-8"
        self.unicode = self.encoding.lower().replace("-", "").replace("_", "").startswith("utf")

    def _width(self) -> int:
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        if self.is_terminal:
            try:
                return os.get_terminal_size(self.file.fileno()).columns or 80
            except (OSError, ValueError, AttributeError):
                return shutil.get_terminal_size().columns
        return 80

    def print(self, *items, soft_wrap: bool = True) -> None:
        """Each item (a Text, or anything str() prints) on its own line, never wrapped; in an
        encoding without box drawing, ASCII for it and `?` for what else it cannot hold."""
        text = "".join((item.render(self.color) if isinstance(item, Text) else str(item)) + "\n" for item in items)
        if not self.unicode:
            text = text.translate(_ASCII).encode(self.encoding, "replace").decode(self.encoding)
        write(self.file, text)

    def rule(self, title: Text, align: str = "center") -> None:
        """A horizontal line with TITLE in it, across the width, as rich's rule draws it."""
        width, size = self.width, len(title)
        line = Text()
        if align == "left":
            line.spans = list(title.spans)
            line.append(" ").append("─" * max(0, width - size - 1), "bright_green")
        else:
            side = max(0, width - size - 2)
            line.append("─" * (side // 2) + " ", "bright_green")
            line.spans += title.spans
            line.append(" " + "─" * (side - side // 2), "bright_green")
        self.print(line)


def rule(console, title: Text, align: str = "center") -> None:
    """TITLE's rule on CONSOLE, this module's or rich's."""
    console.rule(title if getattr(console, "lite", False) else title.__rich__(), align=align)


def table(title: str, columns: list, rows: list) -> list:
    """A table as rich draws one with its default box (heavy head): TITLE (bold, left), COLUMNS
    [(header, justify, style)], ROWS of Text cells; the lines to print, as Text."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, (h, _, _) in enumerate(columns)]
    total = sum(widths) + 3 * len(widths) + 1

    def border(left: str, fill: str, mid: str, right: str) -> Text:
        return Text(left + mid.join(fill * (w + 2) for w in widths) + right)

    def cells(values: list, edge: str, header: bool) -> Text:
        line = Text(edge)
        for (_, justify, style), width, value in zip(columns, widths, values):
            pad = " " * (width - len(value))
            spans = value.spans if isinstance(value, Text) else [(str(value), "")]
            if header or style:
                spans = [(text, "bold" if header else (s or style)) for text, s in spans]
            line.append(" ")
            if justify == "right":
                line.append(pad)
                line.spans += spans
            else:
                line.spans += spans
                line.append(pad, "bold" if header else "")
            line.append(" " + edge)
        return line

    out = [Text(title.ljust(total), "bold"), border("┏", "━", "┳", "┓"),
           cells([Text(h) for h, _, _ in columns], "┃", True), border("┡", "━", "╇", "┩")]
    out += [cells(r, "│", False) for r in rows]
    out.append(border("└", "─", "┴", "┘"))
    return out
