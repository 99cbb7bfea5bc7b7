"""What may reach a terminal: nothing stored or imported can drive it.

Content may hold escape sequences — ``\\x1b[2J`` clears the screen,
``\\x1b]8;;URL\\x07`` makes a hidden hyperlink, a colour can fake a status — and a
terminal acts on every C0 control (but newline and tab, which are layout), on DEL and
on the C1 controls (U+0080-U+009F; U+009B alone is a CSI on some terminals). So:

* The command line's consoles are each a :class:`TerminalConsole`, which shows every
  control character of the text they print as a visible escape (``\\x1b``), newline
  and tab excepted, while Rich's own styling, added after, still works. That holds for
  every command whatever it prints; the helpers of ``output`` that build titles and
  table cells also escape early (:func:`one_line`), so the escape is measured with the
  text and a table keeps its columns.
* ``--json`` is exact JSON: ``json.dumps`` escapes the C0 controls, and
  :func:`json_escaped` the rest (``\\u009b``), which reads back as the same character.
* A document on stdout (``show --markdown``, ``export``) is exact bytes into a pipe or
  a file; on a terminal it is escaped like the rest (:func:`terminal_safe`), the way
  ``ls`` shows odd file names.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import re
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

__all__ = [
    "TerminalConsole",
    "json_escaped",
    "one_line",
    "printable",
    "stdout_is_terminal",
    "terminal_safe",
]

# What a terminal acts on: the C0 controls, DEL and the C1 controls (U+0080-U+009F; U+009B
# is a one-character CSI). ``_LINE_CONTROLS`` spares newline and tab, which a message
# body keeps (Rich lays them out); ``_CONTROLS`` also takes them, for one-line fields.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LINE_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAMED_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_control(match: re.Match[str]) -> str:
    character = match.group()
    return _NAMED_ESCAPES.get(character) or f"\\x{ord(character):02x}"


def printable(text: str) -> str:
    """``text`` with every control character but newline and tab shown as an escape
    (``\\x1b``, ``\\r``): safe to print on a terminal, for multi-line text."""
    return _LINE_CONTROLS.sub(_escape_control, text)


def json_escaped(text: str) -> str:
    """JSON text with the control characters ``json.dumps`` leaves raw (DEL, C1)
    escaped as ``\\u00XX``: still JSON, and the same value to a reader."""
    # JSON outside its strings is ASCII and whitespace, so every such character is
    # inside a string, where \u00XX is the same character to a JSON reader.
    return _LINE_CONTROLS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def one_line(text: str) -> str:
    """``text`` with every control character shown as an escape, newline and tab too:
    for a title, a name or a path, which must stay on its line."""
    return _CONTROLS.sub(_escape_control, text)


class TerminalConsole(Console):
    """A Rich console that never lets a control character of the text it prints reach
    the terminal.

    Every segment of text is checked as it is rendered (``render`` is the one path from
    a renderable to the output, for ``print``, tables, rules and live progress alike);
    the control sequences Rich itself emits (styles, cursor moves) are not text
    segments, so they pass.
    """

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterator[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and _LINE_CONTROLS.search(segment.text):
                yield Segment(printable(segment.text), segment.style)
            else:
                yield segment


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (tests replace this)."""
    return sys.stdout.isatty()


class _TerminalFilter(io.RawIOBase):
    """Bytes on their way to a terminal, control characters escaped: decoded as UTF-8
    as they come (a character may be split between two writes), escaped, re-encoded."""

    def __init__(self, out: BinaryIO, *, json_document: bool) -> None:
        self._out = out
        self._escape = json_escaped if json_document else printable
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._out.write(self._escape(self._decoder.decode(bytes(data))).encode())
        return len(data)

    def finish(self) -> None:
        self._out.write(self._escape(self._decoder.decode(b"", final=True)).encode())
        self._out.flush()


@contextlib.contextmanager
def terminal_safe(out: BinaryIO, *, json_document: bool = False) -> Iterator[BinaryIO]:
    """``out`` (stdout's bytes) for a document: itself into a pipe or a file, where the
    bytes must be exact; on a terminal, a filter that escapes control characters but
    newline and tab (as ``\\u001b`` in a JSON document, which stays JSON; as ``\\x1b``
    otherwise)."""
    if not stdout_is_terminal():
        yield out
        return
    shown = _TerminalFilter(out, json_document=json_document)
    yield cast(BinaryIO, shown)
    shown.finish()
