"""Contract: an owner's totals — conversations by status, messages, tokens (``stats``).

The guarded failures: another owner's conversations counted; a status missing from the
result when it has no conversations (scripts index it); totals drifting from the
counters after pops, deletes and archiving.
"""

from __future__ import annotations

from threadkeep import ConversationStore, MessageDraft
from threadkeep.models import OwnerStats


def test_empty_owner(any_store: ConversationStore) -> None:
    """A new owner has every status at zero, and nothing else."""
    assert any_store.owner_stats() == OwnerStats(
        owner="local", conversations={"active": 0, "archived": 0, "trash": 0}, messages=0, tokens=0
    )


def test_totals_follow_the_counters(any_store: ConversationStore) -> None:
    """Totals are the sums of the conversations' counters, per status, for this owner
    only, and follow archive, pop and delete."""
    first = any_store.create_conversation()
    any_store.append_messages(
        first.id,
        [MessageDraft(role="user", content="a", tokens=3), MessageDraft(role="user", content="b")],
    )
    second = any_store.create_conversation()
    any_store.append_message(second.id, "assistant", "c", tokens=5)
    third = any_store.create_conversation()
    any_store.archive_conversation(second.id)
    stranger = any_store.as_owner("stranger").create_conversation()
    any_store.as_owner("stranger").append_message(stranger.id, "user", "not yours", tokens=7)

    totals = any_store.owner_stats()
    assert totals.conversations == {"active": 2, "archived": 1, "trash": 0}
    assert (totals.messages, totals.tokens) == (3, 8)

    any_store.pop_message(first.id)
    any_store.delete_conversation(third.id)
    totals = any_store.owner_stats()
    assert totals.conversations == {"active": 1, "archived": 1, "trash": 0}
    assert (totals.messages, totals.tokens) == (2, 8)
    assert any_store.as_owner("stranger").owner_stats().messages == 1
