"""What a person types into a search box, as a small query tree. Parsing never raises.

The syntax (SPEC S5.2) is the one people already know from web search:

* ``words`` — every word must match;
* ``"exact phrase"`` — the words next to each other, in order;
* ``prefix*`` — any word starting with ``prefix``;
* ``-excluded`` — no match may contain it (also ``-"a phrase"``).

Everything else is text, never syntax: ``C++``, ``foo-bar``, ``it's``, ``title:x`` or
``NEAR(`` are reduced to their words (``foo-bar`` becomes the phrase ``foo bar``, which is
how the full-text indexes tokenise it too), so no input can reach a column filter or an
operator of the engine's own query language. An unbalanced quote runs to the end of the
input. Words are runs of Unicode letters and digits; a chunk with none (``++``) is
dropped.

The tree is bounded — at most :data:`MAX_PARTS` parts of at most :data:`MAX_WORDS`
words of at most :data:`MAX_WORD_LENGTH` characters — so a 10,000-character paste
becomes a query of a reasonable size; :attr:`Query.truncated` says so.

Compilers turn the tree into an engine's query with every word quoted: :func:`to_fts5`
for SQLite FTS5, :func:`to_tsquery_text` for PostgreSQL (the text handed to
``to_tsquery('simple', …)`` is built here from the tree, lexeme by quoted lexeme — never
the raw input). :func:`snippet` cuts a highlighted window out of a hit's text, the same
way on both engines.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass, field

__all__ = [
    "MAX_PARTS",
    "MAX_WORDS",
    "MAX_WORD_LENGTH",
    "Part",
    "Query",
    "fold",
    "parse",
    "snippet",
    "to_fts5",
    "to_tsquery_text",
]

MAX_PARTS = 32
MAX_WORDS = 16
MAX_WORD_LENGTH = 64

# A word: a run of letters and digits in any script (underscore is a separator, as in
# FTS5's unicode61 tokenizer).
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Part:
    """One thing to match: a word (one entry in ``words``) or a phrase (several).

    ``prefix`` makes the last word match any word that starts with it.
    """

    words: tuple[str, ...]
    prefix: bool = False

    @property
    def is_phrase(self) -> bool:
        return len(self.words) > 1


@dataclass(frozen=True, slots=True)
class Query:
    """Parts that must all match, parts that must not, and whether input was cut."""

    include: tuple[Part, ...] = ()
    exclude: tuple[Part, ...] = ()
    truncated: bool = False
    words: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_empty(self) -> bool:
        """True when nothing is left to search for (exclusions alone match nothing)."""
        return not self.include


def _chunks(text: str) -> list[tuple[str, bool, bool]]:
    """Split into (text, quoted, negated) chunks on whitespace, honouring quotes."""
    chunks: list[tuple[str, bool, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        start = i + 1 if negated else i
        if start < n and text[start] == '"':
            end = text.find('"', start + 1)
            end = n if end == -1 else end
            chunks.append((text[start + 1 : end], True, negated))
            i = end + 1
            continue
        end = start
        while end < n and not text[end].isspace() and text[end] != '"':
            end += 1
        chunks.append((text[start:end], False, negated))
        i = end
    return chunks


def parse(text: str) -> Query:
    """Parse ``text`` into a :class:`Query`. Never raises, whatever the input."""
    if not isinstance(text, str):
        text = str(text)
    include: list[Part] = []
    exclude: list[Part] = []
    truncated = False
    for chunk, quoted, negated in _chunks(text):
        found = _WORD.findall(chunk)
        if not found:
            continue
        words = [w[:MAX_WORD_LENGTH] for w in found]
        truncated = truncated or any(len(w) > MAX_WORD_LENGTH for w in found)
        prefix = not quoted and chunk.endswith("*") and bool(_WORD.search(chunk[-2:-1]))
        if len(words) > MAX_WORDS:
            words, truncated, prefix = words[:MAX_WORDS], True, False
        if len(include) + len(exclude) >= MAX_PARTS:
            truncated = True
            break
        (exclude if negated else include).append(Part(tuple(words), prefix))
    seen = tuple(dict.fromkeys(w.casefold() for p in include for w in p.words))
    return Query(tuple(include), tuple(exclude), truncated, seen)


def _fts5_part(part: Part) -> str:
    # Words are letters and digits only, so they hold no quote; quoting still makes
    # FTS5 read every one as text (AND, NOT, NEAR, column names are words here).
    quoted = '"' + " ".join(part.words).replace('"', '""') + '"'
    return quoted + "*" if part.prefix else quoted


def to_fts5(query: Query) -> str:
    """The FTS5 ``MATCH`` expression for ``query`` (which must not be empty)."""
    if query.is_empty:
        raise ValueError("an empty query has no FTS5 form; check Query.is_empty first")
    expression = "(" + " AND ".join(_fts5_part(p) for p in query.include) + ")"
    return expression + "".join(f" NOT {_fts5_part(p)}" for p in query.exclude)


def _tsquery_part(part: Part) -> str:
    # Words are letters and digits only; doubling quotes and backslashes is belt and
    # braces so that no lexeme can ever close its quotes.
    lexemes = ["'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in part.words]
    if part.prefix:
        lexemes[-1] += ":*"
    return lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")"


def to_tsquery_text(query: Query) -> str:
    """The ``to_tsquery('simple', …)`` text for ``query`` (which must not be empty).

    Every word is a quoted lexeme; phrases are ``<->`` chains; exclusions are ``!``.
    """
    if query.is_empty:
        raise ValueError("an empty query has no tsquery form; check Query.is_empty first")
    parts = [_tsquery_part(p) for p in query.include]
    parts += ["!" + _tsquery_part(p) for p in query.exclude]
    return " & ".join(parts)


@functools.lru_cache(maxsize=4096)
def fold(word: str) -> str:
    """A word as the indexes compare it: case-folded, accents removed (as FTS5's
    ``remove_diacritics``)."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


