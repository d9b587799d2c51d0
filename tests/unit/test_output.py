"""A run's output when its reader goes away or its terminal cannot show box drawing: the run
goes on quietly; each with the control that shows what happens without the guard."""

from __future__ import annotations

import io
import os

import pytest

from nsprov.reporting import output
from nsprov.reporting.ansi import Console, Text
from nsprov.reporting.console import render_recap


def closed_pipe():
    r, w = os.pipe()
    os.close(r)
    return os.fdopen(w, "w")


def test_control_a_write_to_a_pipe_whose_reader_is_gone_raises():
    stream = closed_pipe()
    with pytest.raises(BrokenPipeError):
        stream.write("x\n")
        stream.flush()


def test_after_the_reader_is_gone_writes_go_nowhere_and_raise_nothing():
    stream = closed_pipe()
    output.write(stream, "first\n")
    output.write(stream, "second\n")
    assert os.readlink(f"/proc/self/fd/{stream.fileno()}") == os.devnull
    stream.close()                     # the flush at exit is quiet too


class Outcome:
    counts = {"ok": 1, "changed": 1, "unreachable": False, "failed": 0, "skipped": 0}


def latin1():
    raw = io.BytesIO()
    return raw, io.TextIOWrapper(raw, encoding="latin-1", write_through=True)


def test_control_box_drawing_cannot_be_written_in_latin_1():
    _, stream = latin1()
    with pytest.raises(UnicodeEncodeError):
        stream.write("─")


def test_without_box_drawing_the_recap_is_drawn_in_ascii_and_user_text_kept():
    raw, stream = latin1()
    console = Console(file=stream)
    console.print(*render_recap({"höst": Outcome()}))
    console.print(Text("név ✓ done"))
    out = raw.getvalue().decode("latin-1")
    assert "+======+" in out and "| höst |" in out and "─" not in out
    assert out.splitlines()[-1] == "név ? done"
