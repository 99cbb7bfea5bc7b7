"""Contract: appending, reading, changing and removing messages (SPEC S3.2, S1)."""

from __future__ import annotations

import uuid

import pytest

from tests.store.state import contents, seqs, snapshot
from threadkeep import (
    Conflict,
    ConversationStore,
    InvalidInput,
    Message,
    MessageDraft,
    NotFound,
)

# ---------------------------------------------------------------------------- append


def test_append_one(any_store: ConversationStore) -> None:
    """An appended message gets seq 1, a UUIDv7 id, defaults, and reads back identical."""
    conv = any_store.create_conversation()
    message = any_store.append_message(conv.id, "user", "Hello there")
    assert message.seq == 1
    assert message.conversation_id == conv.id
    assert uuid.UUID(message.id).version == 7
    assert (message.role, message.kind, message.status) == ("user", "text", "complete")
    assert (message.metadata, message.tokens, message.run_id) == (None, None, None)
    assert message.created_at == message.updated_at
    assert any_store.get_messages(conv.id) == [message]
    after = any_store.get_conversation(conv.id)
    assert (after.message_count, after.last_seq) == (1, 1)
    assert after.updated_at == message.created_at
    assert after.updated_at > conv.updated_at


def test_append_with_every_field(any_store: ConversationStore) -> None:
    """kind, metadata, tokens, status and run_id are stored as given."""
    conv = any_store.create_conversation()
    run = any_store.start_run(conv.id, provider="echo")
    metadata = {"type": "function_call", "args": {"q": "x"}, "n": [1, 2.5, None, True]}
    message = any_store.append_message(
        conv.id,
        "assistant",
        '{"name": "search"}',
        kind="tool_call",
        metadata=metadata,
        tokens=17,
        run_id=run.id,
        status="streaming",
    )
    (stored,) = any_store.get_messages(conv.id)
    assert stored == message
    assert stored.metadata == metadata
    assert (stored.kind, stored.tokens, stored.run_id, stored.status) == (
        "tool_call",
        17,
        run.id,
        "streaming",
    )
    assert any_store.get_conversation(conv.id).token_count == 17


def test_float_metadata_stays_float(any_store: ConversationStore) -> None:
    """Metadata numbers keep their Python type on every engine (SQLite and jsonb alike).

    A framework's raw item that held ``1e16`` (a float) must not come back as the int
    ``10000000000000000``, nor ``4.503203327913446e16`` as ``45032033279134460``.
    """
    conv = any_store.create_conversation()
    metadata = {"big": 1e16, "odd": 4.503203327913446e16, "small": 1e-7, "one": 1.0, "n": 3}
    any_store.append_message(conv.id, "user", "x", metadata=metadata)
    stored = any_store.get_messages(conv.id)[0].metadata
    assert stored == metadata
    assert {key: type(value) for key, value in stored.items()} == {
        "big": float,
        "odd": float,
        "small": float,
        "one": float,
        "n": int,
    }


def test_append_many_in_order(any_store: ConversationStore) -> None:
    """append_messages writes the batch in order with consecutive seqs, after earlier ones."""
    conv = any_store.create_conversation()
    any_store.append_message(conv.id, "system", "be brief")
    written = any_store.append_messages(
        conv.id,
        [MessageDraft("user", "q1", tokens=3), MessageDraft("assistant", "a1", tokens=4)],
    )
    assert [(m.seq, m.content) for m in written] == [(2, "q1"), (3, "a1")]
    assert any_store.get_messages(conv.id)[1:] == written
    after = any_store.get_conversation(conv.id)
    assert (after.message_count, after.last_seq, after.token_count) == (3, 3, 7)


