"""Full-text search (SPEC S5) on both engines, through the sync and the async store.

Guards against the faults users meet in peer tools: an index that drifts from the data
(a message edited, popped, cleared, deleted or forked but still found — or never
found), another user's chats in the results, typed punctuation giving a server error,
and pages that repeat or skip hits.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadkeep import ConversationStore, InvalidInput, MessageDraft, group_hits
from threadkeep.models import SearchHit
from threadkeep.search_query import parse

HOSTILE = [
    "C++",
    "foo-bar",
    "it's",
    '"unbalanced',
    "title:x",
    "content:x",
    "NEAR(",
    "NEAR(a b)",
    "a OR b",
    "x AND NOT y",
    "*",
    "^start",
    "col:val*",
    "'; DROP TABLE messages; --",
    "\\",
    "a\x00b",
    "🙂 emoji",
    "x" * 10_000,
    "word " * 2_000,
]


def _ids(hits: list[SearchHit]) -> list[tuple[str, int | None]]:
    return [(h.conversation_id, h.seq) for h in hits]


def _message_hits(store: Any, query: str, **filters: Any) -> list[tuple[str, int | None]]:
    return [(h.conversation_id, h.seq) for h in store.search(query, **filters) if h.seq]


def test_finds_messages_and_titles_with_marks(any_store: Any) -> None:
    """A word finds the messages that hold it, the title hit first, marks around the word."""
    trip = any_store.create_conversation(title="Trip to Lisbon")
    any_store.append_message(trip.id, "user", "Where should I eat in Alfama?")
    any_store.append_message(trip.id, "assistant", "Grilled sardines near the <b>Sé</b>.")
    other = any_store.create_conversation(title="Rust notes")
    any_store.append_message(other.id, "user", "lifetimes and the borrow checker")

    hits = any_store.search("sardines").items
    assert len(hits) == 1
    (hit,) = hits
    assert (hit.conversation_id, hit.seq, hit.role) == (trip.id, 2, "assistant")
    assert hit.conversation_title == "Trip to Lisbon"
    assert hit.message_id is not None
    assert "<mark>sardines</mark>" in hit.snippet
    assert "&lt;b&gt;" in hit.snippet  # the rest is escaped HTML

    titled = any_store.search("lisbon").items
    assert [(h.conversation_id, h.message_id, h.seq) for h in titled] == [(trip.id, None, None)]
    assert titled[0].snippet == "Trip to <mark>Lisbon</mark>"

    both = any_store.search("alfama lisbon").items  # all words must match in one place
    assert both == []


def test_phrase_prefix_and_exclusion(any_store: Any) -> None:
    """Quotes keep words together and in order; ``pre*`` and ``-word`` work."""
    c = any_store.create_conversation()
    any_store.append_message(c.id, "user", "grilled sardines are great")
    any_store.append_message(c.id, "user", "sardines, grilled")
    any_store.append_message(c.id, "user", "sardinian grilled cheese")
    assert _message_hits(any_store, '"grilled sardines"') == [(c.id, 1)]
    assert sorted(_message_hits(any_store, "grilled sardines")) == [(c.id, 1), (c.id, 2)]
    assert sorted(_message_hits(any_store, "sardin*")) == [(c.id, 1), (c.id, 2), (c.id, 3)]
    assert sorted(_message_hits(any_store, "grilled -cheese")) == [(c.id, 1), (c.id, 2)]
    assert sorted(_message_hits(any_store, 'grilled -"are great"')) == [(c.id, 2), (c.id, 3)]


def test_case_and_accents_fold(store: ConversationStore) -> None:
    """Upper case finds lower case; on SQLite accents fold too (FTS5 remove_diacritics)."""
    c = store.create_conversation()
    store.append_message(c.id, "user", "Déjà vu at the CAFÉ")
    assert _message_hits(store, "café") == [(c.id, 1)]
    assert _message_hits(store, "DÉJÀ") == [(c.id, 1)]
    if store.database.dialect == "sqlite":
        assert _message_hits(store, "cafe") == [(c.id, 1)]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:20]))
def test_typed_punctuation_never_errors(any_store: Any, text: str) -> None:
    """Operators, column prefixes, quotes and huge pastes are text: a page or a clear
    ``InvalidInput``, never an engine error and never a column filter."""
    c = any_store.create_conversation(title="x")
    any_store.append_message(c.id, "user", "C++ foo-bar it's title content near a b word")
    if parse(text).is_empty:
        with pytest.raises(InvalidInput, match="no word"):
            any_store.search(text)
        return
    page = any_store.search(text)
    assert isinstance(page.items, list)
    for hit in page.items:
        assert hit.conversation_id == c.id


def test_hostile_queries_match_what_they_say(store: ConversationStore) -> None:
    """``title:x`` looks for the words title and x, side by side (as ``foo-bar`` does), in
    content — not for x in a title column."""
    c = store.create_conversation(title="x marks")
    store.append_message(c.id, "user", "the book's title: x")
    store.append_message(c.id, "user", "only x here")
    assert _message_hits(store, "title:x") == [(c.id, 1)]
    assert _message_hits(store, "C++") == []
    store.append_message(c.id, "user", "I write C and C++")
    assert _message_hits(store, "C++") == [(c.id, 3)]


def test_empty_queries_are_invalid_input(store: ConversationStore) -> None:
    """Nothing to look for is a clear error, not an empty page that looks like no data."""
    for text in ("", "   ", "-only", "+++", '""'):
        with pytest.raises(InvalidInput, match="no word to look for"):
            store.search(text)
    with pytest.raises(InvalidInput, match="query must be text"):
        store.search(None)  # type: ignore[arg-type]


def test_every_write_keeps_the_index_in_sync(any_store: Any) -> None:
    """Append, update, pop, clear, rename, fork and delete are all reflected at once."""
    c = any_store.create_conversation(title="alpha")
    first = any_store.append_message(c.id, "user", "original wording")
    any_store.append_message(c.id, "assistant", "poppable reply")
    assert _message_hits(any_store, "original") == [(c.id, 1)]

    any_store.update_message(c.id, first.id, content="rewritten wording")
    assert _message_hits(any_store, "original") == []
    assert _message_hits(any_store, "rewritten") == [(c.id, 1)]

    assert any_store.pop_message(c.id) is not None
    assert _message_hits(any_store, "poppable") == []

    fork = any_store.fork_conversation(c.id, title="beta")
    assert sorted(_message_hits(any_store, "rewritten")) == sorted([(c.id, 1), (fork.id, 1)])
    assert [h.conversation_id for h in any_store.search("beta")] == [fork.id]

    any_store.update_conversation(c.id, title="gamma")
    assert any_store.search("alpha").items == []
    assert [h.conversation_id for h in any_store.search("gamma")] == [c.id]

    assert any_store.clear_messages(c.id) == 1
    assert _message_hits(any_store, "rewritten") == [(fork.id, 1)]

    any_store.delete_conversation(fork.id)
    assert any_store.search("rewritten").items == []
    assert any_store.search("beta").items == []


def test_a_failed_write_leaves_the_index_unchanged(store: ConversationStore) -> None:
    """A batch that fails part-way (duplicate id) indexes none of its messages."""
    c = store.create_conversation()
    store.append_message(c.id, "user", "kept", id="m1")
    drafts = [MessageDraft(role="user", content="phantom"), MessageDraft("user", "x", id="m1")]
    with pytest.raises(Exception, match="already exists"):
        store.append_messages(c.id, drafts)
    assert store.search("phantom").items == []


def test_another_owner_is_never_found(store: ConversationStore) -> None:
    """One user's words never surface in another user's search (SPEC S8.2)."""
    alice, bob = store.as_owner("alice"), store.as_owner("bob")
    a = alice.create_conversation(title="secret plans")
    alice.append_message(a.id, "user", "the secret is rosebud")
    assert bob.search("rosebud").items == []
    assert bob.search("secret").items == []
    assert [h.seq for h in alice.search("rosebud")] == [1]


def test_filters(store: ConversationStore) -> None:
    """Role, provider, model, status and the update range narrow the hits."""
    a = store.create_conversation(title="one")
    store.append_message(a.id, "user", "needle from the user")
    store.append_message(a.id, "assistant", "needle from the assistant")
    run = store.start_run(a.id, provider="echo", model="echo-1")
    store.finish_run(run.id, status="completed")
    b = store.create_conversation(title="two")
    store.append_message(b.id, "user", "needle elsewhere")

    assert sorted(_message_hits(store, "needle", role="assistant")) == [(a.id, 2)]
    assert {h[0] for h in _message_hits(store, "needle", provider="echo")} == {a.id}
    assert {h[0] for h in _message_hits(store, "needle", model="echo-1")} == {a.id}
    assert _message_hits(store, "needle", provider="other") == []

    store.archive_conversation(b.id)
    assert {h[0] for h in _message_hits(store, "needle")} == {a.id}
    assert {h[0] for h in _message_hits(store, "needle", status="archived")} == {b.id}
    assert {h[0] for h in _message_hits(store, "needle", status=None)} == {a.id, b.id}

    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert _message_hits(store, "needle", updated_after=later) == []
    assert len(_message_hits(store, "needle", updated_before=later)) == 2
    with pytest.raises(InvalidInput, match="role"):
        store.search("needle", role="robot")
    with pytest.raises(InvalidInput, match="timezone"):
        store.search("needle", updated_after=dt.datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(InvalidInput, match="limit"):
        store.search("needle", limit=0)


def test_relevance_then_recency(store: ConversationStore) -> None:
    """A message dense in the word outranks one that mentions it once in passing; equal
    scores put the newer message first."""
    c = store.create_conversation()
    store.append_message(c.id, "user", "kiwi " + "filler words go here and on " * 20)
    store.append_message(c.id, "user", "kiwi kiwi kiwi")
    store.append_message(c.id, "user", "same text apple")
    store.append_message(c.id, "user", "same text apple")
    assert [h.seq for h in store.search("kiwi")] == [2, 1]
    ranked = store.search("apple").items
    assert [h.seq for h in ranked] == [4, 3]
    assert ranked[0].score == ranked[1].score
    assert ranked[0].score > 0


def test_pages_cover_every_hit_once(any_store: Any) -> None:
    """Keyset pages over titles and messages neither repeat nor skip a hit."""
    expected: set[tuple[str, int | None]] = set()
    for n in range(5):
        c = any_store.create_conversation(title=f"pelican notes {n}")
        expected.add((c.id, None))
        for i in range(9):
            text = "pelican " * (1 + (i % 3)) + f"entry {n}-{i}"
            any_store.append_message(c.id, "user", text)
            expected.add((c.id, i + 1))
    seen: list[tuple[str, int | None]] = []
    cursor = None
    pages = 0
    while True:
        page = any_store.search("pelican", limit=7, cursor=cursor)
        seen.extend(_ids(page.items))
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 50
    assert set(seen) == expected
    assert pages == 8
    assert all(s is None for _, s in seen[:5])  # titles first


def test_cursors_belong_to_their_search(store: ConversationStore) -> None:
    """A cursor from another query or filter, or a made-up one, is a clear error."""
    c = store.create_conversation()
    for _ in range(3):
        store.append_message(c.id, "user", "heron")
    cursor = store.search("heron", limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput, match="cursor"):
        store.search("egret", cursor=cursor)
    with pytest.raises(InvalidInput, match="cursor"):
        store.search("heron", role="user", cursor=cursor)
    for bad in ("", "garbage", "eyJ4Ijp9", "W10"):
        with pytest.raises(InvalidInput, match="cursor"):
            store.search("heron", cursor=bad)


def test_group_hits_by_conversation(store: ConversationStore) -> None:
    """Grouping keeps the order of each conversation's best hit (the sidebar view)."""
    a = store.create_conversation(title="a")
    b = store.create_conversation(title="b")
    store.append_message(a.id, "user", "otter")
    store.append_message(b.id, "user", "otter otter otter")
    store.append_message(a.id, "user", "otter again")
    groups = group_hits(store.search("otter").items)
    assert [g.conversation_id for g in groups] == [b.id, a.id]
    assert [len(g.hits) for g in groups] == [1, 2]
    assert groups[1].conversation_title == "a"


