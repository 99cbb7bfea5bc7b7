"""Contract: listing conversations (SPEC S3.3) — order (newest or oldest first), filters,
keyset pagination."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest

from threadkeep import Conversation, ConversationStore, InvalidInput, MessageDraft
from threadkeep.db.schema import conversations


def _walk(store: ConversationStore, *, limit: int, **filters: object) -> list[list[str]]:
    """Every page of a listing, as lists of ids, following next_cursor to the end."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = store.list_conversations(limit=limit, cursor=cursor, **filters)  # type: ignore[arg-type]
        pages.append([c.id for c in page.items])
        assert len(pages) < 1000, "pagination does not end"
        if page.next_cursor is None:
            return pages
        assert page.items, "a page with a next_cursor must not be empty"
        cursor = page.next_cursor


def _make(store: ConversationStore, n: int) -> list[str]:
    """Create ``n`` conversations; return their ids, oldest first."""
    return [store.create_conversation(title=f"c{i}").id for i in range(n)]


def test_most_recently_updated_first(any_store: ConversationStore) -> None:
    """The listing is by updated_at, newest first; a new message moves a conversation up."""
    a, b, c = _make(any_store, 3)
    assert [x.id for x in any_store.list_conversations()] == [c, b, a]
    any_store.append_message(a, "user", "bump")
    assert [x.id for x in any_store.list_conversations()] == [a, c, b]
    any_store.update_conversation(b, title="renamed")
    assert [x.id for x in any_store.list_conversations()] == [b, a, c]


def test_items_carry_message_count_and_preview(any_store: ConversationStore) -> None:
    """Each item has its message_count and a preview of the latest user/assistant text."""
    conv = any_store.create_conversation()
    empty = any_store.create_conversation()
    any_store.append_messages(
        conv.id,
        [
            MessageDraft("user", "What   is\nthe capital\tof France?"),
            MessageDraft("assistant", "Paris."),
            MessageDraft("tool", "{'lookup': 1}", kind="tool_result"),
            MessageDraft("assistant", "calling", kind="tool_call"),
        ],
    )
    items = {c.id: c for c in any_store.list_conversations()}
    assert items[conv.id].message_count == 4
    assert items[conv.id].last_seq == 4
    assert items[conv.id].preview == "Paris."
    assert items[empty.id].message_count == 0
    assert items[empty.id].preview is None
    any_store.append_message(conv.id, "user", "  Thanks,\n\nand   Spain? ")
    listed = any_store.list_conversations().items[0]
    assert listed.id == conv.id
    assert listed.preview == "Thanks, and Spain?"


def test_preview_is_short(any_store: ConversationStore) -> None:
    """A long message gives a preview of at most preview_chars (120) ending in an ellipsis."""
    conv = any_store.create_conversation()
    any_store.append_message(conv.id, "assistant", "word " * 500)
    preview = any_store.list_conversations().items[0].preview
    assert preview is not None
    assert len(preview) == 120
    assert preview.startswith("word word")
    assert preview.endswith("…")


def test_pagination_returns_every_item_once(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """Keyset pages cover every conversation exactly once, in order; the last has no cursor.

    Limits that divide the count exactly are included: the last full page must not hand
    out a cursor to an empty page.
    """
    count = 20
    ids = _make(any_store, count)
    for limit in (5, 6, 7, 19, 20, 21):
        with subtests.test(limit=limit):
            pages = _walk(any_store, limit=limit)
            full, rest = divmod(count, limit)
            assert [len(p) for p in pages] == [limit] * full + ([rest] if rest else [])
            assert [i for page in pages for i in page] == list(reversed(ids))


def test_limit_one_pages(any_store: ConversationStore) -> None:
    """With limit=1 every page holds one item and the walk still ends with cursor None."""
    ids = _make(any_store, 4)
    pages = _walk(any_store, limit=1)
    assert pages == [[i] for i in reversed(ids)]


def test_pagination_with_pinned_first(any_store: ConversationStore) -> None:
    """pinned_first puts pinned conversations on top, and its pages still cover all once."""
    ids = _make(any_store, 7)
    for index in (1, 4):
        any_store.update_conversation(ids[index], pinned=True)
    first = any_store.list_conversations(pinned_first=True, limit=50)
    assert [c.id for c in first.items] == [ids[4], ids[1], ids[6], ids[5], ids[3], ids[2], ids[0]]
    assert first.next_cursor is None
    flat = [i for page in _walk(any_store, limit=2, pinned_first=True) for i in page]
    assert flat == [c.id for c in first.items]
    # Without pinned_first the order is by activity alone.
    assert [c.id for c in any_store.list_conversations()] == list(reversed(ids))


def test_conversation_updated_during_pagination_is_not_seen_twice(
    any_store: ConversationStore,
) -> None:
    """A conversation that moves to the top after its page was read is not returned again."""
    ids = _make(any_store, 9)
    newest_first = list(reversed(ids))
    page = any_store.list_conversations(limit=3)
    assert [c.id for c in page.items] == newest_first[:3]
    moved = newest_first[1]
    any_store.append_message(moved, "user", "activity while someone pages")
    any_store.update_conversation(newest_first[0], title="renamed while paging")
    seen = [c.id for c in page.items]
    cursor = page.next_cursor
    while cursor is not None:
        page = any_store.list_conversations(limit=3, cursor=cursor)
        seen.extend(c.id for c in page.items)
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))