def test_seqs_are_one_to_n(any_store: ConversationStore) -> None:
    """Seqs are 1..n, gapless, across single and batched appends."""
    conv = any_store.create_conversation()
    for i in range(3):
        any_store.append_message(conv.id, "user", f"single {i}")
    any_store.append_messages(conv.id, [MessageDraft("assistant", f"batch {i}") for i in range(4)])
    any_store.append_message(conv.id, "user", "last")
    assert seqs(any_store, conv.id) == list(range(1, 9))
    assert any_store.get_conversation(conv.id).last_seq == 8


def test_append_to_unknown_is_not_found(any_store: ConversationStore) -> None:
    """Appending to a conversation that does not exist is NotFound (with or without key)."""
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound, match=missing):
        any_store.append_message(missing, "user", "x")
    with pytest.raises(NotFound, match=missing):
        any_store.append_message(missing, "user", "x", idempotency_key="k")


def test_append_messages_needs_drafts(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """An empty or non-list batch is InvalidInput."""
    conv = any_store.create_conversation()
    cases: list[object] = [[], "not a list", MessageDraft("user", "a bare draft")]
    for drafts in cases:
        with subtests.test(drafts=repr(drafts)), pytest.raises(InvalidInput, match="MessageDraft"):
            any_store.append_messages(conv.id, drafts)  # type: ignore[arg-type]
    assert any_store.get_conversation(conv.id) == conv


# ---------------------------------------------------------------------------- idempotency


def test_idempotent_append_returns_first_result(any_store: ConversationStore) -> None:
    """A retry with the same key returns the first message and writes nothing."""
    conv = any_store.create_conversation()
    first = any_store.append_message(conv.id, "user", "original", idempotency_key="req-1")
    before = snapshot(any_store, conv.id)
    retry = any_store.append_message(conv.id, "user", "different body", idempotency_key="req-1")
    assert retry == first
    assert snapshot(any_store, conv.id) == before
    assert before.conversation.message_count == 1
    other = any_store.append_message(conv.id, "user", "second", idempotency_key="req-2")
    assert other.seq == 2


def test_idempotency_key_is_per_conversation(any_store: ConversationStore) -> None:
    """The same key in two conversations writes one message in each."""
    one = any_store.create_conversation()
    two = any_store.create_conversation()
    a = any_store.append_message(one.id, "user", "a", idempotency_key="k")
    b = any_store.append_message(two.id, "user", "b", idempotency_key="k")
    assert a.id != b.id
    assert contents(any_store, one.id) == ["a"]
    assert contents(any_store, two.id) == ["b"]


def test_repeated_key_within_a_batch_is_written_once(any_store: ConversationStore) -> None:
    """A key repeated inside one batch is written once; both results are that message."""
    conv = any_store.create_conversation()
    results = any_store.append_messages(
        conv.id,
        [
            MessageDraft("user", "first", idempotency_key="dup"),
            MessageDraft("assistant", "between"),
            MessageDraft("user", "second", idempotency_key="dup"),
        ],
    )
    assert results[0] == results[2]
    assert results[0].content == "first"
    assert [m.seq for m in results] == [1, 2, 1]
    assert contents(any_store, conv.id) == ["first", "between"]
    assert any_store.get_conversation(conv.id).message_count == 2


def test_batch_mixing_stored_and_new_keys(any_store: ConversationStore) -> None:
    """In a batch, drafts with stored keys return the stored message; the rest are written."""
    conv = any_store.create_conversation()
    stored = any_store.append_message(conv.id, "user", "q", idempotency_key="a")
    results = any_store.append_messages(
        conv.id,
        [
            MessageDraft("user", "q again", idempotency_key="a"),
            MessageDraft("assistant", "answer", idempotency_key="b"),
        ],
    )
    assert results[0] == stored
    assert (results[1].seq, results[1].content) == (2, "answer")
    assert contents(any_store, conv.id) == ["q", "answer"]
    again = any_store.append_messages(
        conv.id,
        [
            MessageDraft("user", "x", idempotency_key="a"),
            MessageDraft("assistant", "y", idempotency_key="b"),
        ],
    )
    assert again == results
    assert any_store.get_conversation(conv.id).message_count == 2


# ---------------------------------------------------------------------------- conditional


def test_conditional_append(any_store: ConversationStore) -> None:
    """expected_last_seq equal to the last seq appends; a stale one is Conflict, no write."""
    conv = any_store.create_conversation()
    first = any_store.append_message(conv.id, "user", "one", expected_last_seq=0)
    assert first.seq == 1
    any_store.append_message(conv.id, "assistant", "two", expected_last_seq=1)
    before = snapshot(any_store, conv.id)
    with pytest.raises(Conflict, match=r"expected last seq 1.*2"):
        any_store.append_message(conv.id, "user", "stale", expected_last_seq=1)
    with pytest.raises(Conflict):
        any_store.append_messages(
            conv.id, [MessageDraft("user", "a"), MessageDraft("user", "b")], expected_last_seq=5
        )
    assert snapshot(any_store, conv.id) == before
    # The failed attempts gave their seqs back.
    assert any_store.append_message(conv.id, "user", "three", expected_last_seq=2).seq == 3
    assert seqs(any_store, conv.id) == [1, 2, 3]


def test_conditional_batch_append(any_store: ConversationStore) -> None:
    """A batch with the right expected_last_seq is written whole."""
    conv = any_store.create_conversation()
    written = any_store.append_messages(
        conv.id, [MessageDraft("user", "a"), MessageDraft("user", "b")], expected_last_seq=0
    )
    assert [m.seq for m in written] == [1, 2]


# ---------------------------------------------------------------------------- caller ids


def test_caller_message_ids_kept_verbatim(any_store: ConversationStore) -> None:
    """A caller's string id (framework item id) is stored exactly, not re-cased or parsed."""
    conv = any_store.create_conversation()
    odd_uuid = "0192F0C4-8A5E-7CC1-9A3B-2F6D1E0A4B7C"
    ids = ["msg_ABC123", "fc_9x:y/z", odd_uuid, "é-ü"]
    for i, given in enumerate(ids):
        assert any_store.append_message(conv.id, "user", str(i), id=given).id == given
    assert [m.id for m in any_store.get_messages(conv.id)] == ids
    updated = any_store.update_message(conv.id, "msg_ABC123", content="changed")
    assert updated.id == "msg_ABC123"
    with pytest.raises(NotFound):
        any_store.update_message(conv.id, "msg_abc123", content="case matters")


def test_duplicate_message_id_is_conflict(any_store: ConversationStore) -> None:
    """A message id already used in the conversation is Conflict; nothing is written."""
    conv = any_store.create_conversation()
    any_store.append_message(conv.id, "user", "first", id="msg_1")
    before = snapshot(any_store, conv.id)
    with pytest.raises(Conflict, match="msg_1"):
        any_store.append_message(conv.id, "user", "again", id="msg_1")
    with pytest.raises(Conflict):
        any_store.append_messages(
            conv.id,
            [MessageDraft("user", "fresh", id="msg_2"), MessageDraft("user", "dup", id="msg_1")],
        )
    with pytest.raises(Conflict):
        any_store.append_messages(
            conv.id,
            [MessageDraft("user", "x", id="msg_3"), MessageDraft("user", "y", id="msg_3")],
        )
    assert snapshot(any_store, conv.id) == before
    assert any_store.append_message(conv.id, "user", "next", id="msg_2").seq == 2


def test_same_message_id_in_two_conversations(any_store: ConversationStore) -> None:
    """Message ids are unique per conversation, so two conversations may share one."""
    one = any_store.create_conversation()
    two = any_store.create_conversation()
    any_store.append_message(one.id, "user", "a", id="item_1")
    any_store.append_message(two.id, "user", "b", id="item_1")
    assert any_store.get_messages(two.id)[0].id == "item_1"


def test_bad_message_id_is_invalid(any_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """A message id that is empty, too long or has whitespace is InvalidInput naming it."""
    conv = any_store.create_conversation()
    for bad in ["", "has space", "tab\there", "x" * 201, "new\nline", 42]:
        with subtests.test(bad=repr(bad)[:20]), pytest.raises(InvalidInput, match="message id"):
            any_store.append_message(conv.id, "user", "x", id=bad)  # type: ignore[arg-type]
    assert any_store.get_conversation(conv.id).message_count == 0


def test_batch_is_atomic_on_bad_draft(any_store: ConversationStore) -> None:
    """One invalid draft in a batch means nothing of the batch is written."""
    conv = any_store.create_conversation()
    any_store.append_message(conv.id, "user", "before")
    before = snapshot(any_store, conv.id)
    bad_drafts = [
        MessageDraft("narrator", "bad role"),
        MessageDraft("user", "bad kind", kind="image"),
        MessageDraft("user", "bad status", status="done"),
        MessageDraft("user", "bad metadata", metadata={"x": {1, 2}}),
        MessageDraft("user", "bad tokens", tokens=-1),
        MessageDraft("user", 42),  # type: ignore[arg-type]
        MessageDraft("user", "bad run id", run_id="run-1"),
    ]
    for bad in bad_drafts:
        with pytest.raises(InvalidInput):
            any_store.append_messages(
                conv.id, [MessageDraft("user", "good 1"), bad, MessageDraft("user", "good 2")]
            )
        assert snapshot(any_store, conv.id) == before, bad
    with pytest.raises(InvalidInput, match="MessageDraft"):
        any_store.append_messages(conv.id, [MessageDraft("user", "ok"), {"role": "user"}])  # type: ignore[list-item]
    assert snapshot(any_store, conv.id) == before


# ---------------------------------------------------------------------------- update_message


def test_update_message_content_status_metadata_tokens(any_store: ConversationStore) -> None:
    """update_message changes the fields in place, keeps seq and id, and moves updated_at."""
    conv = any_store.create_conversation()
    any_store.append_message(conv.id, "user", "question", tokens=5)
    draft = any_store.append_message(conv.id, "assistant", "Par", status="streaming", tokens=1)
    conv_before = any_store.get_conversation(conv.id)
    updated = any_store.update_message(
        conv.id,
        draft.id,
        content="Paris is the capital.",
        status="complete",
        metadata={"finish_reason": "stop"},
        tokens=6,
    )
    assert (updated.id, updated.seq, updated.role) == (draft.id, 2, "assistant")
    assert updated.content == "Paris is the capital."
    assert updated.status == "complete"
    assert updated.metadata == {"finish_reason": "stop"}
    assert updated.tokens == 6
    assert updated.created_at == draft.created_at
    assert updated.updated_at > draft.updated_at
    assert any_store.get_messages(conv.id)[1] == updated
    after = any_store.get_conversation(conv.id)
    assert after.token_count == 5 + 6
    assert after.preview == "Paris is the capital."
    assert (after.message_count, after.last_seq) == (2, 2)
    assert after.updated_at > conv_before.updated_at


def test_update_message_partial_fields(any_store: ConversationStore) -> None:
    """Fields not passed keep their values; metadata=None and tokens=None clear."""
    conv = any_store.create_conversation()
    message = any_store.append_message(
        conv.id, "assistant", "text", metadata={"a": 1}, tokens=4, status="streaming"
    )
    only_status = any_store.update_message(conv.id, message.id, status="incomplete")
    assert (only_status.content, only_status.metadata, only_status.tokens) == ("text", {"a": 1}, 4)
    assert only_status.status == "incomplete"
    cleared = any_store.update_message(conv.id, message.id, metadata=None, tokens=None)
    assert (cleared.metadata, cleared.tokens, cleared.status) == (None, None, "incomplete")
    assert any_store.get_messages(conv.id) == [cleared]
    assert any_store.get_conversation(conv.id).token_count == 0


def test_update_older_message_keeps_preview_of_latest(any_store: ConversationStore) -> None:
    """Editing an older message does not make it the preview; editing the latest does."""
    conv = any_store.create_conversation()
    old = any_store.append_message(conv.id, "user", "old")
    latest = any_store.append_message(conv.id, "assistant", "latest")
    any_store.update_message(conv.id, old.id, content="old edited")
    assert any_store.get_conversation(conv.id).preview == "latest"
    any_store.update_message(conv.id, latest.id, content="latest edited")
    assert any_store.get_conversation(conv.id).preview == "latest edited"


def test_update_message_unknown_id_is_not_found(any_store: ConversationStore) -> None:
    """An unknown message id is NotFound naming it; a message of another conversation too."""
    conv = any_store.create_conversation()
    other = any_store.create_conversation()
    elsewhere = any_store.append_message(other.id, "user", "elsewhere")
    with pytest.raises(NotFound, match="msg_nope"):
        any_store.update_message(conv.id, "msg_nope", content="x")
    with pytest.raises(NotFound, match=elsewhere.id):
        any_store.update_message(conv.id, elsewhere.id, content="x")
    assert any_store.get_messages(other.id) == [elsewhere]


def test_update_message_bad_values_are_invalid(any_store: ConversationStore) -> None:
    """Bad content/status/metadata/tokens are InvalidInput naming the field; nothing changes."""
    conv = any_store.create_conversation()
    message = any_store.append_message(conv.id, "user", "text", tokens=2)
    before = snapshot(any_store, conv.id)
    for change, field in (
        ({"status": "done"}, "status"),
        ({"metadata": {"x": object()}}, "metadata"),
        ({"tokens": -3}, "tokens"),
        ({"content": None}, "content"),
    ):
        with pytest.raises(InvalidInput, match=field):
            any_store.update_message(conv.id, message.id, **change)
    assert snapshot(any_store, conv.id) == before


# ---------------------------------------------------------------------------- reading


def _numbered(store: ConversationStore, n: int) -> str:
    conv = store.create_conversation()
    store.append_messages(conv.id, [MessageDraft("user", str(i)) for i in range(1, n + 1)])
    return conv.id


def _seqs_of(messages: list[Message]) -> list[int]:
    return [m.seq for m in messages]


def test_get_messages_ranges(any_store: ConversationStore) -> None:
    """after_seq/before_seq are exclusive bounds; limit caps; descending reverses."""
    cid = _numbered(any_store, 10)
    assert _seqs_of(any_store.get_messages(cid)) == list(range(1, 11))
    assert _seqs_of(any_store.get_messages(cid, after_seq=7)) == [8, 9, 10]
    assert _seqs_of(any_store.get_messages(cid, before_seq=4)) == [1, 2, 3]
    assert _seqs_of(any_store.get_messages(cid, after_seq=3, before_seq=7)) == [4, 5, 6]
    assert _seqs_of(any_store.get_messages(cid, limit=3)) == [1, 2, 3]
    assert _seqs_of(any_store.get_messages(cid, after_seq=5, limit=2)) == [6, 7]
    assert _seqs_of(any_store.get_messages(cid, descending=True)) == list(range(10, 0, -1))
    assert _seqs_of(any_store.get_messages(cid, descending=True, limit=3)) == [10, 9, 8]
    assert _seqs_of(any_store.get_messages(cid, before_seq=5, descending=True, limit=2)) == [4, 3]
    assert any_store.get_messages(cid, after_seq=10) == []
    assert any_store.get_messages(cid, after_seq=6, before_seq=6) == []
    assert [m.content for m in any_store.get_messages(cid, after_seq=8)] == ["9", "10"]


def test_get_messages_pages_backwards(any_store: ConversationStore) -> None:
    """Reading newest-first pages with before_seq covers every message once."""
    cid = _numbered(any_store, 7)
    seen: list[int] = []
    before: int | None = None
    while True:
        page = any_store.get_messages(cid, before_seq=before, limit=3, descending=True)
        if not page:
            break
        seen.extend(_seqs_of(page))
        before = page[-1].seq
    assert seen == list(range(7, 0, -1))


def test_get_messages_empty_and_missing(any_store: ConversationStore) -> None:
    """An empty conversation reads as []; a missing one is NotFound."""
    conv = any_store.create_conversation()
    assert any_store.get_messages(conv.id) == []
    with pytest.raises(NotFound):
        any_store.get_messages(str(uuid.uuid4()))


def test_get_messages_bad_arguments(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """Negative bounds and a zero limit are InvalidInput naming the argument."""
    cid = _numbered(any_store, 2)
    cases: list[tuple[dict[str, object], str]] = [
        ({"after_seq": -1}, "after_seq"),
        ({"before_seq": -2}, "before_seq"),
        ({"after_seq": "1"}, "after_seq"),
        ({"limit": 0}, "limit"),
    ]
    for arguments, field in cases:
        with subtests.test(field=field), pytest.raises(InvalidInput, match=field):
            any_store.get_messages(cid, **arguments)  # type: ignore[arg-type]


def test_tail_messages(any_store: ConversationStore) -> None:
    """tail_messages gives the last n, oldest first; n past the count gives all."""
    cid = _numbered(any_store, 6)
    assert _seqs_of(any_store.tail_messages(cid, 2)) == [5, 6]
    assert _seqs_of(any_store.tail_messages(cid, 1)) == [6]
    assert _seqs_of(any_store.tail_messages(cid, 6)) == [1, 2, 3, 4, 5, 6]
    assert _seqs_of(any_store.tail_messages(cid, 50)) == [1, 2, 3, 4, 5, 6]
    assert any_store.tail_messages(cid, 3) == any_store.get_messages(cid)[-3:]


def test_tail_messages_empty_missing_and_bad_n(any_store: ConversationStore) -> None:
    """Empty conversation → []; missing → NotFound; n < 1 → InvalidInput naming n."""
    conv = any_store.create_conversation()
    assert any_store.tail_messages(conv.id, 5) == []
    with pytest.raises(NotFound):
        any_store.tail_messages(str(uuid.uuid4()), 5)
    with pytest.raises(InvalidInput, match="n must"):
        any_store.tail_messages(conv.id, 0)


# ---------------------------------------------------------------------------- pop / clear


def test_pop_message(any_store: ConversationStore) -> None:
    """pop returns the last message, removes it, fixes counters, and the seq is reused."""
    conv = any_store.create_conversation()
    first = any_store.append_message(conv.id, "user", "keep", tokens=2)
    last = any_store.append_message(conv.id, "assistant", "drop", tokens=5)
    popped = any_store.pop_message(conv.id)
    assert popped == last
    assert any_store.get_messages(conv.id) == [first]
    after = any_store.get_conversation(conv.id)
    assert (after.message_count, after.last_seq, after.token_count) == (1, 1, 2)
    assert after.preview == "keep"
    again = any_store.append_message(conv.id, "assistant", "replacement")
    assert again.seq == 2
    assert seqs(any_store, conv.id) == [1, 2]


def test_pop_until_empty(any_store: ConversationStore) -> None:
    """Popping an empty conversation returns None and changes nothing."""
    conv = any_store.create_conversation()
    assert any_store.pop_message(conv.id) is None
    any_store.append_message(conv.id, "user", "only")
    assert any_store.pop_message(conv.id) is not None
    after = any_store.get_conversation(conv.id)
    assert (after.message_count, after.last_seq, after.token_count, after.preview) == (
        0,
        0,
        0,
        None,
    )
    assert any_store.pop_message(conv.id) is None
    assert any_store.get_conversation(conv.id) == after
    with pytest.raises(NotFound):
        any_store.pop_message(str(uuid.uuid4()))


def test_delete_message_by_id(any_store: ConversationStore) -> None:
    """delete_message removes exactly that message and fixes the counters; a middle one
    leaves its seq unused (nothing renumbered), the last one gives its seq back; a
    message that is not there is NotFound and changes nothing."""
    conv = any_store.create_conversation()
    first = any_store.append_message(conv.id, "user", "one", tokens=1)
    middle = any_store.append_message(conv.id, "assistant", "two", tokens=2, id="m2")
    last = any_store.append_message(conv.id, "user", "three", tokens=4)
    assert any_store.delete_message(conv.id, "m2") == middle
    assert any_store.get_messages(conv.id) == [first, last]
    after = any_store.get_conversation(conv.id)
    assert (after.message_count, after.last_seq, after.token_count) == (2, 3, 5)
    assert any_store.delete_message(conv.id, last.id) == last
    after = any_store.get_conversation(conv.id)
    assert (after.message_count, after.last_seq, after.token_count, after.preview) == (
        1,
        2,
        1,
        "one",
    )
    assert any_store.append_message(conv.id, "assistant", "next").seq == 3
    with pytest.raises(NotFound):
        any_store.delete_message(conv.id, "m2")
    with pytest.raises(NotFound):
        any_store.delete_message(str(uuid.uuid4()), first.id)
    assert [m.content for m in any_store.get_messages(conv.id)] == ["one", "next"]


def test_clear_messages(any_store: ConversationStore) -> None:
    """clear deletes every message, returns how many, resets counters; seqs restart at 1."""
    cid = _numbered(any_store, 4)
    assert any_store.clear_messages(cid) == 4
    assert any_store.get_messages(cid) == []
    after = any_store.get_conversation(cid)
    assert (after.message_count, after.last_seq, after.token_count, after.preview) == (
        0,
        0,
        0,
        None,
    )
    assert any_store.clear_messages(cid) == 0
    assert any_store.append_message(cid, "user", "fresh start").seq == 1
    with pytest.raises(NotFound):
        any_store.clear_messages(str(uuid.uuid4()))


def test_cleared_idempotency_key_can_be_used_again(any_store: ConversationStore) -> None:
    """After clear, a key of a deleted message writes a new message (nothing stale returned)."""
    conv = any_store.create_conversation()
    any_store.append_message(conv.id, "user", "old", idempotency_key="k")
    any_store.clear_messages(conv.id)
    fresh = any_store.append_message(conv.id, "user", "new", idempotency_key="k")
    assert (fresh.seq, fresh.content) == (1, "new")


# ---------------------------------------------------------------------------- stats


def test_conversation_stats(any_store: ConversationStore) -> None:
    """Stats report counts, tokens and the first/last message times."""
    conv = any_store.create_conversation()
    empty = any_store.conversation_stats(conv.id)
    assert (empty.message_count, empty.last_seq, empty.token_count) == (0, 0, 0)
    assert empty.first_message_at is None and empty.last_message_at is None
    assert empty.created_at == conv.created_at
    assert empty.age.total_seconds() >= 0
    first = any_store.append_message(conv.id, "user", "a", tokens=3)
    any_store.append_message(conv.id, "assistant", "b", tokens=4)
    last = any_store.append_message(conv.id, "user", "c")
    stats = any_store.conversation_stats(conv.id)
    assert stats.conversation_id == conv.id
    assert (stats.message_count, stats.last_seq, stats.token_count) == (3, 3, 7)
    assert stats.first_message_at == first.created_at
    assert stats.last_message_at == last.created_at
    assert stats.updated_at == last.created_at
    any_store.pop_message(conv.id)
    popped = any_store.conversation_stats(conv.id)
    assert (popped.message_count, popped.last_seq, popped.token_count) == (2, 2, 7)
    assert popped.last_message_at is not None and popped.last_message_at < last.created_at
    with pytest.raises(NotFound):
        any_store.conversation_stats(str(uuid.uuid4()))
