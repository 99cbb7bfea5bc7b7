"""The search box's syntax: what a person types becomes a safe query, never an error.

Guards against the classic full-text failures: user punctuation read as FTS5 syntax
(``NEAR(``, ``title:x``, an unbalanced quote) giving a server error or a query against
a column that is not content, and huge pastes producing unbounded queries.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadkeep.db.sqlite_driver import sqlite_module
from threadkeep.search_query import (
    MAX_PARTS,
    MAX_WORD_LENGTH,
    Part,
    fold,
    parse,
    snippet,
    to_fts5,
    to_tsquery_text,
)


@pytest.mark.parametrize(
    ("text", "include", "exclude"),
    [
        ("hello world", [("hello",), ("world",)], []),
        ('"exact phrase" here', [("exact", "phrase"), ("here",)], []),
        ("-excluded kept", [("kept",)], [("excluded",)]),
        ('-"not this" but this', [("but",), ("this",)], [("not", "this")]),
        ("C++ templates", [("C",), ("templates",)], []),
        ("foo-bar", [("foo", "bar")], []),
        ("it's", [("it", "s")], []),
        ('"unbalanced quote', [("unbalanced", "quote")], []),
        ("title:x", [("title", "x")], []),
        ("NEAR( a", [("NEAR",), ("a",)], []),
        ("AND OR NOT", [("AND",), ("OR",), ("NOT",)], []),
        ("日本語 テキスト", [("日本語",), ("テキスト",)], []),
        ("++ -- ** ::", [], []),
        ("a - b", [("a",), ("b",)], []),
    ],
)
def test_parse(text: str, include: list[tuple[str, ...]], exclude: list[tuple[str, ...]]) -> None:
    """Each kind of input becomes the parts a person would expect."""
    query = parse(text)
    assert [p.words for p in query.include] == include
    assert [p.words for p in query.exclude] == exclude


def test_prefix_only_after_a_word() -> None:
    """``pre*`` is a prefix search; a lone or quoted star is text."""
    assert parse("pre*").include == (Part(("pre",), prefix=True),)
    assert parse('"pre*"').include == (Part(("pre",), prefix=False),)
    assert parse("* pre").include == (Part(("pre",), prefix=False),)


def test_empty_and_exclusion_only_queries_are_empty() -> None:
    """Nothing to look for is reported as empty, so the store can say so clearly."""
    for text in ("", "   ", "-only", '""', "!!!"):
        assert parse(text).is_empty, text
    with pytest.raises(ValueError, match="empty"):
        to_fts5(parse(""))


def test_huge_input_is_bounded() -> None:
    """A 10,000-character paste becomes a bounded query, and says it was cut."""
    query = parse(" ".join(["word"] * 5000))
    assert len(query.include) == MAX_PARTS
    assert query.truncated
    long_word = parse("x" * 10_000)
    assert long_word.include[0].words[0] == "x" * MAX_WORD_LENGTH
    assert long_word.truncated


def test_fts5_form_quotes_every_word() -> None:
    """Operators and column names typed by a person stay words in the FTS5 query."""
    assert to_fts5(parse('title:x NEAR( pre* -"no way"')) == (
        '("title x" AND "NEAR" AND "pre"*) NOT "no way"'
    )


@pytest.fixture(scope="module")
def fts5() -> Iterator[object]:
    """A real FTS5 table (unicode61, as the store will use) with a few rows."""
    connection = sqlite_module().module.connect(":memory:")
    connection.execute("CREATE VIRTUAL TABLE docs USING fts5(content)")
    connection.executemany(
        "INSERT INTO docs (content) VALUES (?)",
        [("C++ templates are hard",), ("the foo-bar service",), ("it's fine",), ("日本語",)],
    )
    yield connection
    connection.close()


def _match(connection: object, text: str) -> list[str]:
    query = parse(text)
    if query.is_empty:
        return []
    cursor = connection.execute(  # type: ignore[attr-defined]
        "SELECT content FROM docs WHERE docs MATCH ? ORDER BY rowid", (to_fts5(query),)
    )
    return [row[0] for row in cursor.fetchall()]


def test_fts5_finds_what_people_type(fts5: object) -> None:
    """The tricky inputs find the rows a person means, on a real FTS5 index."""
    assert _match(fts5, "C++") == ["C++ templates are hard"]
    assert _match(fts5, "foo-bar") == ["the foo-bar service"]
    assert _match(fts5, "it's") == ["it's fine"]
    assert _match(fts5, "templ*") == ["C++ templates are hard"]
    assert _match(fts5, "the -service") == []
    assert _match(fts5, '"foo bar" service') == ["the foo-bar service"]
    assert _match(fts5, "日本語") == ["日本語"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_never_raises(text: str) -> None:
    """Any string at all parses."""
    query = parse(text)
    assert len(query.include) + len(query.exclude) <= MAX_PARTS


_PIECES = [*"abcXYZ09\"-*:()^+.,'é日", " ", "AND", "NOT", "NEAR", "OR"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_fts5_never_errors_on_a_parsed_query(text: str) -> None:
    """Whatever was typed, the compiled query is valid FTS5 syntax."""
    connection = sqlite_module().module.connect(":memory:")
    try:
        connection.execute("CREATE VIRTUAL TABLE docs USING fts5(content)")
        connection.execute("INSERT INTO docs (content) VALUES ('abc XYZ 09 é 日')")
        _match(connection, text)
    finally:
        connection.close()


def test_tsquery_form_quotes_every_lexeme() -> None:
    """The PostgreSQL form is built from the tree: quoted lexemes, ``<->`` phrases,
    ``:*`` prefixes and ``!`` exclusions — the raw text never reaches ``to_tsquery``."""
    assert to_tsquery_text(parse('title:x NEAR( pre* -"no way" -it\'s')) == (
        "('title' <-> 'x') & 'NEAR' & 'pre':* & !('no' <-> 'way') & !('it' <-> 's')"
    )
    with pytest.raises(ValueError, match="empty"):
        to_tsquery_text(parse("-only"))


def test_snippet_marks_escapes_and_cuts() -> None:
    """Matched words are marked (prefixes and accents too), the rest is escaped HTML on
    one line, and a long text is cut around the first match with ellipses."""
    query = parse("cafe pre*")
    assert snippet("<b>Café</b>\nand\tpremium", query) == (
        "&lt;b&gt;<mark>Café</mark>&lt;/b&gt; and <mark>premium</mark>"
    )
    long = "alpha " * 100 + "cafe " + "omega " * 100
    cut = snippet(long, query, max_chars=60)
    assert cut.startswith("…") and cut.endswith("…")
    assert "<mark>cafe</mark>" in cut
    assert snippet("nothing here", query) == "nothing here"
    assert snippet("", query) == ""
    assert fold("ÉCOLE") == "ecole"
