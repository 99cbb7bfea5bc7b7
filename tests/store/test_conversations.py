"""Contract: creating, reading, changing, archiving, deleting and forking conversations.

Every test runs four times through ``any_store``: SQLite and PostgreSQL, each through the
sync store and the async facade (SPEC S3.1).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from tests.store.state import contents, seqs, snapshot
from threadkeep import (
    Conflict,
    ConversationStore,
    ForkedFrom,
    InvalidInput,
    MessageDraft,
    NotFound,
)
from threadkeep.db.schema import messages as messages_table
from threadkeep.db.schema import runs as runs_table

# ---------------------------------------------------------------------------- create


def test_create_with_given_id(any_store: ConversationStore) -> None:
    """A caller's UUID is kept, and the new conversation starts empty and active."""
    given = str(uuid.uuid4())
    created = any_store.create_conversation(
        id=given, title="Plan", mode="batch", context={"root": "/srv"}, tags=["a", "b"]
    )
    assert created.id == given
    assert created.owner == any_store.owner
    assert (created.title, created.mode, created.context) == ("Plan", "batch", {"root": "/srv"})
    assert created.tags == ("a", "b")
    assert (created.status, created.pinned) == ("active", False)
    assert (created.message_count, created.last_seq, created.token_count) == (0, 0, 0)
    assert created.provider is None and created.model is None and created.forked_from is None
    assert created.created_at == created.updated_at
    assert created.created_at.tzinfo is not None
    assert created.created_at.utcoffset() == dt.timedelta(0)
    assert any_store.get_conversation(given) == created


def test_create_generates_time_ordered_uuid7(any_store: ConversationStore) -> None:
    """Without an id the store makes a UUIDv7, and later ids sort after earlier ones."""
    first = any_store.create_conversation()
    second = any_store.create_conversation()
    for made in (first, second):
        parsed = uuid.UUID(made.id)
        assert parsed.version == 7
        assert str(parsed) == made.id  # canonical lowercase form
    assert first.id < second.id
    assert any_store.get_conversation(first.id).id == first.id


def test_create_normalises_an_uppercase_uuid(any_store: ConversationStore) -> None:
    """An id is a UUID, not a string: upper-case input is stored and found in canonical form."""
    given = str(uuid.uuid4())
    created = any_store.create_conversation(id=given.upper())
    assert created.id == given
    assert any_store.get_conversation(given.upper()).id == given


def test_create_rejects_non_uuid_id(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """A conversation id that is not a UUID is InvalidInput naming the field; nothing is made."""
    for bad in ["chat-1", "", "0192f0c4-8a5e-7cc1-9a3b", "not a uuid at all!!", "x" * 36]:
        with subtests.test(bad=bad), pytest.raises(InvalidInput, match="conversation id"):
            any_store.create_conversation(id=bad)
    assert len(any_store.list_conversations(status="all")) == 0


def test_create_duplicate_id_is_conflict(any_store: ConversationStore) -> None:
    """Creating an id that exists is Conflict, and the existing conversation is untouched."""
    existing = any_store.create_conversation(title="first")
    with pytest.raises(Conflict, match=existing.id):
        any_store.create_conversation(id=existing.id, title="second")
    assert any_store.get_conversation(existing.id) == existing
    assert len(any_store.list_conversations(status="all")) == 1


# ---------------------------------------------------------------------------- get


def test_get_unknown_id_is_not_found(any_store: ConversationStore) -> None:
    """A well-formed id that does not exist is NotFound naming the id (never None)."""
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound, match=missing):
        any_store.get_conversation(missing)


def test_get_non_uuid_is_invalid_input(any_store: ConversationStore) -> None:
    """A malformed id is InvalidInput, distinguishable from NotFound."""
    with pytest.raises(InvalidInput, match="conversation id must be a UUID"):
        any_store.get_conversation("conversation-42")


# ---------------------------------------------------------------------------- get_or_create


def test_get_or_create_returns_existing_unchanged(any_store: ConversationStore) -> None:
    """An existing conversation comes back as it is; the fields passed are ignored."""
    existing = any_store.create_conversation(title="keep me", mode="chat", tags=["x"])
    any_store.append_message(existing.id, "user", "hello")
    before = any_store.get_conversation(existing.id)
    got = any_store.get_or_create_conversation(existing.id, title="other", mode="batch", tags=[])
    assert got == before
    assert any_store.get_conversation(existing.id) == before