WORDS = ["amber", "basil", "cedar", "delta", "ember", "fjord", "grove", "Hazel"]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    texts=st.lists(
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join),
        min_size=1,
        max_size=12,
    ),
    needle=st.sampled_from(WORDS),
)
def test_search_agrees_with_a_simple_model(
    store: ConversationStore, texts: list[str], needle: str
) -> None:
    """On any small corpus, a one-word search finds exactly the messages holding the
    word, whatever the case — the index never drifts from the rows."""
    c = store.create_conversation()
    store.append_messages(c.id, [MessageDraft(role="user", content=t) for t in texts])
    try:
        found = sorted(h.seq for h in store.search(needle, limit=200) if h.seq is not None)
        expected = [
            i + 1
            for i, t in enumerate(texts)
            if needle.casefold() in (w.casefold() for w in t.split())
        ]
        assert found == expected
    finally:
        store.delete_conversation(c.id)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.text(max_size=300))
def test_search_never_errors_on_any_text(store: ConversationStore, text: str) -> None:
    """Whatever is typed, search returns a page — or ``InvalidInput`` when there is no
    word in it — on both engines."""
    try:
        page = store.search(text)
    except InvalidInput as error:
        assert parse(text).is_empty, error
    else:
        assert isinstance(page.items, list)


