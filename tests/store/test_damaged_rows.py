"""Contract: a conversation with damaged values stays usable through the whole store API
(SPEC S2.7) — found, listed, read, searched, exported and deleted — with each damaged
value read as its safe default and logged, on both engines.

The damage is what a bad manual edit or a torn write leaves, done with raw SQL behind
the store's back: on SQLite, which keeps JSON as text, a context of ``[1,2``, tags of
``not json`` and message metadata cut off mid-string; on PostgreSQL, which validates
JSON on write, a context and tags of the wrong shape and metadata nested deeper than
Python's parser goes.
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import sqlalchemy as sa

from threadkeep import ConversationStore, NotFound, Settings, open_store
from threadkeep.transfer.exporter import export_conversations

SECRET = "sk-live-damaged-row-secret"  # noqa: S105 - a fake secret that must stay out of logs
DEEP = "[" * 3000 + "]" * 3000  # valid JSON PostgreSQL accepts; Python's json cannot read it


def _sql(store: ConversationStore, sql: str, **params: Any) -> None:
    with store.database.engine.begin() as conn:
        assert conn.execute(sa.text(sql), params).rowcount == 1


def _damaged_conversation(
    store: ConversationStore, raw: ConversationStore | None = None
) -> tuple[str, str]:
    """A healthy conversation and a damaged one (context, tags, metadata of seq 2).

    ``raw`` is the sync store under ``store`` (for the raw SQL), when ``store`` is the
    async facade.
    """
    sql_store = store if raw is None else raw
    healthy = store.create_conversation(title="healthy notes")
    store.append_message(healthy.id, "user", "a budget line that is fine")
    damaged = store.create_conversation(
        title="damaged budget plan", context={"workspace": "/w"}, tags=["work"]
    )
    store.append_message(damaged.id, "user", "alpha budget", metadata={"n": 1})
    store.append_message(damaged.id, "assistant", "bravo budget", metadata={"key": SECRET})
    store.append_message(damaged.id, "user", "charlie")
    cid = damaged.id
    if sql_store.database.dialect == "postgresql":
        context, tags, metadata = "[1, 2]", '"work"', DEEP
        cast = "CAST(:v AS {})"
    else:
        context, tags, metadata = "[1,2", "not json", '{"key": "' + SECRET
        cast = ":v"
    update = "UPDATE conversations SET {} = " + cast + " WHERE id = :c"
    _sql(sql_store, update.format("context", "jsonb"), v=context, c=cid)
    _sql(sql_store, update.format("tags", "jsonb"), v=tags, c=cid)
    _sql(
        sql_store,
        "UPDATE messages SET metadata = "
        + cast.format("json")
        + " WHERE conversation_id = :c AND seq = 2",
        v=metadata,
        c=cid,
    )
    return healthy.id, cid


def _integrity_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = [
        r.getMessage()
        for r in caplog.records
        if r.name == "threadkeep.integrity" and r.levelno == logging.WARNING
    ]
    assert all(SECRET not in w for w in found), found
    return found


@pytest.fixture
def _watch_integrity(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="threadkeep.integrity")


@pytest.mark.usefixtures("_watch_integrity")
def test_every_read_sees_the_conversation_with_safe_values(
    any_store: ConversationStore, store: ConversationStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against the QA finding: one bad JSON value made a conversation vanish from
    ``ls`` while ``show`` said not found and search still hit it. Now get, list, pages,
    tails and search all see it, with ``{}``/``()``/``None`` in place of the bad values
    and every other field and message intact, and each read logs the row."""
    healthy, cid = _damaged_conversation(any_store, store)

    conversation = any_store.get_conversation(cid)
    assert (conversation.context, conversation.tags) == ({}, ())
    assert (conversation.title, conversation.message_count) == ("damaged budget plan", 3)
    listed = any_store.list_conversations().items
    assert [c.id for c in listed] == [cid, healthy]
    assert [c.id for c in any_store.list_conversations(pinned_first=True).items] == [cid, healthy]
    assert listed[0] == conversation

    messages = any_store.get_messages(cid)
    assert [(m.seq, m.content, m.metadata) for m in messages] == [
        (1, "alpha budget", {"n": 1}),
        (2, "bravo budget", None),
        (3, "charlie", None),
    ]
    assert any_store.tail_messages(cid, 2) == messages[1:]
    assert any_store.get_messages(cid, after_seq=1, limit=1) == messages[1:2]

    hits = any_store.search("budget").items
    assert {hit.conversation_id for hit in hits} == {cid, healthy}
    assert {hit.seq for hit in hits if hit.conversation_id == cid} >= {1, 2}
    assert any_store.get_conversation(hits[0].conversation_id).id in (cid, healthy)

    warnings = _integrity_warnings(caplog)
    assert any(cid in w and "context" in w and "tags" in w for w in warnings), warnings
    assert any(f"{cid}/2" in w and "metadata" in w for w in warnings), warnings


