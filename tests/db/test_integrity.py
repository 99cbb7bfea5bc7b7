"""Damaged rows (SPEC S2.7): one bad row never makes a listing or a conversation
unreadable — it is skipped, and a warning on the ``threadkeep.integrity`` logger names
the row (never its content, which may hold secrets).

Rows are damaged behind the store's back with raw SQL through its own engine: JSON that
does not parse (SQLite keeps JSON as text), JSON of the wrong shape (PostgreSQL's JSONB
only holds valid JSON), and values outside their sets.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from threadkeep import ConversationStore, open_store

SECRET = "sk-live-do-not-log-me"  # noqa: S105 - a fake secret that must stay out of logs


def _damage(store: ConversationStore, sql: str, **params: Any) -> None:
    with store.database.engine.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        assert result.rowcount == 1


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "threadkeep.integrity" and r.levelno == logging.WARNING
    ]


def _message_locators(store: ConversationStore, conversation_id: str, seq: int) -> list[str]:
    """The ways a log line may name a message row: its id, its pk, or conversation/seq."""
    with store.database.engine.connect() as conn:
        pk, message_id = conn.execute(
            sa.text("SELECT pk, id FROM messages WHERE conversation_id = :c AND seq = :s"),
            {"c": conversation_id, "s": seq},
        ).one()
    return [str(message_id), f"row {pk}:", f"row {pk} ", f"{conversation_id}/{seq}"]


def _three_messages(store: ConversationStore) -> str:
    conversation = store.create_conversation(title="has one bad message")
    store.append_message(conversation.id, "user", "first")
    store.append_message(
        conversation.id, "assistant", f"the key is {SECRET}", metadata={"raw": SECRET}
    )
    store.append_message(conversation.id, "user", "third")
    return conversation.id


def _assert_message_2_skipped(store: ConversationStore, conversation_id: str) -> None:
    assert [m.seq for m in store.get_messages(conversation_id)] == [1, 3]
    assert [m.seq for m in store.get_messages(conversation_id, descending=True)] == [3, 1]
    assert [m.seq for m in store.get_messages(conversation_id, after_seq=1)] == [3]
    assert [m.seq for m in store.tail_messages(conversation_id, 3)] == [1, 3]
    assert [m.seq for m in store.tail_messages(conversation_id, 1)] == [3]
    [listed] = store.list_conversations().items
    assert listed.id == conversation_id
    assert listed.message_count == 3


def _assert_logged_without_content(
    caplog: pytest.LogCaptureFixture, locators: list[str], *hidden: str
) -> None:
    warnings = _warnings(caplog)
    assert warnings, "a skipped row must be logged on threadkeep.integrity"
    assert all(any(loc in w for loc in locators) for w in warnings), (warnings, locators)
    for text in (SECRET, *hidden):
        assert all(text not in w for w in warnings), warnings


def test_message_with_unparseable_metadata_is_skipped(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against one message whose metadata is not JSON (a torn write, a bad
    manual edit) making the whole conversation unreadable through get_messages or
    tail_messages; the warning names the row but not its content."""
    with open_store(sqlite_url) as store:
        cid = _three_messages(store)
        _damage(
            store,
            "UPDATE messages SET metadata = '{not json' WHERE conversation_id = :c AND seq = 2",
            c=cid,
        )
        caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
        _assert_message_2_skipped(store, cid)
        _assert_logged_without_content(caplog, _message_locators(store, cid, 2), "{not json")