def _encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def test_bad_cursor_is_invalid(any_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """A cursor the store did not hand out is InvalidInput saying what to do, in either
    order (a damaged cursor is not blamed on the other order)."""
    _make(any_store, 2)
    for cursor in [
        "garbage!!",
        "",
        _encoded({"not": "a list"}),
        _encoded(["2024-01-01T00:00:00", str(uuid.uuid4())]),  # naive time
        _encoded(["2024-01-01T00:00:00+00:00", "not-a-uuid"]),
        _encoded(["yesterday", str(uuid.uuid4())]),
        _encoded([1, 2, 3, 4]),
        _encoded([]),
        _encoded(["asc"]),
        _encoded(["asc", "2024-01-01T00:00:00+00:00", "not-a-uuid"]),
        _encoded(["asc", 1, 2, 3, 4]),
    ]:
        for oldest_first in (False, True):
            with (
                subtests.test(cursor=cursor, oldest_first=oldest_first),
                pytest.raises(InvalidInput, match="not one this listing handed out"),
            ):
                any_store.list_conversations(cursor=cursor, oldest_first=oldest_first)


def test_cursor_of_another_ordering_is_invalid(any_store: ConversationStore) -> None:
    """A cursor made without pinned_first is refused when pinned_first is asked (and back)."""
    _make(any_store, 3)
    plain = any_store.list_conversations(limit=1).next_cursor
    pinned = any_store.list_conversations(limit=1, pinned_first=True).next_cursor
    assert plain is not None and pinned is not None
    with pytest.raises(InvalidInput, match="cursor"):
        any_store.list_conversations(limit=1, pinned_first=True, cursor=plain)
    with pytest.raises(InvalidInput, match="cursor"):
        any_store.list_conversations(limit=1, cursor=pinned)


def _set_updated_at(store: ConversationStore, updated: dict[str, dt.datetime]) -> None:
    """Give conversations these updated_at values (ties included), as raw SQL: the API
    moves updated_at to "now", which never ties on purpose."""
    with store.database.engine.begin() as conn:
        for cid, at in updated.items():
            statement = conversations.update().where(conversations.c.id == cid)
            assert conn.execute(statement.values(updated_at=at)).rowcount == 1


def test_oldest_first_pages_through_ties(
    any_store: ConversationStore, store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """oldest_first lists least recently updated first, ties in updated_at by id, and its
    keyset pages cover every conversation once, page boundaries falling inside ties; the
    newest-first walk is its exact reverse (one tie-break, both ways)."""
    ids = _make(any_store, 12)
    base = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
    # Three conversations per instant; the instants out of creation order.
    updated = {cid: base + dt.timedelta(seconds=(3 - i // 3) * 7) for i, cid in enumerate(ids)}
    _set_updated_at(store, updated)
    oldest = sorted(ids, key=lambda cid: (updated[cid], cid))
    assert oldest[:3] == sorted(ids[9:])  # the last created were updated first
    assert [c.id for c in any_store.list_conversations(oldest_first=True)] == oldest
    for limit in (1, 2, 3, 5, 12):
        with subtests.test(limit=limit):
            pages = _walk(any_store, limit=limit, oldest_first=True)
            full, rest = divmod(len(ids), limit)
            assert [len(p) for p in pages] == [limit] * full + ([rest] if rest else [])
            assert [i for page in pages for i in page] == oldest
            newest = [i for page in _walk(any_store, limit=limit) for i in page]
            assert newest == oldest[::-1]


def test_oldest_first_with_pinned_first(
    any_store: ConversationStore, store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """pinned_first with oldest_first: the pinned conversations oldest first, then the
    others oldest first, across page boundaries inside either part and at the switch."""
    ids = _make(any_store, 8)
    for index in (2, 5, 6):
        any_store.update_conversation(ids[index], pinned=True)
    base = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
    # A pinned and an unpinned conversation share each instant.
    updated = {cid: base + dt.timedelta(seconds=(i % 4) * 5) for i, cid in enumerate(ids)}
    _set_updated_at(store, updated)

    def by_age(group: list[str]) -> list[str]:
        return sorted(group, key=lambda cid: (updated[cid], cid))

    pinned = by_age([ids[2], ids[5], ids[6]])
    expected = pinned + by_age([cid for cid in ids if cid not in pinned])
    first = any_store.list_conversations(pinned_first=True, oldest_first=True)
    assert [c.id for c in first.items] == expected and first.next_cursor is None
    for limit in (1, 2, 3, 4, 7):  # 3: the first page is exactly the pinned ones
        with subtests.test(limit=limit):
            pages = _walk(any_store, limit=limit, pinned_first=True, oldest_first=True)
            assert [i for page in pages for i in page] == expected
    newest = _walk(any_store, limit=2, pinned_first=True)
    assert [i for page in newest for i in page] == pinned[::-1] + expected[:2:-1]


def test_oldest_first_sees_a_conversation_updated_while_paging_at_the_end(
    any_store: ConversationStore,
) -> None:
    """Oldest first, a conversation updated after its page was read moves to the end and
    is listed there again; one updated before its page is listed once, at the end —
    never skipped."""
    ids = _make(any_store, 6)
    page = any_store.list_conversations(limit=2, oldest_first=True)
    assert [c.id for c in page.items] == ids[:2]
    any_store.append_message(ids[0], "user", "seen already, now the newest")
    any_store.update_conversation(ids[3], title="not seen yet, now the newest")
    seen = [c.id for c in page.items]
    cursor = page.next_cursor
    while cursor is not None:
        page = any_store.list_conversations(limit=2, oldest_first=True, cursor=cursor)
        seen.extend(c.id for c in page.items)
        cursor = page.next_cursor
    assert seen == [ids[0], ids[1], ids[2], ids[4], ids[5], ids[0], ids[3]]


def test_cursor_of_the_other_direction_is_refused(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """A newest-first cursor given to an oldest-first listing (and back) is InvalidInput
    naming the oldest_first to pass, never read as a position in the other order; a
    cursor of the same direction but the other pinned_first is refused too."""
    _make(any_store, 3)
    for pinned_first in (False, True):
        newest = any_store.list_conversations(limit=1, pinned_first=pinned_first).next_cursor
        oldest = any_store.list_conversations(
            limit=1, pinned_first=pinned_first, oldest_first=True
        ).next_cursor
        assert newest is not None and oldest is not None and newest != oldest
        for cursor, oldest_first, fix in ((newest, True, "False"), (oldest, False, "True")):
            with (
                subtests.test(pinned_first=pinned_first, oldest_first=oldest_first),
                pytest.raises(InvalidInput, match=f"pass oldest_first={fix} with it"),
            ):
                any_store.list_conversations(
                    limit=1, pinned_first=pinned_first, oldest_first=oldest_first, cursor=cursor
                )
        with pytest.raises(InvalidInput, match="not one this listing handed out"):
            any_store.list_conversations(
                limit=1, pinned_first=not pinned_first, oldest_first=True, cursor=oldest
            )
    for value in (1, "yes", None):
        with pytest.raises(InvalidInput, match="oldest_first"):
            any_store.list_conversations(oldest_first=value)  # type: ignore[arg-type]


def test_limit_must_be_1_to_1000(any_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """limit must be 1..1000; outside (or not an int) is InvalidInput naming limit."""
    for limit in (0, -1, 1001, 2.5, True):
        with subtests.test(limit=limit), pytest.raises(InvalidInput, match="limit"):
            any_store.list_conversations(limit=limit)  # type: ignore[arg-type]
    _make(any_store, 2)
    assert len(any_store.list_conversations(limit=1)) == 1
    assert len(any_store.list_conversations(limit=1000)) == 2


def test_status_filter(any_store: ConversationStore) -> None:
    """status is active (default), archived, or all/None for both; anything else is invalid."""
    active, archived = _make(any_store, 2)
    any_store.archive_conversation(archived)
    assert [c.id for c in any_store.list_conversations()] == [active]
    assert [c.id for c in any_store.list_conversations(status="active")] == [active]
    assert [c.id for c in any_store.list_conversations(status="archived")] == [archived]
    assert {c.id for c in any_store.list_conversations(status="all")} == {active, archived}
    assert {c.id for c in any_store.list_conversations(status=None)} == {active, archived}
    with pytest.raises(InvalidInput, match="status"):
        any_store.list_conversations(status="deleted")


def test_provider_and_model_filters(any_store: ConversationStore) -> None:
    """provider and model narrow the listing to conversations run with them."""
    openai_a, openai_b, anthropic, never_run = _make(any_store, 4)
    any_store.start_run(openai_a, provider="openai", model="gpt-4o")
    any_store.start_run(openai_b, provider="openai", model="gpt-4o-mini")
    any_store.start_run(anthropic, provider="anthropic", model="claude")
    assert {c.id for c in any_store.list_conversations(provider="openai")} == {openai_a, openai_b}
    assert {c.id for c in any_store.list_conversations(provider="anthropic")} == {anthropic}
    assert {c.id for c in any_store.list_conversations(model="gpt-4o")} == {openai_a}
    assert [c.id for c in any_store.list_conversations(provider="openai", model="claude")] == []
    assert never_run in {c.id for c in any_store.list_conversations()}


def test_mode_and_tag_filters(any_store: ConversationStore) -> None:
    """mode and tag narrow the listing; a tag matches whole tags only."""
    chat = any_store.create_conversation(mode="chat", tags=["work", "urgent"]).id
    batch = any_store.create_conversation(mode="batch", tags=["work"]).id
    other = any_store.create_conversation(mode="chat", tags=["workshop"]).id
    assert {c.id for c in any_store.list_conversations(mode="chat")} == {chat, other}
    assert {c.id for c in any_store.list_conversations(mode="batch")} == {batch}
    assert {c.id for c in any_store.list_conversations(tag="work")} == {chat, batch}
    assert {c.id for c in any_store.list_conversations(tag="urgent")} == {chat}
    assert [c.id for c in any_store.list_conversations(tag="wor")] == []
    assert [c.id for c in any_store.list_conversations(tag="work", mode="batch")] == [batch]


def _between(earlier: dt.datetime, later: dt.datetime) -> dt.datetime:
    assert earlier < later
    middle = earlier + (later - earlier) / 2
    assert earlier < middle < later
    return middle


def test_updated_date_filters(any_store: ConversationStore) -> None:
    """updated_after/updated_before select by last activity."""
    a, b, c = (any_store.get_conversation(i) for i in _make(any_store, 3))
    bumped = any_store.append_message(a.id, "user", "later")
    a_now = any_store.get_conversation(a.id)
    assert a_now.updated_at == bumped.created_at
    cut = _between(b.updated_at, c.updated_at)
    after = {x.id for x in any_store.list_conversations(updated_after=cut)}
    before = {x.id for x in any_store.list_conversations(updated_before=cut)}
    assert after == {c.id, a.id}
    assert before == {b.id}
    window = any_store.list_conversations(
        updated_after=_between(a.updated_at, b.updated_at),
        updated_before=_between(c.updated_at, a_now.updated_at),
    )
    assert {x.id for x in window} == {b.id, c.id}


def test_created_date_filters(any_store: ConversationStore) -> None:
    """created_after/created_before select by creation time, whatever the activity."""
    a, b, c = (any_store.get_conversation(i) for i in _make(any_store, 3))
    any_store.append_message(a.id, "user", "activity does not change created_at")
    cut = _between(a.created_at, b.created_at)
    assert {x.id for x in any_store.list_conversations(created_after=cut)} == {b.id, c.id}
    assert {x.id for x in any_store.list_conversations(created_before=cut)} == {a.id}
    # Non-UTC offsets mean the same instant.
    shifted = cut.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert {x.id for x in any_store.list_conversations(created_after=shifted)} == {b.id, c.id}


def test_non_string_filters_are_invalid(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """A filter value that is not a string is InvalidInput naming it, on every engine.

    Never a StoreUnavailable (the database is fine) and never a silent empty page.
    """
    any_store.create_conversation(mode="chat", tags=["5"])
    for name in ("provider", "model", "mode", "tag"):
        for value in (5, ["chat"]):
            with subtests.test(filter=name, value=value), pytest.raises(InvalidInput, match=name):
                any_store.list_conversations(**{name: value})  # type: ignore[arg-type]


def test_naive_datetime_is_invalid(any_store: ConversationStore) -> None:
    """A naive datetime is ambiguous: InvalidInput naming the argument."""
    naive = dt.datetime(2024, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(InvalidInput, match="updated_after"):
        any_store.list_conversations(updated_after=naive)
    with pytest.raises(InvalidInput, match="created_before"):
        any_store.list_conversations(created_before=naive)


def test_filtered_pagination(any_store: ConversationStore) -> None:
    """Pages of a filtered listing hold only matches, each once."""
    tagged: list[str] = []
    for i in range(11):
        conv: Conversation = any_store.create_conversation(tags=["even"] if i % 2 == 0 else [])
        if i % 2 == 0:
            tagged.append(conv.id)
    flat = [i for page in _walk(any_store, limit=2, tag="even") for i in page]
    assert flat == list(reversed(tagged))
