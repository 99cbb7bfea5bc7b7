"""Shared helpers of the transfer tests: a store holding every field, and its snapshot."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from threadkeep import ConversationStore, MessageDraft
from threadkeep.store.imports import ConversationImport, MessageImport

T0 = dt.datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)

METADATA = {
    "model": "gpt-4o",
    "usage": {"input": 12, "output": 3.5, "cached": None},
    "list": [1, -2, 1e16, 0.1, True, False, None, "ünïcödé ✓"],
    "nested": {"deeper": {"deepest": ["x"]}},
}


def build_rich_store(store: ConversationStore) -> dict[str, str]:
    """Conversations covering every field and state; returns their ids by role."""
    ids: dict[str, str] = {}
    main = store.create_conversation(
        title="Trip to Lisbon ✈️",
        mode="interactive",
        context={"workspace": "/home/ana/trip", "flags": [1, 2], "nested": {"a": None}},
        tags=["travel", "2025"],
        pinned=True,
    )
    ids["main"] = main.id
    run = store.start_run(main.id, provider="echo", model="echo-1")
    store.append_messages(
        main.id,
        [
            MessageDraft(role="system", content="You are helpful.", kind="system_artifact"),
            MessageDraft(role="user", content='Plan 3 days.\nQuotes " and \\ and `code`', tokens=9),
            MessageDraft(
                role="assistant",
                content='{"name": "search", "arguments": {"q": "Lisbon"}}',
                kind="tool_call",
                metadata={"call_id": "call_1"},
                run_id=run.id,
            ),
            MessageDraft(
                role="tool",
                content="Sunny, 24°C",
                kind="tool_result",
                metadata={"call_id": "call_1"},
            ),
            MessageDraft(role="assistant", content="", status="streaming", run_id=run.id),
        ],
    )
    streaming = store.tail_messages(main.id, 1)[0]
    store.update_message(
        main.id,
        streaming.id,
        content="Day 1: Alfama. 🏛️",
        status="complete",
        metadata=METADATA,
        tokens=42,
    )
    store.append_message(main.id, "assistant", "Rate limited", kind="error", id="msg_err_1")
    store.finish_run(run.id, status="completed", provider_session_id="sess-abc")
    fork = store.fork_conversation(main.id, up_to_seq=2, title="Lisbon, shorter")
    store.append_message(fork.id, "user", "Only 1 day please")
    store.archive_conversation(fork.id)
    ids["fork"] = fork.id
    ids["empty"] = store.create_conversation().id
    result = store.import_conversations(
        [
            ConversationImport(
                import_key="test:trash",
                title="In the trash",
                status="trash",
                created_at=T0,
                updated_at=T0 + dt.timedelta(hours=1),
                trashed_at=T0 + dt.timedelta(days=1),
                messages=[MessageImport(role="user", content="old", created_at=T0)],
            ),
            ConversationImport(
                import_key="test:capped",
                title="Pruned by the cap",
                messages=[
                    MessageImport(role="user", content=f"m{seq}", seq=seq, created_at=T0)
                    for seq in (5, 6, 7)
                ],
            ),
        ]
    )
    ids["trash"], ids["capped"] = result.conversation_ids
    return ids


def snapshot(store: ConversationStore) -> dict[str, Any]:
    """Every conversation of the owner (any status) with its messages, as plain values."""
    found: dict[str, Any] = {}
    cursor = None
    while True:
        page = store.list_conversations(status=None, limit=100, cursor=cursor)
        for conversation in page.items:
            messages = store.get_messages(conversation.id)
            found[conversation.id] = (
                dataclasses.asdict(conversation),
                [dataclasses.asdict(message) for message in messages],
            )
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def comparable(snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without what an import legitimately changes: nothing but the owner."""
    out = {}
    for cid, (conversation, messages) in snap.items():
        conversation = dict(conversation)
        conversation.pop("owner")
        out[cid] = (conversation, messages)
    return out