def test_snippets_show_the_match_in_long_messages(store: ConversationStore) -> None:
    """The snippet is a window around the match, cut at words, with ellipses."""
    c = store.create_conversation()
    body = "lorem ipsum " * 200 + "the quokka smiled " + "dolor sit " * 200
    store.append_message(c.id, "user", body)
    (hit,) = store.search("quokka").items
    assert "<mark>quokka</mark>" in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(re.sub(r"</?mark>", "", hit.snippet)) <= 165


def test_narrow_results_fall_back_to_the_join(
    store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When other owners' matches outrank all of this owner's candidates (or a filter
    is narrow), the search still returns this owner's hits, all of them, in order."""
    from threadkeep.db import search as search_rows

    monkeypatch.setattr(search_rows, "FAST_PATH_CANDIDATES", 1)
    alice, bob = store.as_owner("alice"), store.as_owner("bob")
    b = bob.create_conversation()
    bob.append_messages(b.id, [MessageDraft("user", "lynx lynx lynx") for _ in range(30)])
    a = alice.create_conversation()
    alice.append_messages(
        a.id, [MessageDraft("user" if i % 2 else "assistant", "lynx here") for i in range(5)]
    )
    seen: list[int | None] = []
    cursor = None
    while True:
        page = alice.search("lynx", limit=2, cursor=cursor)
        assert all(h.conversation_id == a.id for h in page.items)
        seen.extend(h.seq for h in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]
    assert [h.seq for h in alice.search("lynx", role="user", limit=1)] == [4]


PARITY_TEXT = (
    "see https://docs.python.org/3/library/sqlite3.html and "
    "/usr/local/lib/python3.11/site-packages/foo_bar.py and src/threadkeep/redact.py, "
    "mail user@example.com about v1.2.3 (pi is 3.14159); it's the foo-bar fix"
)


@pytest.mark.parametrize(
    "query",
    [
        "python",
        "docs",
        "sqlite3",
        "html",
        "usr",
        "redact",
        "threadkeep",
        "example",
        "v1.2.3",
        "3.14159",
        "site-packages",
        "foo_bar",
        "foo-bar",
        "it's",
        '"python org"',
        "https://docs.python.org",
    ],
)
def test_both_engines_find_words_inside_urls_paths_and_versions(
    store: ConversationStore, query: str
) -> None:
    """Guards against PostgreSQL's parser keeping URLs, paths, e-mails and versions as
    single tokens: every word a person can see is found, on both engines alike."""
    c = store.create_conversation(title="docs.python.org notes")
    store.append_message(c.id, "user", PARITY_TEXT)
    assert _message_hits(store, query) == [(c.id, 1)]
    assert _message_hits(store, query + " -zzz") == [(c.id, 1)]
