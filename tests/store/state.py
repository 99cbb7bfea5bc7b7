"""What a conversation looks like from outside: for "nothing was half-written" checks.

A :class:`Snapshot` is everything the store returns about one conversation — the row with
its counters, every message, every run — so comparing two snapshots taken around a failed
call proves the call changed nothing an owner can see.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadkeep import Conversation, ConversationStore, Message, Run


@dataclass(frozen=True)
class Snapshot:
    conversation: Conversation
    messages: list[Message]
    runs: list[Run]


def snapshot(store: ConversationStore, conversation_id: str) -> Snapshot:
    """Read the conversation, its messages and its runs through ``store``."""
    return Snapshot(
        conversation=store.get_conversation(conversation_id),
        messages=store.get_messages(conversation_id),
        runs=store.list_runs(conversation_id),
    )


def seqs(store: ConversationStore, conversation_id: str) -> list[int]:
    """The seqs of the conversation's messages, in order."""
    return [message.seq for message in store.get_messages(conversation_id)]


def contents(store: ConversationStore, conversation_id: str) -> list[str]:
    """The contents of the conversation's messages, in seq order."""
    return [message.content for message in store.get_messages(conversation_id)]