def test_get_or_create_creates_with_fields(any_store: ConversationStore) -> None:
    """A missing id is created with the caller's id and the given fields, once."""
    given = str(uuid.uuid4())
    created = any_store.get_or_create_conversation(
        given, title="new", mode="interactive", context={"k": 1}, tags=["t"], pinned=True
    )
    assert created.id == given
    assert (created.title, created.mode, created.context) == ("new", "interactive", {"k": 1})
    assert created.tags == ("t",) and created.pinned is True
    again = any_store.get_or_create_conversation(given, title="ignored")
    assert again == created
    assert len(any_store.list_conversations(status="all")) == 1


def test_get_or_create_rejects_non_uuid(any_store: ConversationStore) -> None:
    """get_or_create checks the id like create does: a non-UUID is InvalidInput."""
    with pytest.raises(InvalidInput, match="conversation id"):
        any_store.get_or_create_conversation("session-1")
    assert len(any_store.list_conversations(status="all")) == 0


# ---------------------------------------------------------------------------- update


def test_update_title_set_and_clear(any_store: ConversationStore) -> None:
    """A title can be set and cleared (None); both are stored, and both move updated_at."""
    conv = any_store.create_conversation()
    titled = any_store.update_conversation(conv.id, title="Trip to Lisbon")
    assert titled.title == "Trip to Lisbon"
    assert titled.updated_at > conv.updated_at
    assert any_store.get_conversation(conv.id) == titled
    cleared = any_store.update_conversation(conv.id, title=None)
    assert cleared.title is None
    assert cleared.updated_at > titled.updated_at
    assert any_store.get_conversation(conv.id) == cleared


def test_update_context_replace(any_store: ConversationStore) -> None:
    """``context`` replaces the whole object (no key of the old one survives)."""
    conv = any_store.create_conversation(context={"a": 1, "b": {"c": 2}})
    updated = any_store.update_conversation(conv.id, context={"z": [1, 2]})
    assert updated.context == {"z": [1, 2]}
    assert any_store.get_conversation(conv.id).context == {"z": [1, 2]}


def test_update_context_merge_rfc7396(any_store: ConversationStore) -> None:
    """``context_merge`` is an RFC 7396 merge patch: nested merge, None deletes a key."""
    conv = any_store.create_conversation(
        context={"a": 1, "b": {"c": 2, "d": 3}, "keep": "yes", "list": [1, 2]}
    )
    patch = {"a": None, "b": {"c": None, "e": 4}, "f": 5, "list": [3]}
    updated = any_store.update_conversation(conv.id, context_merge=patch)
    expected = {"b": {"d": 3, "e": 4}, "keep": "yes", "f": 5, "list": [3]}
    assert updated.context == expected
    assert any_store.get_conversation(conv.id).context == expected
    # Deleting a key that is not there is not an error.
    again = any_store.update_conversation(conv.id, context_merge={"absent": None})
    assert again.context == expected


def test_update_context_and_merge_together_is_invalid(any_store: ConversationStore) -> None:
    """Passing both context and context_merge is InvalidInput naming both; nothing changes."""
    conv = any_store.create_conversation(context={"a": 1})
    with pytest.raises(InvalidInput, match=r"context.*context_merge"):
        any_store.update_conversation(conv.id, context={"b": 2}, context_merge={"c": 3})
    assert any_store.get_conversation(conv.id) == conv


def test_update_pinned_tags_mode(any_store: ConversationStore) -> None:
    """Pinned, tags (deduplicated, order kept) and mode are stored."""
    conv = any_store.create_conversation()
    updated = any_store.update_conversation(
        conv.id, pinned=True, tags=["work", "draft", "work"], mode="batch"
    )
    assert updated.pinned is True
    assert updated.tags == ("work", "draft")
    assert updated.mode == "batch"
    assert any_store.get_conversation(conv.id) == updated
    unpinned = any_store.update_conversation(conv.id, pinned=False, tags=[])
    assert unpinned.pinned is False and unpinned.tags == ()
    assert any_store.get_conversation(conv.id) == unpinned


