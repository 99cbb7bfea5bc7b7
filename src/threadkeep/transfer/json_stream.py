"""Reading one large JSON document a piece at a time, in flat memory.

A threadkeep JSON export or a ChatGPT ``conversations.json`` can be hundreds of MB, and
decoded whole it costs several times its size in Python objects (a 72 MB export peaked
at 361 MB). :class:`JsonStream` walks the outer structure of a document itself — the
objects and arrays whose shape the caller knows — and hands each inner value (a
message, a conversation, a header field) to the C decoder
(``json.JSONDecoder.raw_decode``) once its text is buffered. Memory holds the value
being read and a buffer of its text, whatever the size of the document.

How the end of a value is found without a scanner in Python: the decoder runs on what
is buffered. When it fails in a way more text could fix — the error is at the end of
the buffer (``Expecting value``, a half-read number or escape), or a string is
unterminated — more is read and it runs again. Each read adds at least what is
buffered for the value already, so a value of n bytes costs O(n) decoding in all. A
number that runs to the end of the buffer is not trusted (``12`` may be the start of
``123``, ``1.`` of ``1.5``) until more text or the end of the input says so. An error that more
text cannot fix, or any error at the end of the input, is ``InvalidInput`` naming the
line and column, as the whole-document decoder's is.

Limits, as everywhere in an import (``limits.py``): a value is refused
(``TooLarge``) once more than its ``limit`` characters are buffered for it; nesting is
counted from the document's root, so a value read at depth d may nest
``import_max_depth - d`` levels; the input stream itself is the caller's, already
bounded (``open_input``, a zip member).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, Protocol

from threadkeep.errors import InvalidInput, TooLarge
from threadkeep.transfer.limits import ImportLimits, check_depth, too_deep

__all__ = ["JsonStream", "Readable"]

_CHUNK = 1 << 16
_SIGNIFICANT = re.compile(r"[^ \t\n\r]")
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*")
# An error this close to the end of the buffer may be a value cut by the buffer's end
# (the longest such tail is a half-read literal like "-Infinit" or a \uXXXX escape).
_NEAR_END = 16


class Readable(Protocol):
    """What :class:`JsonStream` reads from: ``read(size)`` up to ``size`` bytes, ``b""``
    at the end (a file, a gzip or zip member stream)."""

    def read(self, size: int = -1, /) -> bytes: ...


class JsonStream:
    """One JSON document read from ``stream`` (bytes, UTF-8), a value at a time.

    ``name`` starts every error message. ``start`` is text already read from the
    stream (a first line read to tell JSON from JSON Lines). The caller walks the
    document with :meth:`peek`, :meth:`members` and :meth:`elements`, reads values
    with :meth:`value`, and calls :meth:`end` to check nothing follows the document.
    """

    def __init__(
        self, stream: Readable, name: str, limits: ImportLimits, *, start: bytes = b""
    ) -> None:
        self._stream = stream
        self._name = name
        self._limits = limits
        self._decoder = json.JSONDecoder()
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig")()
        self._buffer = ""
        self._pos = 0
        self._eof = False
        # Where the discarded text ended, for line and column numbers in errors.
        self._lines_before = 0
        self._column_before = 0
        if start:
            self._buffer = self._decode(start)

    # -- the outer structure -----------------------------------------------------------

    def peek(self) -> str:
        """The next character that is not whitespace, ``""`` at the end of the input."""
        while True:
            found = _SIGNIFICANT.search(self._buffer, self._pos)
            if found is not None:
                self._pos = found.start()
                return self._buffer[self._pos]
            self._pos = len(self._buffer)
            if self._eof:
                return ""
            self._compact()
            self._read(_CHUNK)

    def members(self, where: str) -> Iterator[str]:
        """The keys of the object that comes next; after each key the caller reads its
        value (with :meth:`value`, or by walking it) before asking for the next key."""
        self._expect("{", where, "an object")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self._syntax_error("Expecting property name enclosed in double quotes")
            key = self.value(where, depth=0, limit=self._limits.max_line_bytes)
            if self.peek() != ":":
                raise self._syntax_error("Expecting ':' delimiter")
            self._pos += 1
            yield key
            if self._closed("}"):
                return

    def elements(self, where: str) -> Iterator[int]:
        """The indexes of the array that comes next; after each the caller reads the
        element before asking for the next."""
        self._expect("[", where, "a list")
        if self.peek() == "]":
            self._pos += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            if self._closed("]"):
                return

    def end(self) -> None:
        """Check that nothing but whitespace follows the document."""
        if self.peek():
            raise self._syntax_error("Extra data")

    # -- values ------------------------------------------------------------------------

    def value(self, where: str, *, depth: int, limit: int | None = None) -> Any:
        """Decode the next value, which sits inside ``depth`` containers.

        ``limit`` is the most characters it may take, for a value the size of a message
        (``ImportLimits.max_line_bytes``, as a JSON Lines line); ``None`` for a value
        bounded only by the input (a whole ChatGPT conversation). ``where`` names the
        value in the error of a limit.
        """
        self.peek()
        while True:
            start = self._pos
            try:
                value, end = self._decoder.raw_decode(self._buffer, start)
            except json.JSONDecodeError as exc:
                if self._eof or not self._may_be_cut(exc):
                    raise self._syntax_error(exc.msg, exc.pos) from None
                self._more(where, limit)
                continue
            except RecursionError:
                # The decoder's own guard: far deeper than any depth limit allows.
                raise too_deep(where, self._limits.max_depth) from None
            if not self._eof and _is_number(value) and self._number_may_go_on(end):
                self._more(where, limit)
                continue
            if limit is not None and end - start > limit:
                raise self._too_large(where, limit)
            self._pos = end
            self._check_depth(value, where, depth, start, end)
            return value

    def _check_depth(self, value: Any, where: str, depth: int, start: int, end: int) -> None:
        allowed = self._limits.max_depth - depth
        # Nesting needs an opening bracket per level (see limits.load_json): with no more
        # brackets than allowed, the walk cannot find too deep a value.
        brackets = self._buffer.count("[", start, end) + self._buffer.count("{", start, end)
        if brackets <= allowed:
            return
        if allowed < 1:
            raise too_deep(where, self._limits.max_depth)
        try:
            check_depth(value, allowed, where)
        except InvalidInput:
            # Said with the setting's value, not with what was left of it here.
            raise too_deep(where, self._limits.max_depth) from None

    # -- reading -----------------------------------------------------------------------

    def _closed(self, close: str) -> bool:
        """After a member or an element: ``True`` past the ``close`` that ends its
        container, ``False`` past the comma before the next one."""
        after = self.peek()
        if after == close:
            self._pos += 1
            return True
        if after != ",":
            raise self._syntax_error("Expecting ',' delimiter")
        self._pos += 1
        return False

    def _expect(self, char: str, where: str, what: str) -> None:
        found = self.peek()
        if found != char:
            raise InvalidInput(f"{where}: expected {what}, got {_describe(found)}")
        self._pos += 1

    def _number_may_go_on(self, end: int) -> bool:
        """Whether the number that ends at ``end`` may be the start of a longer one
        (``1`` of ``12``, ``1`` of ``1.5`` when the buffer ends at the dot)."""
        tail = _NUMBER_TAIL.match(self._buffer, end)
        return tail is not None and tail.end() == len(self._buffer)

    def _may_be_cut(self, exc: json.JSONDecodeError) -> bool:
        return exc.pos >= len(self._buffer) - _NEAR_END or exc.msg.startswith("Unterminated string")

    def _more(self, where: str, limit: int | None) -> None:
        """Read more of the value at ``_pos``: as much again as is buffered of it."""
        pending = len(self._buffer) - self._pos
        if limit is not None and pending > limit:
            raise self._too_large(where, limit)
        self._compact()
        self._read(max(_CHUNK, pending))

    def _read(self, size: int) -> None:
        data = self._stream.read(size)
        if not data:
            self._eof = True
            self._buffer += self._decode(b"", final=True)
            return
        self._buffer += self._decode(data)

    def _decode(self, data: bytes, *, final: bool = False) -> str:
        try:
            return self._utf8.decode(data, final=final)
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{self._name}: not UTF-8 text ({exc.reason})") from exc

    def _compact(self) -> None:
        """Drop the text before ``_pos`` (keeping count of its lines for errors)."""
        cut = self._pos
        if cut == 0:
            return
        lines = self._buffer.count("\n", 0, cut)
        if lines:
            self._lines_before += lines
            self._column_before = cut - self._buffer.rfind("\n", 0, cut) - 1
        else:
            self._column_before += cut
        self._buffer = self._buffer[cut:]
        self._pos = 0

    # -- errors ------------------------------------------------------------------------

    def _syntax_error(self, reason: str, pos: int | None = None) -> InvalidInput:
        at = self._pos if pos is None else pos
        lines = self._buffer.count("\n", 0, at)
        line = self._lines_before + lines + 1
        if lines:
            column = at - self._buffer.rfind("\n", 0, at)
        else:
            column = self._column_before + at + 1
        return InvalidInput(
            f"{self._name}: not valid JSON at line {line} column {column}: {reason}"
        )

    def _too_large(self, where: str, limit: int) -> TooLarge:
        return TooLarge(
            f"{where}: over {limit:,} characters of JSON, more than the largest message "
            f"allowed ({self._limits.max_message_bytes:,} bytes, setting max_message_bytes) "
            "can take"
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _describe(char: str) -> str:
    names: dict[str, str] = {
        "{": "an object",
        "[": "a list",
        '"': "a string",
        "t": "a boolean",
        "f": "a boolean",
        "n": "null",
        "": "the end of the file",
    }
    return names.get(char, "a number" if char in "-0123456789" else f"{char!r}")
