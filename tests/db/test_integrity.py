"""Damaged rows (SPEC S2.7): one bad value never makes a listing or a conversation
unreadable — the row is read with a safe value in place of the bad one (the value
``doctor --repair`` would write), and ONE warning per row read on the
``threadkeep.integrity`` logger names the table, the row and each damaged column with
the reason — never the content, which may hold secrets.

Rows are damaged behind the store's back with raw SQL through its own engine: JSON that
does not parse (SQLite keeps JSON as text), JSON of the wrong shape (PostgreSQL's JSONB
only holds valid JSON), JSON Python cannot read (both), values outside their sets
(both) and datetimes that do not read (SQLite keeps them as text).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
import sqlalchemy as sa

from threadkeep import ConversationStore, open_store
from threadkeep.db.rows import damaged_values_read

SECRET = "sk-live-do-not-log-me"  # noqa: S105 - a fake secret that must stay out of logs
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _damage(store: ConversationStore, sql: str, **params: Any) -> None:
    with store.database.engine.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        assert result.rowcount == 1


def _is_pg(store: ConversationStore) -> bool:
    return store.database.dialect == "postgresql"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "threadkeep.integrity" and r.levelno == logging.WARNING
    ]


def _three_messages(store: ConversationStore) -> str:
    conversation = store.create_conversation(title="has one bad message")
    store.append_message(conversation.id, "user", "first", metadata={"n": 1})
    store.append_message(
        conversation.id, "assistant", f"the key is {SECRET}", metadata={"raw": SECRET}
    )
    store.append_message(conversation.id, "user", "third")
    return conversation.id


def _assert_all_three_read(store: ConversationStore, conversation_id: str) -> None:
    """Every read path returns every message, in seq order, the counters unchanged."""
    assert [m.seq for m in store.get_messages(conversation_id)] == [1, 2, 3]
    assert [m.seq for m in store.get_messages(conversation_id, descending=True)] == [3, 2, 1]
    assert [m.seq for m in store.get_messages(conversation_id, after_seq=1)] == [2, 3]
    assert [m.seq for m in store.tail_messages(conversation_id, 3)] == [1, 2, 3]
    assert [m.seq for m in store.tail_messages(conversation_id, 2)] == [2, 3]
    [listed] = store.list_conversations().items
    assert listed.id == conversation_id
    assert (listed.message_count, listed.last_seq) == (3, 3)


def _assert_logged_without_content(
    caplog: pytest.LogCaptureFixture, row_key: str, column: str, *hidden: str
) -> None:
    warnings = _warnings(caplog)
    assert warnings, "a damaged row must be logged on threadkeep.integrity"
    assert all(row_key in w and column in w for w in warnings), (warnings, row_key, column)
    for text in (SECRET, *hidden):
        assert all(text not in w for w in warnings), warnings


def test_message_with_unparseable_metadata_reads_with_none(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against one message whose metadata is not JSON (a torn write, a bad manual
    edit) being dropped from reads — or taking the conversation with it: it is returned
    with ``metadata=None`` and its content intact, once per read, and the warning names
    the row and column but not the content."""
    with open_store(sqlite_url) as store:
        cid = _three_messages(store)
        _damage(
            store,
            "UPDATE messages SET metadata = '{not json' WHERE conversation_id = :c AND seq = 2",
            c=cid,
        )
        caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
        _assert_all_three_read(store, cid)
        message = store.get_messages(cid)[1]
        assert (message.metadata, message.content) == (None, f"the key is {SECRET}")
        assert store.get_messages(cid)[0].metadata == {"n": 1}
        _assert_logged_without_content(caplog, f"{cid}/2", "metadata", "{not json")

        caplog.clear()
        store.tail_messages(cid, 3)
        assert len(_warnings(caplog)) == 1, "one warning per damaged row per read"