MARK_OPEN = "<mark>"
MARK_CLOSE = "</mark>"


def snippet(text: str, query: Query, *, max_chars: int = 160) -> str:
    """A window of ``text`` around the first matched word, matched words in ``<mark>``.

    The result is HTML: everything but the marks is escaped, so a page can insert it as
    is and a terminal can turn the marks into colour. Cut edges get an ellipsis. Without
    any match (a title hit's message, a tokenizer difference) it is the start of the
    text.
    """
    exact = {fold(w) for p in query.include for w in (p.words[:-1] if p.prefix else p.words)}
    prefixes = tuple(fold(p.words[-1]) for p in query.include if p.prefix)

    def matches(word: str) -> bool:
        folded = fold(word)
        return folded in exact or (bool(prefixes) and folded.startswith(prefixes))

    first = next((m for m in _WORD.finditer(text) if matches(m.group())), None)
    anchor = 0 if first is None else first.start()
    start = max(0, anchor - max_chars // 4)
    if start > 0:
        # Begin at a word: the first space after the cut, if there is one before the hit.
        space = text.find(" ", start, anchor)
        start = space + 1 if space != -1 else start
    end = min(len(text), start + max_chars)
    if end < len(text):
        space = text.rfind(" ", end - 20, end)
        end = space if space > anchor else end
    window = text[start:end]
    out: list[str] = ["…"] if start > 0 else []
    last = 0
    for m in _WORD.finditer(window):
        if matches(m.group()):
            out.append(html.escape(window[last : m.start()], quote=False))
            out.append(MARK_OPEN + html.escape(m.group(), quote=False) + MARK_CLOSE)
            last = m.end()
    out.append(html.escape(window[last:], quote=False))
    if end < len(text):
        out.append("…")
    # One line, whatever the text's layout (newlines, runs of spaces).
    return " ".join("".join(out).split())