def test_only_title_moves_updated_at(any_store: ConversationStore) -> None:
    """Pinning, tagging, mode and context changes keep updated_at (the sidebar order)."""
    conv = any_store.create_conversation(title="same")
    for change in (
        {"pinned": True},
        {"tags": ["x"]},
        {"mode": "batch"},
        {"context": {"a": 1}},
        {"context_merge": {"b": 2}},
        {"title": "same"},  # not a change of title
    ):
        changed = any_store.update_conversation(conv.id, **change)
        assert changed.updated_at == conv.updated_at, change
    assert any_store.get_conversation(conv.id).updated_at == conv.updated_at
    renamed = any_store.update_conversation(conv.id, title="different")
    assert renamed.updated_at > conv.updated_at
    assert any_store.get_conversation(conv.id).updated_at == renamed.updated_at


def test_update_with_nothing_changes_nothing(any_store: ConversationStore) -> None:
    """An update with no fields returns the conversation as it is."""
    conv = any_store.create_conversation(title="t")
    assert any_store.update_conversation(conv.id) == conv
    assert any_store.get_conversation(conv.id) == conv


def test_update_rejects_bad_values(any_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """Bad field values are InvalidInput naming the field; the conversation is unchanged."""
    conv = any_store.create_conversation(title="t", tags=["keep"])
    cases: list[tuple[dict[str, object], str]] = [
        ({"tags": "work"}, "tags"),
        ({"tags": [""]}, "tag"),
        ({"tags": ["x" * 65]}, "tag"),
        ({"tags": [str(i) for i in range(51)]}, "tags"),
        ({"pinned": "yes"}, "pinned"),
        ({"mode": ""}, "mode"),
        ({"title": 42}, "title"),
        ({"title": "t" * 1001}, "title"),
        ({"context": ["not", "an", "object"]}, "context"),
    ]
    for change, field in cases:
        with subtests.test(field=field, change=repr(change)[:40]):
            with pytest.raises(InvalidInput, match=field):
                any_store.update_conversation(conv.id, **change)  # type: ignore[arg-type]
            assert any_store.get_conversation(conv.id) == conv


def test_update_unknown_is_not_found(any_store: ConversationStore) -> None:
    """Updating a conversation that does not exist is NotFound."""
    with pytest.raises(NotFound):
        any_store.update_conversation(str(uuid.uuid4()), title="x")


# ---------------------------------------------------------------------------- archive


def test_archive_and_unarchive(any_store: ConversationStore) -> None:
    """Archive is a soft delete: the conversation and its messages stay, listed as archived."""
    conv = any_store.create_conversation()
    any_store.append_message(conv.id, "user", "kept")
    before = any_store.get_conversation(conv.id)
    archived = any_store.archive_conversation(conv.id)
    assert archived.status == "archived"
    assert archived.updated_at == before.updated_at
    assert any_store.get_conversation(conv.id).status == "archived"
    assert contents(any_store, conv.id) == ["kept"]
    assert [c.id for c in any_store.list_conversations()] == []
    assert [c.id for c in any_store.list_conversations(status="archived")] == [conv.id]
    # Archiving twice is harmless.
    assert any_store.archive_conversation(conv.id).status == "archived"
    restored = any_store.unarchive_conversation(conv.id)
    assert restored.status == "active"
    assert [c.id for c in any_store.list_conversations()] == [conv.id]
    assert any_store.get_conversation(conv.id) == before


def test_archive_unknown_is_not_found(any_store: ConversationStore) -> None:
    """Archiving or unarchiving a missing conversation is NotFound."""
    with pytest.raises(NotFound):
        any_store.archive_conversation(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        any_store.unarchive_conversation(str(uuid.uuid4()))


# ---------------------------------------------------------------------------- delete


def _rows(store: ConversationStore, table: sa.Table, conversation_id: str) -> int:
    with store.database.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(table.c.conversation_id == conversation_id)
        return int(conn.execute(query).scalar_one())


def test_delete_cascades(any_store: ConversationStore, store: ConversationStore) -> None:
    """Delete is hard: the conversation, its message rows and its run rows are gone."""
    conv = any_store.create_conversation()
    other = any_store.create_conversation()
    run = any_store.start_run(conv.id, provider="echo")
    any_store.append_messages(
        conv.id, [MessageDraft("user", "a"), MessageDraft("assistant", "b", run_id=run.id)]
    )
    any_store.append_message(other.id, "user", "survives")
    assert _rows(store, messages_table, conv.id) == 2
    assert _rows(store, runs_table, conv.id) == 1

    any_store.delete_conversation(conv.id)

    assert _rows(store, messages_table, conv.id) == 0
    assert _rows(store, runs_table, conv.id) == 0
    with pytest.raises(NotFound):
        any_store.get_conversation(conv.id)
    with pytest.raises(NotFound):
        any_store.get_messages(conv.id)
    with pytest.raises(NotFound):
        any_store.get_run(run.id)
    with pytest.raises(NotFound):
        any_store.delete_conversation(conv.id)
    assert contents(any_store, other.id) == ["survives"]
    assert [c.id for c in any_store.list_conversations(status="all")] == [other.id]


def test_deleted_id_can_be_reused(any_store: ConversationStore) -> None:
    """After a hard delete the id is free again (nothing of the old one lingers)."""
    conv = any_store.create_conversation(title="old")
    any_store.append_message(conv.id, "user", "old message")
    any_store.delete_conversation(conv.id)
    again = any_store.create_conversation(id=conv.id, title="new")
    assert again.message_count == 0
    assert any_store.get_messages(conv.id) == []
    assert any_store.append_message(conv.id, "user", "fresh").seq == 1


# ---------------------------------------------------------------------------- fork


def _conversation_with_messages(store: ConversationStore, n: int) -> str:
    conv = store.create_conversation(title="source", mode="batch", context={"c": 1}, tags=["t"])
    store.append_messages(
        conv.id,
        [
            MessageDraft(
                "user" if i % 2 else "assistant",
                f"message {i}",
                tokens=i,
                metadata={"i": i},
                id=f"msg_{i}",
            )
            for i in range(1, n + 1)
        ],
    )
    return conv.id


def test_fork_up_to_seq(any_store: ConversationStore) -> None:
    """A fork copies messages 1..up_to_seq into a new conversation recording forked_from."""
    source_id = _conversation_with_messages(any_store, 5)
    source_before = snapshot(any_store, source_id)

    fork = any_store.fork_conversation(source_id, up_to_seq=3)

    assert fork.id != source_id
    assert uuid.UUID(fork.id).version == 7
    assert fork.forked_from == ForkedFrom(conversation_id=source_id, seq=3)
    assert (fork.message_count, fork.last_seq, fork.token_count) == (3, 3, 1 + 2 + 3)
    assert fork.preview == "message 3"
    assert (fork.title, fork.mode, fork.context, fork.tags) == ("source", "batch", {"c": 1}, ("t",))
    assert fork.status == "active"
    stored = any_store.get_conversation(fork.id)
    assert stored.forked_from == fork.forked_from
    assert (stored.message_count, stored.last_seq, stored.token_count) == (3, 3, 6)
    copied = any_store.get_messages(fork.id)
    original = source_before.messages[:3]
    assert [(m.seq, m.id, m.role, m.content, m.metadata, m.tokens) for m in copied] == [
        (m.seq, m.id, m.role, m.content, m.metadata, m.tokens) for m in original
    ]
    assert {m.conversation_id for m in copied} == {fork.id}
    # The source is untouched, and both go on independently.
    assert snapshot(any_store, source_id) == source_before
    assert any_store.append_message(fork.id, "user", "branch").seq == 4
    assert seqs(any_store, source_id) == [1, 2, 3, 4, 5]


def test_fork_defaults_to_all_messages(any_store: ConversationStore) -> None:
    """Without up_to_seq a fork copies every message; a title can be given."""
    source_id = _conversation_with_messages(any_store, 4)
    fork = any_store.fork_conversation(source_id, title="branch")
    assert fork.title == "branch"
    assert fork.forked_from == ForkedFrom(conversation_id=source_id, seq=4)
    assert contents(any_store, fork.id) == contents(any_store, source_id)
    assert any_store.get_conversation(fork.id).message_count == 4


def test_fork_past_last_seq_is_invalid(any_store: ConversationStore) -> None:
    """Forking past the last message is InvalidInput naming up_to_seq; nothing is created."""
    source_id = _conversation_with_messages(any_store, 2)
    before = snapshot(any_store, source_id)
    with pytest.raises(InvalidInput, match="up_to_seq"):
        any_store.fork_conversation(source_id, up_to_seq=3)
    assert [c.id for c in any_store.list_conversations(status="all")] == [source_id]
    assert snapshot(any_store, source_id) == before


def test_fork_unknown_is_not_found(any_store: ConversationStore) -> None:
    """Forking a conversation that does not exist is NotFound."""
    with pytest.raises(NotFound):
        any_store.fork_conversation(str(uuid.uuid4()))