@pytest.mark.parametrize(
    ("column", "bad", "safe"),
    [("role", "wizard", "user"), ("kind", "spell", "text"), ("status", "half", "complete")],
)
def test_message_with_a_field_outside_its_set_reads_with_doctors_value(
    store: ConversationStore,
    caplog: pytest.LogCaptureFixture,
    column: str,
    bad: str,
    safe: str,
) -> None:
    """Guards against a message whose role, kind or status threadkeep does not know (on
    either engine) being dropped or handed out as is: it reads with the value doctor's
    repair writes (role ``user``, the least authority in a prompt)."""
    cid = _three_messages(store)
    _damage(
        store,
        f"UPDATE messages SET {column} = :v WHERE conversation_id = :c AND seq = 2",
        v=bad,
        c=cid,
    )
    caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
    _assert_all_three_read(store, cid)
    assert getattr(store.get_messages(cid)[1], column) == safe
    _assert_logged_without_content(caplog, f"{cid}/2", column, bad)


def test_several_damaged_columns_of_one_row_log_one_warning(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against a log flood (one line per column) and against a damaged value
    going uncounted: a row with three bad columns logs one line naming all three, and
    the per-thread count of defaulted values grows by three per read."""
    with open_store(sqlite_url) as store:
        cid = _three_messages(store)
        _damage(
            store,
            "UPDATE messages SET metadata = 'NaN', role = 'wizard', kind = 'spell' "
            "WHERE conversation_id = :c AND seq = 2",
            c=cid,
        )
        caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
        before = damaged_values_read()
        message = store.tail_messages(cid, 3)[1]
        assert damaged_values_read() - before == 3
        assert (message.metadata, message.role, message.kind) == (None, "user", "text")
        [warning] = _warnings(caplog)
        assert all(name in warning for name in ("metadata", "role", "kind", f"{cid}/2"))
        assert "NaN, which is not JSON" in warning  # the same verdict as doctor's


def test_healthy_rows_log_and_count_nothing(
    store: ConversationStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against false alarms: reading healthy rows of every shape (empty and full
    context and tags, null and nested metadata, runs, the trash) logs nothing."""
    caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
    full = store.create_conversation(title="full", context={"a": [1, {"b": None}]}, tags=["x"])
    store.create_conversation(title="empty")
    store.append_message(full.id, "user", "hi", metadata={"deep": {"list": [1.5, True]}})
    store.append_message(full.id, "assistant", "hello", metadata=None)
    store.start_run(full.id, provider="echo")
    before = damaged_values_read()
    assert len(store.list_conversations().items) == 2
    assert store.get_conversation(full.id).tags == ("x",)
    assert len(store.get_messages(full.id)) == len(store.tail_messages(full.id, 5)) == 2
    assert len(store.list_runs(full.id)) == 1
    assert _warnings(caplog) == []
    assert damaged_values_read() == before


# column -> (SQLite text that does not parse, PostgreSQL JSON of the wrong shape, safe)
BAD_CONVERSATION_VALUES: dict[str, tuple[str, str, Any]] = {
    "context": ("nope", '"nope"', {}),
    "tags": ("[oops", '{"not": "a list"}', ()),
    "tags-of-numbers": ("[1, 2]", "[1, 2]", ()),
}


@pytest.mark.parametrize("case", sorted(BAD_CONVERSATION_VALUES))
def test_conversation_with_damaged_json_is_listed_with_defaults(
    store: ConversationStore, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    """Guards against one conversation whose context or tags cannot be read vanishing
    from the sidebar (and so from every command that finds it there): it is listed and
    read with ``{}``/``()`` in place of the bad value, its other fields intact, and the
    warning names the conversation id but not its title or the value."""
    column = case.split("-")[0]
    good_old = store.create_conversation(title="older")
    damaged = store.create_conversation(
        title=f"title with {SECRET}", context={"keep": 1}, tags=["keep"], mode="batch"
    )
    store.append_message(damaged.id, "user", "still readable")
    good_new = store.create_conversation(title="newer")
    sqlite_value, postgres_value, safe = BAD_CONVERSATION_VALUES[case]
    if _is_pg(store):
        sql = f"UPDATE conversations SET {column} = CAST(:v AS jsonb) WHERE id = :id"
        value = postgres_value
    else:
        sql = f"UPDATE conversations SET {column} = :v WHERE id = :id"
        value = sqlite_value
    _damage(store, sql, v=value, id=damaged.id)
    caplog.set_level(logging.WARNING, logger="threadkeep.integrity")

    expected = [good_new.id, damaged.id, good_old.id]
    assert [c.id for c in store.list_conversations().items] == expected
    assert [c.id for c in store.list_conversations(pinned_first=True).items] == expected
    read = store.get_conversation(damaged.id)
    assert getattr(read, column) == safe
    other = "tags" if column == "context" else "context"
    assert getattr(read, other) == getattr(damaged, other)
    assert (read.title, read.mode, read.message_count) == (damaged.title, "batch", 1)
    assert [m.content for m in store.get_messages(damaged.id)] == ["still readable"]
    _assert_logged_without_content(caplog, damaged.id, column, value)


def test_paging_over_damaged_conversations_sees_every_one(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against keyset paging over damaged rows skipping, repeating or stalling:
    paging one by one returns every conversation once, damaged ones included, with one
    warning per damaged row read."""
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
        assert seen == [c.id for c in reversed(made)]
        assert len(_warnings(caplog)) == 3


def test_conversation_status_outside_its_set_reads_as_doctor_repairs_it(
    store: ConversationStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against an unknown conversation status leaking out (a UI that switches on
    it) or hiding the row from a direct read: it reads as ``active``, or ``trash`` when
    the row has a trash date, as doctor's repair would set it."""
    plain = store.create_conversation(title="plain")
    trashed = store.create_conversation(title="trashed")
    at = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    with store.database.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE conversations SET status = 'lost' WHERE id IN (:a, :b)"),
            {"a": plain.id, "b": trashed.id},
        )
    stamp = at.isoformat(sep=" ", timespec="microseconds") if not _is_pg(store) else at
    _damage(
        store, "UPDATE conversations SET trashed_at = :t WHERE id = :id", t=stamp, id=trashed.id
    )
    caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
    assert store.get_conversation(plain.id).status == "active"
    read = store.get_conversation(trashed.id)
    assert (read.status, read.trashed_at) == ("trash", at)
    listed = store.list_conversations(status=None).items
    assert sorted((c.id, c.status) for c in listed) == sorted(
        [(plain.id, "active"), (trashed.id, "trash")]
    )
    for key in (plain.id, trashed.id):
        assert any(key in w and "status" in w for w in _warnings(caplog))
    assert all("lost" not in w for w in _warnings(caplog))


def test_run_with_a_status_outside_its_set_reads_as_interrupted(
    store: ConversationStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against a run with an unknown status being dropped from the run list: it
    reads as ``interrupted``, as doctor's repair sets it."""
    cid = _three_messages(store)
    run = store.start_run(cid, provider="echo")
    _damage(store, "UPDATE runs SET status = 'exploded' WHERE id = :id", id=run.id)
    caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
    [read] = store.list_runs(cid)
    assert (read.id, read.status) == (run.id, "interrupted")
    assert store.get_run(run.id).status == "interrupted"
    _assert_logged_without_content(caplog, run.id, "status", "exploded")


def _messages_dates(store: ConversationStore, cid: str) -> list[tuple[dt.datetime, dt.datetime]]:
    return [(m.created_at, m.updated_at) for m in store.get_messages(cid)]


def test_unreadable_datetimes_on_sqlite_fall_back_to_the_rows_other_timestamp(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against a datetime that does not parse (SQLite keeps them as text) failing
    a read: it reads as the row's other timestamp when that one reads, else as
    1970-01-01 UTC; one without a time zone is read as UTC. The row is kept and logged
    once per read."""
    with open_store(sqlite_url) as store:
        cid = _three_messages(store)
        [(_, updated_1), _, (created_3, _)] = _messages_dates(store, cid)
        where = "WHERE conversation_id = :c AND seq = :s"
        _damage(store, f"UPDATE messages SET created_at = 'yesterday' {where}", c=cid, s=1)
        _damage(
            store, f"UPDATE messages SET created_at = 'x', updated_at = 'y' {where}", c=cid, s=2
        )
        naive = "2024-05-01 10:00:00"
        _damage(store, f"UPDATE messages SET created_at = :v {where}", v=naive, c=cid, s=3)
        _damage(store, "UPDATE conversations SET created_at = 'once' WHERE id = :c", c=cid)
        caplog.set_level(logging.WARNING, logger="threadkeep.integrity")

        dates = _messages_dates(store, cid)
        assert dates[0] == (updated_1, updated_1)
        assert dates[1] == (EPOCH, EPOCH)
        assert dates[2][0] == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC) != created_3
        assert [m.seq for m in store.tail_messages(cid, 3)] == [1, 2, 3]
        conversation = store.get_conversation(cid)
        assert conversation.created_at == conversation.updated_at
        assert [c.id for c in store.list_conversations().items] == [cid]
        warnings = _warnings(caplog)
        assert len(warnings) == 3 + 3 + 1 + 1  # per row read, never per column
        assert any("created_at" in w and f"{cid}/1" in w for w in warnings)
        assert any("without a time zone" in w and f"{cid}/3" in w for w in warnings)


# JSON that both engines store (PostgreSQL validates json/jsonb on write and accepts
# these) but that Python's json cannot read: nesting past the recursion limit, and an
# integer past the 4,300-digit conversion limit.
UNREADABLE_JSON = {
    "deep": "[" * 3000 + "]" * 3000,
    "huge-int": '{"n": ' + "1" * 5000 + "}",
}


def _store_json(store: ConversationStore, table: str, column: str, text: str, key: str) -> None:
    kind = "jsonb" if column == "context" else "json"
    value = f"CAST(:v AS {kind})" if _is_pg(store) else ":v"
    where = "conversation_id = :k AND seq = 2" if table == "messages" else "id = :k"
    _damage(store, f"UPDATE {table} SET {column} = {value} WHERE {where}", v=text, k=key)


@pytest.mark.parametrize("value", sorted(UNREADABLE_JSON))
def test_json_python_cannot_read_never_fails_a_read(
    store: ConversationStore, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    """Guards against a stored JSON value that the database accepts but Python cannot
    parse (PostgreSQL holds it even though it validates JSON) failing a whole read with
    RecursionError or ValueError: the value reads as its safe default, like unparseable
    text, in message pages and tails, listings and run lists."""
    caplog.set_level(logging.WARNING, logger="threadkeep.integrity")
    text = UNREADABLE_JSON[value]
    cid = _three_messages(store)
    _store_json(store, "messages", "metadata", text, cid)
    _assert_all_three_read(store, cid)
    assert store.get_messages(cid)[1].metadata is None

    run = store.start_run(cid, provider="echo")
    kept = store.start_run(cid, provider="echo")
    _store_json(store, "runs", "usage", text, run.id)
    assert [(r.id, r.usage) for r in store.list_runs(cid)] == [(run.id, None), (kept.id, None)]

    other = store.create_conversation(title="still listed")
    _store_json(store, "conversations", "context", text, cid)
    assert [(c.id, c.context) for c in store.list_conversations().items] == [
        (other.id, {}),
        (cid, {}),
    ]
    assert [m.seq for m in store.get_messages(cid)] == [1, 2, 3]
    warnings = _warnings(caplog)
    for key in (f"{cid}/2", run.id, cid):
        assert any(key in w for w in warnings), (key, warnings)
    assert all(SECRET not in w and text[:40] not in w for w in warnings)
