"""Contract: change events (SPEC S3.6) — published after commit, never for a failed write."""

from __future__ import annotations

import pytest

from threadkeep import Conflict, ConversationStore, InvalidInput, MessageDraft, TooLarge
from threadkeep.events import Event, InProcessBroker


def _types(events: list[Event]) -> list[str]:
    return [event.type for event in events]


def test_conversation_events(any_store: ConversationStore, events: list[Event]) -> None:
    """create/update/archive/unarchive/delete each publish their event, addressed right."""
    conv = any_store.create_conversation()
    any_store.update_conversation(conv.id, title="t")
    any_store.archive_conversation(conv.id)
    any_store.unarchive_conversation(conv.id)
    fork = any_store.fork_conversation(conv.id)
    any_store.delete_conversation(conv.id)
    assert _types(events) == [
        "conversation.created",
        "conversation.updated",
        "conversation.archived",
        "conversation.unarchived",
        "conversation.created",
        "conversation.deleted",
    ]
    assert [e.conversation_id for e in events] == [conv.id] * 4 + [fork.id, conv.id]
    assert {e.owner for e in events} == {any_store.owner}


def test_message_events(any_store: ConversationStore, events: list[Event]) -> None:
    """Each written message publishes message.created with its id and seq; updates too."""
    conv = any_store.create_conversation()
    events.clear()
    one = any_store.append_message(conv.id, "user", "a")
    batch = any_store.append_messages(
        conv.id, [MessageDraft("assistant", "b"), MessageDraft("user", "c")]
    )
    any_store.update_message(conv.id, one.id, content="a2")
    assert _types(events) == ["message.created"] * 3 + ["message.updated"]
    assert [(e.data["message_id"], e.data["seq"]) for e in events[:3]] == [
        (m.id, m.seq) for m in [one, *batch]
    ]
    assert events[3].data["message_id"] == one.id
    assert {e.conversation_id for e in events} == {conv.id}


def test_idempotent_retry_publishes_nothing(
    any_store: ConversationStore, events: list[Event]
) -> None:
    """A retry that writes nothing announces nothing."""
    conv = any_store.create_conversation()
    any_store.append_message(conv.id, "user", "a", idempotency_key="k")
    events.clear()
    any_store.append_message(conv.id, "user", "a", idempotency_key="k")
    assert events == []


def test_run_events(any_store: ConversationStore, events: list[Event]) -> None:
    """start_run publishes run.started; completion run.completed; other ends run.failed."""
    conv = any_store.create_conversation()
    events.clear()
    ok = any_store.start_run(conv.id, provider="echo")
    any_store.finish_run(ok.id, status="completed")
    bad = any_store.start_run(conv.id, provider="echo")
    any_store.finish_run(bad.id, status="cancelled")
    orphan = any_store.start_run(conv.id, provider="echo")
    any_store.mark_interrupted_runs()
    assert _types(events) == [
        "run.started",
        "run.completed",
        "run.started",
        "run.failed",
        "run.started",
        "run.failed",
    ]
    assert [e.data["run_id"] for e in events] == [ok.id, ok.id, bad.id, bad.id] + [orphan.id] * 2
    assert events[3].data["status"] == "cancelled"
    assert events[5].data["status"] == "interrupted"


def test_mark_interrupted_all_owners_publishes_to_each_owner(
    any_store: ConversationStore, events: list[Event]
) -> None:
    """Every change emits an event (S3.6): a swept run of another owner is announced to it."""
    mallory = any_store.as_owner("mallory")
    theirs = mallory.create_conversation()
    run = mallory.start_run(theirs.id, provider="echo")
    events.clear()
    any_store.mark_interrupted_runs(all_owners=True)
    assert [(e.type, e.owner, e.conversation_id, e.data.get("run_id")) for e in events] == [
        ("run.failed", "mallory", theirs.id, run.id)
    ]


def test_events_are_published_after_commit(
    any_store: ConversationStore, store: ConversationStore
) -> None:
    """A subscriber that reads the store when notified already sees the change."""
    seen: list[tuple[str, int]] = []

    def read_back(event: Event) -> None:
        if event.conversation_id is not None:
            # A read on another connection: only committed data is visible to it.
            seen.append((event.type, store.get_conversation(event.conversation_id).last_seq))

    unsubscribe = store.broker.subscribe(read_back)
    try:
        conv = any_store.create_conversation()
        any_store.append_messages(conv.id, [MessageDraft("user", "a"), MessageDraft("user", "b")])
    finally:
        unsubscribe()
    assert seen == [("conversation.created", 0), ("message.created", 2), ("message.created", 2)]


def test_failed_writes_publish_nothing(any_store: ConversationStore, events: list[Event]) -> None:
    """A write that fails — before or inside its transaction — is never announced."""
    conv = any_store.create_conversation()
    any_store.append_message(conv.id, "user", "first", id="m1")
    run = any_store.start_run(conv.id, provider="echo")
    any_store.finish_run(run.id, status="completed")
    events.clear()

    with pytest.raises(Conflict):
        any_store.create_conversation(id=conv.id)
    with pytest.raises(Conflict):  # rolled back after seqs were reserved
        any_store.append_message(conv.id, "user", "stale", expected_last_seq=0)
    with pytest.raises(Conflict):  # rolled back by the database (unique id)
        any_store.append_messages(
            conv.id, [MessageDraft("user", "ok", id="m2"), MessageDraft("user", "dup", id="m1")]
        )
    with pytest.raises(InvalidInput):
        any_store.append_message(conv.id, "narrator", "x")
    with pytest.raises(Conflict):
        any_store.finish_run(run.id, status="failed")
    with pytest.raises(Conflict):
        any_store.start_run(conv.id, provider="openai")
    with pytest.raises(InvalidInput):
        any_store.update_conversation(conv.id, context={}, context_merge={})

    assert events == []
    assert any_store.get_conversation(conv.id).last_seq == 1


def test_too_large_publishes_nothing(
    small_store: ConversationStore, small_broker: InProcessBroker
) -> None:
    """A TooLarge append is not announced."""
    conv = small_store.create_conversation()
    received: list[Event] = []
    small_broker.subscribe(received.append)
    with pytest.raises(TooLarge):
        small_store.append_message(conv.id, "user", "x" * 101)
    with pytest.raises(TooLarge):
        small_store.update_conversation(conv.id, context={"k": "x" * 101})
    assert received == []
