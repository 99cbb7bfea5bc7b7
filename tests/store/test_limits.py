"""Contract: limits and bad input (SPEC S3.5) — typed, actionable errors, nothing half-written.

Every error names what was wrong, so a person can act on it, and every failed call leaves
the conversation exactly as it was (compared through :func:`snapshot`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.store.conftest import SMALL_LIMIT
from tests.store.state import snapshot
from threadkeep import (
    ConversationStore,
    InvalidInput,
    MessageDraft,
    ThreadkeepError,
    TooLarge,
)

# ---------------------------------------------------------------------------- size


def test_content_at_the_limit_is_accepted(small_store: ConversationStore) -> None:
    """Content of exactly max_message_bytes is stored whole."""
    conv = small_store.create_conversation()
    content = "x" * SMALL_LIMIT
    assert small_store.append_message(conv.id, "user", content).content == content
    assert small_store.get_messages(conv.id)[0].content == content


def test_content_over_the_limit_is_too_large(small_store: ConversationStore) -> None:
    """One byte over is TooLarge naming the size, the limit and the setting; nothing written."""
    conv = small_store.create_conversation()
    small_store.append_message(conv.id, "user", "before")
    before = snapshot(small_store, conv.id)
    with pytest.raises(TooLarge, match=r"101 bytes.*100.*max_message_bytes") as caught:
        small_store.append_message(conv.id, "user", "x" * (SMALL_LIMIT + 1))
    assert caught.value.code == "too_large"
    with pytest.raises(TooLarge):
        small_store.append_messages(
            conv.id, [MessageDraft("user", "fine"), MessageDraft("user", "y" * 500)]
        )
    assert snapshot(small_store, conv.id) == before


def test_size_counts_utf8_bytes(small_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """The limit is in UTF-8 bytes, not characters: multi-byte text reaches it sooner."""
    for char, width in (("é", 2), ("€", 3), ("😀", 4)):
        with subtests.test(char=char):
            conv = small_store.create_conversation()
            fits = char * (SMALL_LIMIT // width)
            too_big = char * (SMALL_LIMIT // width + 1)
            assert len(too_big.encode()) == width * len(too_big)
            assert len(too_big) < SMALL_LIMIT  # under the limit in characters
            assert small_store.append_message(conv.id, "user", fits).content == fits
            with pytest.raises(TooLarge, match=f"{len(too_big.encode())} bytes"):
                small_store.append_message(conv.id, "user", too_big)
            assert small_store.get_conversation(conv.id).message_count == 1


def test_update_message_over_the_limit(small_store: ConversationStore) -> None:
    """Growing a streaming message past the limit is TooLarge; the stored text is kept."""
    conv = small_store.create_conversation()
    message = small_store.append_message(conv.id, "assistant", "start", status="streaming")
    before = snapshot(small_store, conv.id)
    with pytest.raises(TooLarge, match="max_message_bytes"):
        small_store.update_message(conv.id, message.id, content="€" * 40)
    assert snapshot(small_store, conv.id) == before


def test_metadata_and_context_over_the_limit(small_store: ConversationStore) -> None:
    """Metadata, context and usage are held to the same limit as JSON; each names itself."""
    conv = small_store.create_conversation()
    before = snapshot(small_store, conv.id)
    big = {"blob": "z" * SMALL_LIMIT}
    with pytest.raises(TooLarge, match="metadata"):
        small_store.append_message(conv.id, "user", "hi", metadata=big)
    with pytest.raises(TooLarge, match="context"):
        small_store.update_conversation(conv.id, context=big)
    with pytest.raises(TooLarge, match="context"):
        small_store.update_conversation(conv.id, context_merge=big)
    with pytest.raises(TooLarge, match="context"):
        small_store.create_conversation(context=big)
    assert snapshot(small_store, conv.id) == before
    assert len(small_store.list_conversations(status="all")) == 1
    run = small_store.start_run(conv.id, provider="echo")
    with pytest.raises(TooLarge, match="usage"):
        small_store.finish_run(run.id, status="completed", usage=big)
    assert small_store.get_run(run.id) == run


# ---------------------------------------------------------------------------- ids

BAD_ID = "conversation-1"


def _id_calls(cid: str) -> dict[str, Callable[[ConversationStore], object]]:
    """A call of every method that takes a conversation id, with ``cid`` as that id."""
    return {
        "get_conversation": lambda s: s.get_conversation(cid),
        "get_or_create_conversation": lambda s: s.get_or_create_conversation(cid),
        "update_conversation": lambda s: s.update_conversation(cid, title="x"),
        "archive_conversation": lambda s: s.archive_conversation(cid),
        "unarchive_conversation": lambda s: s.unarchive_conversation(cid),
        "delete_conversation": lambda s: s.delete_conversation(cid),
        "fork_conversation": lambda s: s.fork_conversation(cid),
        "append_message": lambda s: s.append_message(cid, "user", "x"),
        "append_messages": lambda s: s.append_messages(cid, [MessageDraft("user", "x")]),
        "update_message": lambda s: s.update_message(cid, "m1", content="x"),
        "get_messages": lambda s: s.get_messages(cid),
        "tail_messages": lambda s: s.tail_messages(cid, 1),
        "pop_message": lambda s: s.pop_message(cid),
        "clear_messages": lambda s: s.clear_messages(cid),
        "conversation_stats": lambda s: s.conversation_stats(cid),
        "start_run": lambda s: s.start_run(cid, provider="echo"),
        "list_runs": lambda s: s.list_runs(cid),
    }


def test_non_uuid_conversation_id_is_invalid(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """Every method refuses a conversation id that is not a UUID, naming the field and value."""
    for method, call in sorted(_id_calls(BAD_ID).items()):
        with subtests.test(method=method):
            with pytest.raises(InvalidInput, match=f"conversation id must be a UUID.*{BAD_ID}"):
                call(any_store)
    assert len(any_store.list_conversations(status="all")) == 0


def test_non_uuid_run_id_is_invalid(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """get_run and finish_run refuse a run id that is not a UUID, naming the field."""
    for bad in ("run-1", str(uuid.uuid4())[:-1]):
        with subtests.test(bad=bad):
            with pytest.raises(InvalidInput, match="run id must be a UUID"):
                any_store.get_run(bad)
            with pytest.raises(InvalidInput, match="run id must be a UUID"):
                any_store.finish_run(bad, status="completed")


# ---------------------------------------------------------------------------- sets


def test_values_outside_their_sets(any_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """role, kind and status outside their sets are InvalidInput listing what is allowed."""
    conv = any_store.create_conversation()
    roles = "assistant, system, tool, user"
    kinds = "error, system_artifact, text, tool_call, tool_result"
    statuses = "complete, incomplete, streaming"
    cases = [
        (MessageDraft("narrator", "x"), "role", roles),
        (MessageDraft("User", "x"), "role", roles),
        (MessageDraft(None, "x"), "role", roles),  # type: ignore[arg-type]
        (MessageDraft("user", "x", kind="image"), "kind", kinds),
        (MessageDraft("user", "x", status="done"), "status", statuses),
    ]
    for draft, field, allowed in cases:
        with subtests.test(draft=repr(draft)[:60]):
            with pytest.raises(InvalidInput, match=field) as caught:
                any_store.append_messages(conv.id, [draft])
            assert allowed in caught.value.message
            assert caught.value.code == "invalid_input"
            assert any_store.get_conversation(conv.id) == conv


def test_metadata_must_be_json(any_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """Metadata that is not JSON-serialisable is InvalidInput naming metadata; no write."""
    conv = any_store.create_conversation()
    before = snapshot(any_store, conv.id)
    cases: dict[str, Any] = {
        "set": {"a": {1, 2}},
        "object": {"when": object()},
        "nan": {"x": math.nan},
        "inf": {"x": -math.inf},
        "bytes": b"raw bytes",
        "function": {"nested": [{"deep": lambda: None}]},
    }
    for name, metadata in cases.items():
        with subtests.test(name), pytest.raises(InvalidInput, match="metadata must be JSON"):
            any_store.append_message(conv.id, "user", "x", metadata=metadata)
    assert snapshot(any_store, conv.id) == before


def test_metadata_nested_too_deeply_is_invalid(any_store: ConversationStore) -> None:
    """A value nested past what JSON tools can read back is InvalidInput, not a
    RecursionError escaping the store; nothing is written."""
    conv = any_store.create_conversation()
    before = snapshot(any_store, conv.id)
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested too deeply"):
        any_store.append_message(conv.id, "user", "x", metadata=deep)
    assert snapshot(any_store, conv.id) == before


def test_context_must_be_a_json_object(any_store: ConversationStore) -> None:
    """Context that is not a JSON object is InvalidInput naming context; nothing created."""
    with pytest.raises(InvalidInput, match="context"):
        any_store.create_conversation(context={"at": object()})
    with pytest.raises(InvalidInput, match="context"):
        any_store.create_conversation(context="text")  # type: ignore[arg-type]
    assert len(any_store.list_conversations(status="all")) == 0


def test_bad_append_arguments(any_store: ConversationStore, subtests: pytest.Subtests) -> None:
    """Each bad append argument is InvalidInput naming it; nothing is written."""
    conv = any_store.create_conversation()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"tokens": -1}, "tokens"),
        ({"tokens": 1.5}, "tokens"),
        ({"tokens": True}, "tokens"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 201}, "idempotency_key"),
        ({"expected_last_seq": -1}, "expected_last_seq"),
        ({"run_id": "not-a-run"}, "run_id"),
    ]
    for arguments, field in cases:
        with subtests.test(arguments=repr(arguments)[:40]):
            with pytest.raises(InvalidInput, match=field):
                any_store.append_message(conv.id, "user", "x", **arguments)
            assert any_store.get_conversation(conv.id) == conv


def test_bad_owner_is_invalid(any_store: ConversationStore) -> None:
    """An empty owner name is refused when the store is made, naming owner."""
    with pytest.raises(InvalidInput, match="owner"):
        any_store.as_owner("  ")


# ------------------------------------------------------------- text the engines cannot hold


def test_lone_surrogates_are_invalid_input(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """Text with a lone surrogate cannot be UTF-8: InvalidInput naming the field, no write.

    Guards against the driver's UnicodeEncodeError (or a StoreUnavailable for jsonb)
    escaping instead of a typed error about the input.
    """
    conv = any_store.create_conversation()
    message = any_store.append_message(conv.id, "user", "ok")
    before = snapshot(any_store, conv.id)
    bad = "a\udfffb"
    calls: list[tuple[str, Callable[[], object]]] = [
        ("content", lambda: any_store.append_message(conv.id, "user", "\ud800")),
        ("content", lambda: any_store.update_message(conv.id, message.id, content=bad)),
        ("metadata", lambda: any_store.append_message(conv.id, "user", "x", metadata={"k": bad})),
        ("title", lambda: any_store.update_conversation(conv.id, title=bad)),
        ("context", lambda: any_store.update_conversation(conv.id, context={bad: 1})),
    ]
    for number, (field, call) in enumerate(calls):
        with subtests.test(field=field, number=number), pytest.raises(InvalidInput, match=field):
            call()
    assert snapshot(any_store, conv.id) == before


def _stored_or_refused(
    write: Callable[[], object], read: Callable[[], object], value: object
) -> None:
    """The write either round-trips ``value`` or is refused as InvalidInput — never worse."""
    try:
        write()
    except InvalidInput:
        return
    except ThreadkeepError as error:
        pytest.fail(f"bad input must be InvalidInput, got {type(error).__name__}: {error}")
    assert read() == value


def test_nul_character_is_stored_or_refused(any_store: ConversationStore) -> None:
    """A NUL in text either round-trips or is InvalidInput, on every engine and field.

    PostgreSQL cannot hold NUL in text or jsonb; the store must not report that as the
    database being unavailable (StoreUnavailable), and must not write half of it.
    """
    conv = any_store.create_conversation()
    message = any_store.append_message(conv.id, "user", "ok")
    text = "before\x00after"
    _stored_or_refused(
        lambda: any_store.append_message(conv.id, "user", text, id="nul"),
        lambda: any_store.get_messages(conv.id)[-1].content,
        text,
    )
    _stored_or_refused(
        lambda: any_store.update_message(conv.id, message.id, metadata={"k": text}),
        lambda: any_store.get_messages(conv.id)[0].metadata,
        {"k": text},
    )
    _stored_or_refused(
        lambda: any_store.update_conversation(conv.id, title=text),
        lambda: any_store.get_conversation(conv.id).title,
        text,
    )
    _stored_or_refused(
        lambda: any_store.update_conversation(conv.id, context={"k": text}),
        lambda: any_store.get_conversation(conv.id).context,
        {"k": text},
    )
    after = any_store.get_conversation(conv.id)
    assert after.message_count == len(any_store.get_messages(conv.id))
    assert after.last_seq == after.message_count