def test_message_with_a_field_outside_its_set_is_skipped(
    store: ConversationStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against a message whose role is not one threadkeep knows (on either
    engine) breaking reads: it is skipped and logged, the others are returned."""
    cid = _three_messages(store)
    _damage(
        store, "UPDATE messages SET role = 'wizard' WHERE conversation_id = :c AND seq = 2", c=cid
    )
    caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
    _assert_message_2_skipped(store, cid)
    _assert_logged_without_content(caplog, _message_locators(store, cid, 2), "wizard")


# column -> (SQLite text that does not parse, PostgreSQL JSON of the wrong shape)
BAD_CONVERSATION_VALUES = {
    "context": ("nope", '"nope"'),
    "tags": ("[oops", '{"not": "a list"}'),
}


@pytest.mark.parametrize("column", sorted(BAD_CONVERSATION_VALUES))
def test_conversation_with_damaged_json_is_skipped_in_listings(
    store: ConversationStore, caplog: pytest.LogCaptureFixture, column: str
) -> None:
    """Guards against one conversation whose context or tags cannot be read taking the
    whole sidebar down: the listing returns the others, the warning names the
    conversation id but not its title or content, and its messages stay readable."""
    good_old = store.create_conversation(title="older")
    damaged = store.create_conversation(title=f"title with {SECRET}")
    store.append_message(damaged.id, "user", "still readable")
    good_new = store.create_conversation(title="newer")
    sqlite_value, postgres_value = BAD_CONVERSATION_VALUES[column]
    if store.database.dialect == "postgresql":
        sql = f"UPDATE conversations SET {column} = CAST(:v AS jsonb) WHERE id = :id"
        value = postgres_value
    else:
        sql = f"UPDATE conversations SET {column} = :v WHERE id = :id"
        value = sqlite_value
    _damage(store, sql, v=value, id=damaged.id)
    caplog.set_level(logging.WARNING, logger="threadkeep.integrity")

    assert [c.id for c in store.list_conversations().items] == [good_new.id, good_old.id]
    assert [c.id for c in store.list_conversations(pinned_first=True).items] == [
        good_new.id,
        good_old.id,
    ]
    assert [m.content for m in store.get_messages(damaged.id)] == ["still readable"]
    assert [m.content for m in store.tail_messages(damaged.id, 5)] == ["still readable"]
    _assert_logged_without_content(caplog, [damaged.id], value)


def test_paging_over_damaged_conversations_never_stalls(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against a keyset page made only of damaged rows ending the walk early or
    looping forever: paging one by one still reaches every readable conversation."""
    with open_store(sqlite_url) as store:
        made = [store.create_conversation(title=f"c{i}") for i in range(6)]
        for bad in (made[1], made[2], made[4]):
            _damage(store, "UPDATE conversations SET context = 'nope' WHERE id = :id", id=bad.id)
        caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(len(made) + 1):
            page = store.list_conversations(limit=1, cursor=cursor)
            seen.extend(c.id for c in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert cursor is None, "paging did not end"
        assert seen == [made[5].id, made[3].id, made[0].id]
        assert len(_warnings(caplog)) == 3


# JSON that both engines store (PostgreSQL validates json/jsonb on write and accepts
# these) but that Python's json cannot read: nesting past the recursion limit, and an
# integer past the 4,300-digit conversion limit.
UNREADABLE_JSON = {
    "deep": "[" * 3000 + "]" * 3000,
    "huge-int": '{"n": ' + "1" * 5000 + "}",
}


def _store_json(store: ConversationStore, table: str, column: str, text: str, key: str) -> None:
    kind = "jsonb" if column == "context" else "json"
    value = f"CAST(:v AS {kind})" if store.database.dialect == "postgresql" else ":v"
    where = "conversation_id = :k AND seq = 2" if table == "messages" else "id = :k"
    _damage(store, f"UPDATE {table} SET {column} = {value} WHERE {where}", v=text, k=key)


@pytest.mark.parametrize("value", sorted(UNREADABLE_JSON))
def test_json_python_cannot_read_never_fails_a_read(
    store: ConversationStore, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    """Guards against a stored JSON value that the database accepts but Python cannot
    parse (PostgreSQL holds it even though it validates JSON) failing a whole read with
    RecursionError or ValueError: the row is skipped and logged, like unparseable text,
    in message pages and tails, listings and run lists."""
    caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
    text = UNREADABLE_JSON[value]
    cid = _three_messages(store)
    _store_json(store, "messages", "metadata", text, cid)
    _assert_message_2_skipped(store, cid)

    run = store.start_run(cid, provider="echo")
    kept = store.start_run(cid, provider="echo")
    _store_json(store, "runs", "usage", text, run.id)
    assert [r.id for r in store.list_runs(cid)] == [kept.id]

    other = store.create_conversation(title="still listed")
    _store_json(store, "conversations", "context", text, cid)
    assert [c.id for c in store.list_conversations().items] == [other.id]
    assert [m.seq for m in store.get_messages(cid)] == [1, 3]
    _assert_logged_without_content(caplog, [f"{cid}/2", run.id, cid], text[:40])