@pytest.mark.parametrize("audit_log", [False, True])
def test_a_conversation_with_damaged_values_can_be_deleted(db_url: str, audit_log: bool) -> None:
    """Guards against a damaged conversation being impossible to delete (``rm`` answered
    not found): it is deleted with its messages, the audit entry (which reads the title
    first) names it, and it is gone afterwards."""
    with open_store(db_url, settings=Settings.load(audit_log=audit_log)) as store:
        healthy, cid = _damaged_conversation(store)
        store.delete_conversation(cid)
        with pytest.raises(NotFound):
            store.get_conversation(cid)
        with pytest.raises(NotFound):
            store.delete_conversation(cid)
        assert [c.id for c in store.list_conversations().items] == [healthy]
        assert [h.conversation_id for h in store.search("bravo").items] == []
        if audit_log:
            [entry] = store.audit_entries(action="delete").items
            assert (entry.conversation_id, entry.detail) == (cid, {"title": "damaged budget plan"})


def _export(store: ConversationStore, **options: Any) -> tuple[list[dict[str, Any]], Any]:
    out = io.BytesIO()
    report = export_conversations(store, out, format="jsonl", **options)
    return [json.loads(line) for line in out.getvalue().splitlines()], report


def _messages_of(records: list[dict[str, Any]], conversation_id: str) -> list[dict[str, Any]]:
    """The message lines that follow the conversation's line (JSONL nests by order)."""
    found: list[dict[str, Any]] = []
    current = None
    for record in records:
        if record["type"] == "conversation":
            current = record["id"]
        elif record["type"] == "message" and current == conversation_id:
            found.append(record)
    return found


@pytest.mark.usefixtures("_watch_integrity")
def test_export_keeps_the_conversation_and_counts_the_defaulted_values(
    store: ConversationStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against an export that silently left a damaged conversation (and a
    message with damaged metadata) out while exiting 0: everything is exported, with the
    safe values the store reads, the report counts the three damaged values, and the
    rows are named on the integrity logger. A healthy export counts none."""
    healthy, cid = _damaged_conversation(store)

    records, report = _export(store)
    conversations = {r["id"]: r for r in records if r["type"] == "conversation"}
    assert set(conversations) == {cid, healthy}
    assert (conversations[cid]["context"], conversations[cid]["tags"]) == ({}, [])
    messages = _messages_of(records, cid)
    assert [(m["seq"], m["metadata"]) for m in messages] == [(1, {"n": 1}), (2, None), (3, None)]
    assert (report.conversations, report.messages) == (2, 4)
    assert report.damaged_values == 3  # context, tags, metadata: each counted once
    assert report.to_dict()["damaged_values"] == 3
    warnings = _integrity_warnings(caplog)
    assert any(cid in w for w in warnings) and any(f"{cid}/2" in w for w in warnings)

    one, one_report = _export(store, conversation_ids=[cid])
    assert [r["id"] for r in one if r["type"] == "conversation"] == [cid]
    assert one_report.damaged_values == 3

    _, clean = _export(store, conversation_ids=[healthy])
    assert clean.damaged_values == 0


@pytest.mark.usefixtures("_watch_integrity")
def test_listing_by_tag_skips_over_damaged_tags(
    store: ConversationStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Guards against a tag filter that parses every row's tags in SQL: one value that
    is not JSON failed the whole listing (SQLite's json_each raised "malformed JSON").
    The damaged row simply has no tags; the others are found."""
    healthy, cid = _damaged_conversation(store)
    tagged = store.create_conversation(title="tagged", tags=["work"])
    found = [c.id for c in store.list_conversations(tag="work").items]
    assert found == [tagged.id]
    assert cid not in found and healthy not in found
