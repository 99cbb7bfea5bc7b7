"""Finding damaged values in batches and quarantining them (SPEC S2.7), on both engines.

Values are damaged behind the store's back with raw SQL through its own engine. What
each engine can hold differs: SQLite keeps JSON as text, so anything goes (text that is
not JSON, bytes that are not UTF-8, NaN); PostgreSQL validates JSON on write, yet holds
documents Python's ``json`` cannot read — nesting past the recursion limit and integers
over 4,300 digits — and JSON of the wrong shape. Fields outside their sets damage rows on
both.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from threadkeep import ConversationStore, InvalidInput, open_store
from threadkeep.db.quarantine import DamagedValue, json_problem
from threadkeep.events import Event

SECRET = "sk-live-quarantine-secret"  # noqa: S105 - a fake secret that must stay out of reports
BAD = "sk-live-badvalue"  # fits the 16 characters of a status or role column
DEEP = "[" * 3000 + "]" * 3000  # valid JSON; Python's json gives up past ~1,000 levels
HUGE_INT = "1" * 5000  # valid JSON; Python refuses int parsing past 4,300 digits


def _sql(store: ConversationStore, sql: str, **params: Any) -> Any:
    with store.database.engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


def _is_pg(store: ConversationStore) -> bool:
    return store.database.dialect == "postgresql"


def _set_json(store: ConversationStore, table: str, column: str, text: str, where: str) -> None:
    """Store ``text`` verbatim as the JSON of ``column`` (jsonb/json on PostgreSQL)."""
    if _is_pg(store):
        kind = "jsonb" if column in ("context", "tags") else "json"
        value = f"CAST(:v AS {kind})"
    else:
        value = ":v"
    result = _sql(store, f"UPDATE {table} SET {column} = {value} WHERE {where}", v=text)
    assert result.rowcount == 1


def _unreadable(store: ConversationStore) -> str:
    """JSON text no reader can use, whichever engine holds it."""
    return DEEP if _is_pg(store) else "{not json"


def _walk(store: ConversationStore, table: str, batch_size: int = 500) -> list[DamagedValue]:
    found: list[DamagedValue] = []
    cursor: str | None = None
    for _ in range(10_000):
        page = store.find_damaged_values(table, cursor=cursor, batch_size=batch_size)
        found.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return found
    raise AssertionError("the walk did not end")


def _conversation_with_messages(store: ConversationStore, n: int = 3) -> str:
    conversation = store.create_conversation(title="quarantine me")
    for i in range(1, n + 1):
        store.append_message(
            conversation.id, "user", f"message {i} {SECRET}", metadata={"i": i, "key": SECRET}
        )
    return conversation.id


def test_scan_walks_every_batch_and_names_each_damaged_value_once(
    store: ConversationStore,
) -> None:
    """Guards against a batch boundary hiding or repeating a damaged row: damage spread
    over many small batches is found exactly once each, and the walk ends."""
    cid = _conversation_with_messages(store, 23)
    damaged_seqs = (1, 7, 8, 23)
    for seq in damaged_seqs:
        _set_json(store, "messages", "metadata", _unreadable(store), f"seq = {seq}")
    found = _walk(store, "messages", batch_size=4)
    assert [v.row_key for v in found] == [f"{cid}/{seq}" for seq in damaged_seqs]
    assert {v.column for v in found} == {"metadata"}
    assert _walk(store, "conversations", batch_size=1) == []
    assert _walk(store, "runs") == []


def test_every_kind_of_damage_is_found_without_showing_the_value(
    store: ConversationStore,
) -> None:
    """Guards against a damaged value the scan cannot see (each JSON column, each set)
    and against the report leaking the stored value: reasons name the problem only."""
    cid = _conversation_with_messages(store)
    run = store.start_run(cid, provider="echo")
    where_cid = {"c": cid}
    if _is_pg(store):
        context, tags = '"not an object"', '{"not": "a list"}'
    else:
        context, tags = f"{{{SECRET}", "[oops"
    _set_json(store, "conversations", "context", context, f"id = '{cid}'")
    _set_json(store, "conversations", "tags", tags, f"id = '{cid}'")
    _sql(store, "UPDATE conversations SET status = :b, mode = '' WHERE id = :c", b=BAD, **where_cid)
    _set_json(store, "messages", "metadata", _unreadable(store), "seq = 1")
    _sql(store, "UPDATE messages SET role = :b WHERE seq = 2", b=BAD)
    _sql(store, "UPDATE messages SET kind = 'spell', status = 'done' WHERE seq = 3")
    _set_json(store, "runs", "usage", '{"in": ' + HUGE_INT + "}", f"id = '{run.id}'")
    _sql(store, "UPDATE runs SET status = 'exploded' WHERE id = :r", r=run.id)

    found = {
        (v.table, v.row_key, v.column): v.reason
        for t in ("conversations", "messages", "runs")
        for v in _walk(store, t)
    }
    assert set(found) == {
        ("conversations", cid, "context"),
        ("conversations", cid, "tags"),
        ("conversations", cid, "status"),
        ("conversations", cid, "mode"),
        ("messages", f"{cid}/1", "metadata"),
        ("messages", f"{cid}/2", "role"),
        ("messages", f"{cid}/3", "kind"),
        ("messages", f"{cid}/3", "status"),
        ("runs", run.id, "usage"),
        ("runs", run.id, "status"),
    }
    assert found[("runs", run.id, "usage")] == "holds a number too long to read"
    assert (
        found[("messages", f"{cid}/2", "role")]
        == "role is not one of assistant, system, tool, user"
    )
    for reason in found.values():
        for value in (SECRET, BAD, "spell", "done", "exploded"):
            assert value not in reason


def test_quarantine_keeps_the_raw_value_and_makes_the_rows_read_again(
    store: ConversationStore,
) -> None:
    """Guards against repair losing data or leaving the rows unreadable: each raw value
    is kept in the quarantine table with its reason, the column gets its safe value,
    no message is deleted (seqs stay 1..n), and a second scan is clean."""
    cid = _conversation_with_messages(store)
    run = store.start_run(cid, provider="echo")
    raw_metadata = _unreadable(store)
    _set_json(store, "messages", "metadata", raw_metadata, "seq = 2")
    _sql(store, "UPDATE messages SET role = 'wizard', status = 'weird' WHERE seq = 3")
    tags = '{"not": "a list"}' if _is_pg(store) else "[oops"
    _set_json(store, "conversations", "tags", tags, f"id = '{cid}'")
    _sql(store, "UPDATE runs SET status = 'exploded' WHERE id = :r", r=run.id)
    # The readers already read every row, with the values the repair will write.
    assert [m.seq for m in store.get_messages(cid) if m.metadata is None] == [2]
    assert [c.tags for c in store.list_conversations().items] == [()]

    damaged = [v for t in ("conversations", "messages", "runs") for v in _walk(store, t)]
    done = store.quarantine_values(damaged)

    assert [(v.table, v.column, v.replacement) for v in done] == [
        ("conversations", "tags", "[]"),
        ("messages", "metadata", "NULL"),
        ("messages", "role", "'user'"),
        ("messages", "status", "'complete'"),
        ("runs", "status", "'interrupted'"),
    ]
    messages = store.get_messages(cid)
    assert [m.seq for m in messages] == [1, 2, 3]
    assert messages[1].metadata is None and messages[1].content == f"message 2 {SECRET}"
    assert (messages[2].role, messages[2].status) == ("user", "complete")
    [listed] = store.list_conversations().items
    assert listed.tags == () and listed.message_count == 3 and listed.last_seq == 3
    assert store.get_run(run.id).status == "interrupted"
    with store.database.engine.connect() as conn:
        kept = conn.execute(
            sa.text(
                "SELECT table_name, row_key, column_name, raw_value, reason FROM quarantine "
                "ORDER BY id"
            )
        ).all()
    assert [(k[0], k[1], k[2]) for k in kept] == [
        ("conversations", cid, "tags"),
        ("messages", f"{cid}/2", "metadata"),
        ("messages", f"{cid}/3", "role"),
        ("messages", f"{cid}/3", "status"),
        ("runs", run.id, "status"),
    ]
    raws = [k[3] for k in kept]
    assert raws[1] == raw_metadata and raws[2] == "wizard" and raws[4] == "exploded"
    assert all(k[4] for k in kept)
    assert [v for t in ("conversations", "messages", "runs") for v in _walk(store, t)] == []


def test_quarantine_rechecks_and_skips_values_fixed_or_deleted_meanwhile(
    store: ConversationStore,
) -> None:
    """Guards against repair overwriting a value someone fixed after the scan (or
    failing on a row deleted since): only values still damaged are moved."""
    cid = _conversation_with_messages(store)
    _sql(store, "UPDATE messages SET role = 'wizard' WHERE seq IN (1, 2)")
    damaged = _walk(store, "messages")
    assert len(damaged) == 2
    _sql(store, "UPDATE messages SET role = 'assistant' WHERE seq = 1")
    other = store.create_conversation()
    gone = DamagedValue("messages", f"{other.id}/1", "role", "was damaged")
    done = store.quarantine_values([*damaged, gone])
    assert [v.row_key for v in done] == [f"{cid}/2"]
    assert [m.role for m in store.get_messages(cid)] == ["assistant", "user", "user"]


def test_quarantine_publishes_updates_to_the_owner_of_each_row(
    store: ConversationStore,
) -> None:
    """Guards against live views keeping a stale (skipped) row, or an event going to
    the wrong user: each repaired row is announced to its own owner."""
    bob = store.as_owner("bob")
    cid = _conversation_with_messages(bob)
    _sql(store, "UPDATE messages SET kind = 'spell' WHERE seq = 2")
    if _is_pg(store):
        _set_json(store, "conversations", "context", "[1]", f"id = '{cid}'")
    else:
        _set_json(store, "conversations", "context", "nope", f"id = '{cid}'")
    events: list[Event] = []
    store.broker.subscribe(events.append)
    damaged = _walk(store, "conversations") + _walk(store, "messages")
    store.quarantine_values(damaged)
    message_id = bob.get_messages(cid)[1].id
    assert [(e.type, e.owner, e.conversation_id, e.data) for e in events] == [
        ("conversation.updated", "bob", cid, {"fields": ["context"]}),
        ("message.updated", "bob", cid, {"message_id": message_id, "seq": 2}),
    ]
    assert bob.get_conversation(cid).context == {}


def test_a_large_damaged_value_is_fetched_alone_and_found(store: ConversationStore) -> None:
    """Guards against values too big to ride with their batch escaping the check."""
    cid = _conversation_with_messages(store)
    padding = "x" * 70_000
    if _is_pg(store):
        big = "[" * 2000 + f'"{padding}"' + "]" * 2000
    else:
        big = '{"a": "' + padding
    _set_json(store, "messages", "metadata", big, "seq = 2")
    [found] = _walk(store, "messages")
    assert (found.row_key, found.column) == (f"{cid}/2", "metadata")
    [done] = store.quarantine_values([found])
    with store.database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT raw_value FROM quarantine")).scalar() == big
    assert done.replacement == "NULL"


def test_sqlite_text_that_is_not_utf8_is_found_and_repaired(sqlite_url: str) -> None:
    """Guards against bytes that are not UTF-8 (another program's write, a bit flip) in
    a text or JSON column — the driver fails the whole read on them: the scan names
    them instead of crashing, repair keeps them escaped in the quarantine, puts readable
    text in their place, and leaves the search index in step."""
    with open_store(sqlite_url) as store:
        cid = _conversation_with_messages(store)
        _sql(store, "UPDATE conversations SET title = CAST(X'4E6F7465E9' AS TEXT)")
        _sql(store, "UPDATE messages SET content = CAST(X'6275646765749F' AS TEXT) WHERE seq = 1")
        _sql(store, "UPDATE messages SET metadata = CAST(X'7B22A0FF227D' AS TEXT) WHERE seq = 2")
        _sql(store, """UPDATE messages SET metadata = '{"a": NaN}' WHERE seq = 3""")
        found = [v for t in ("conversations", "messages") for v in _walk(store, t)]
        assert [(v.row_key, v.column, v.reason) for v in found] == [
            (cid, "title", "not UTF-8 text"),
            (f"{cid}/1", "content", "not UTF-8 text"),
            (f"{cid}/2", "metadata", "not UTF-8 text"),
            (f"{cid}/3", "metadata", "holds NaN, which is not JSON"),
        ]
        store.quarantine_values(found)
        messages = store.get_messages(cid)
        assert messages[0].content == "budget\ufffd"
        assert [m.metadata for m in messages] == [{"i": 1, "key": SECRET}, None, None]
        assert store.get_conversation(cid).title == "Note\ufffd"
        with store.database.engine.connect() as conn:
            raws = conn.execute(sa.text("SELECT raw_value FROM quarantine ORDER BY id")).scalars()
            assert list(raws) == ["Note\\xe9", "budget\\x9f", '{"\\xa0\\xff"}', '{"a": NaN}']
        assert store.search_index_problems() == []
        assert _walk(store, "conversations") + _walk(store, "messages") == []


def test_maintenance_methods_refuse_what_they_cannot_handle(store: ConversationStore) -> None:
    """Guards against a typo'd table, a forged cursor or a made-up value reaching SQL:
    each is an InvalidInput that says what is allowed."""
    with pytest.raises(InvalidInput, match="conversations, messages, runs"):
        store.find_damaged_values("users")
    with pytest.raises(InvalidInput, match="cursor"):
        store.find_damaged_values("messages", cursor="1; DROP TABLE messages")
    with pytest.raises(InvalidInput, match="batch_size"):
        store.find_damaged_values("messages", batch_size=0)
    with pytest.raises(InvalidInput, match=r"cannot quarantine messages\.id; .* messages: "):
        store.quarantine_values([DamagedValue("messages", "x/1", "id", "made up")])
    with pytest.raises(InvalidInput, match="row key is <conversation id>/<seq>"):
        store.quarantine_values([DamagedValue("messages", "x/y", "content", "made up")])
    with pytest.raises(InvalidInput, match="must be a UUID"):
        store.quarantine_values([DamagedValue("messages", "x/1", "content", "made up")])
    with pytest.raises(InvalidInput, match="must be a UUID"):
        store.quarantine_values([DamagedValue("runs", "1; DROP", "status", "made up")])
    assert store.quarantine_values([]) == []


@pytest.mark.parametrize(
    ("raw", "shape", "reason"),
    [
        (None, "any", None),
        ('{"a": [1, 2]}', "any", None),
        (b'{"a": 1}', "object", None),
        ("[1]", "object", "not a JSON object"),
        ('["a", 2]', "tags", "holds a tag that is not a string"),
        ('{"a": 1}', "tags", "not a JSON list"),
        ("Infinity", "any", "holds Infinity, which is not JSON"),
        (
            "{",
            "any",
            "not valid JSON (Expecting property name enclosed in double quotes at character 1)",
        ),
        (DEEP, "any", "JSON nested too deeply to read"),
        (HUGE_INT, "any", "holds a number too long to read"),
        (b"\xff", "any", "not UTF-8 text"),
    ],
)
def test_json_problem_reasons(raw: bytes | str | None, shape: Any, reason: str | None) -> None:
    """Guards against the scan disagreeing with the readers on what reads: the same
    ``json.loads`` decides, and each reason says why without quoting the value."""
    assert json_problem(raw, shape) == reason
