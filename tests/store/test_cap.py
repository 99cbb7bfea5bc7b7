"""Contract: the message cap (SPEC S7.1), on SQLite and PostgreSQL, sync and async.

With ``max_messages_per_conversation`` set, appending past it deletes the oldest
messages in the same transaction: no reader sees a conversation over the cap, the
counters (message count, tokens, preview) match what is stored, search forgets the
pruned text, and seqs keep growing — a capped conversation holds the contiguous seqs
``last_seq - cap + 1 .. last_seq``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store.custom_stores import Stores
from tests.store.races import race
from tests.store.state import contents, seqs, snapshot
from threadkeep import Conflict, ConversationStore, MessageDraft


def _assert_consistent(store: ConversationStore, conversation_id: str) -> None:
    """The conversation's counters describe exactly the messages stored."""
    conversation = store.get_conversation(conversation_id)
    messages = store.get_messages(conversation_id)
    assert conversation.message_count == len(messages)
    assert conversation.token_count == sum(m.tokens or 0 for m in messages)
    first = conversation.last_seq - conversation.message_count + 1
    assert [m.seq for m in messages] == list(range(first, conversation.last_seq + 1))
    texts = [m.content for m in messages if m.kind == "text" and m.role in ("user", "assistant")]
    assert conversation.preview == (texts[-1] if texts else None)


def test_appending_past_the_cap_deletes_the_oldest(stores: Stores) -> None:
    """Guards against a cap that lets a conversation grow, or counts that drift."""
    store = stores.open(max_messages_per_conversation=5)
    conv = store.create_conversation()
    for i in range(8):
        store.append_message(conv.id, "user", f"m{i}", tokens=i)
    after = store.get_conversation(conv.id)
    assert (after.message_count, after.last_seq, after.token_count) == (5, 8, 3 + 4 + 5 + 6 + 7)
    assert seqs(store, conv.id) == [4, 5, 6, 7, 8]
    assert contents(store, conv.id) == ["m3", "m4", "m5", "m6", "m7"]
    assert [m.content for m in store.tail_messages(conv.id, 2)] == ["m6", "m7"]
    assert [m.seq for m in store.get_messages(conv.id, after_seq=5, limit=2)] == [6, 7]
    stats = store.conversation_stats(conv.id)
    assert (stats.message_count, stats.last_seq, stats.token_count) == (5, 8, 25)
    first = store.get_messages(conv.id)[0]
    assert stats.first_message_at == first.created_at
    _assert_consistent(store, conv.id)


def test_at_the_cap_nothing_is_pruned(stores: Stores) -> None:
    """Exactly ``cap`` messages are all kept (an off-by-one would drop the first)."""
    store = stores.open(max_messages_per_conversation=3)
    conv = store.create_conversation()
    store.append_messages(conv.id, [MessageDraft("user", f"m{i}") for i in range(3)])
    assert seqs(store, conv.id) == [1, 2, 3]
    assert not [e for e in stores.events if e.type == "conversation.updated"]


def test_a_batch_larger_than_the_cap_keeps_its_newest(stores: Stores) -> None:
    """A batch of 7 under a cap of 3 stores its last 3; the call still returns all 7."""
    store = stores.open(max_messages_per_conversation=3)
    conv = store.create_conversation()
    store.append_message(conv.id, "user", "before", tokens=100)
    drafts = [MessageDraft("assistant", f"b{i}", tokens=1) for i in range(7)]
    returned = store.append_messages(conv.id, drafts)
    assert [m.seq for m in returned] == list(range(2, 9))
    assert contents(store, conv.id) == ["b4", "b5", "b6"]
    after = store.get_conversation(conv.id)
    assert (after.message_count, after.last_seq, after.token_count) == (3, 8, 3)
    assert after.preview == "b6"
    _assert_consistent(store, conv.id)


def test_preview_falls_back_when_its_message_is_pruned(stores: Stores) -> None:
    """The preview never shows a message the cap deleted.

    The batch's only text message is pruned with it (tool calls follow it), and the
    text before it is gone too: nothing is left to preview.
    """
    store = stores.open(max_messages_per_conversation=2)
    conv = store.create_conversation()
    store.append_message(conv.id, "user", "question")
    drafts = [MessageDraft("assistant", "answer")] + [
        MessageDraft("assistant", f"call {i}", kind="tool_call") for i in range(3)
    ]
    store.append_messages(conv.id, drafts)
    assert store.get_conversation(conv.id).preview is None
    _assert_consistent(store, conv.id)
    # A batch without text prunes the message the preview came from: the next newest
    # text message left takes over.
    store.append_message(conv.id, "user", "again")
    store.append_message(conv.id, "tool", "result", kind="tool_result")
    assert store.get_conversation(conv.id).preview == "again"
    store.append_message(conv.id, "tool", "result 2", kind="tool_result")
    assert store.get_conversation(conv.id).preview is None
    _assert_consistent(store, conv.id)


def test_pruned_messages_leave_the_search_index(stores: Stores) -> None:
    """Search must not find text the cap deleted (the index is kept in the same commit)."""
    store = stores.open(max_messages_per_conversation=2)
    conv = store.create_conversation(title="capped notes")
    for word in ("alpaca", "bison", "cheetah"):
        store.append_message(conv.id, "user", f"the {word} runs")
    assert store.search("alpaca").items == []
    hits = store.search("cheetah").items
    assert [(h.conversation_id, h.seq) for h in hits] == [(conv.id, 3)]
    assert [h.seq for h in store.search("bison").items] == [2]
    assert [h.message_id for h in store.search("capped").items] == [None]


def test_idempotent_retry_at_the_cap_writes_nothing(stores: Stores) -> None:
    """A retried append returns the stored message and prunes nothing more."""
    store = stores.open(max_messages_per_conversation=3)
    conv = store.create_conversation()
    for i in range(3):
        store.append_message(conv.id, "user", f"m{i}")
    first = store.append_message(conv.id, "user", "keyed", idempotency_key="k1")
    before = snapshot(store, conv.id)
    again = store.append_message(conv.id, "user", "keyed", idempotency_key="k1")
    assert again == first
    assert snapshot(store, conv.id) == before
    batch = store.append_messages(
        conv.id,
        [MessageDraft("user", "keyed", idempotency_key="k1"), MessageDraft("user", "new")],
    )
    assert batch[0] == first
    assert contents(store, conv.id) == ["m2", "keyed", "new"]
    _assert_consistent(store, conv.id)


def test_conditional_append_at_the_cap(stores: Stores) -> None:
    """expected_last_seq compares with last_seq, which pruning never lowers."""
    store = stores.open(max_messages_per_conversation=2)
    conv = store.create_conversation()
    for i in range(4):
        store.append_message(conv.id, "user", f"m{i}")
    message = store.append_message(conv.id, "user", "next", expected_last_seq=4)
    assert message.seq == 5
    before = snapshot(store, conv.id)
    with pytest.raises(Conflict, match="expected last seq 4, it is 5"):
        store.append_message(conv.id, "user", "stale", expected_last_seq=4)
    assert snapshot(store, conv.id) == before


def test_pruning_is_announced(stores: Stores) -> None:
    """Subscribers learn that old messages went (a UI showing them must reload)."""
    store = stores.open(max_messages_per_conversation=2)
    conv = store.create_conversation()
    store.append_messages(conv.id, [MessageDraft("user", f"m{i}") for i in range(5)])
    updates = [e for e in stores.events if e.type == "conversation.updated"]
    assert [(e.conversation_id, e.data) for e in updates] == [
        (conv.id, {"fields": ["messages"], "pruned": 3})
    ]
    created = [e.data["seq"] for e in stores.events if e.type == "message.created"]
    assert created == [1, 2, 3, 4, 5]


def test_pop_clear_and_fork_under_the_cap(stores: Stores) -> None:
    """Pop gives its seq back, clear starts again at 1, a fork copies the kept range."""
    store = stores.open(max_messages_per_conversation=3)
    conv = store.create_conversation()
    for i in range(6):
        store.append_message(conv.id, "user", f"m{i}")
    assert seqs(store, conv.id) == [4, 5, 6]
    popped = store.pop_message(conv.id)
    assert popped is not None and popped.seq == 6
    assert store.append_message(conv.id, "user", "again").seq == 6
    assert seqs(store, conv.id) == [4, 5, 6]
    fork = store.fork_conversation(conv.id, up_to_seq=5)
    assert (fork.message_count, fork.last_seq) == (2, 5)
    assert seqs(store, fork.id) == [4, 5]
    _assert_consistent(store, fork.id)
    assert store.clear_messages(conv.id) == 3
    assert store.append_message(conv.id, "user", "fresh").seq == 1
    _assert_consistent(store, conv.id)


def test_fork_from_a_pruned_seq_starts_empty(stores: Stores) -> None:
    """Forking at a seq the cap already pruned copies nothing; the fork stays usable
    (pop has nothing to pop, the next append follows the forked seq)."""
    store = stores.open(max_messages_per_conversation=2)
    conv = store.create_conversation()
    for i in range(5):
        store.append_message(conv.id, "user", f"m{i}")
    fork = store.fork_conversation(conv.id, up_to_seq=2)
    assert (fork.message_count, fork.last_seq) == (0, 2)
    assert store.pop_message(fork.id) is None
    assert store.get_conversation(fork.id).message_count == 0
    assert store.append_message(fork.id, "user", "branch").seq == 3
    _assert_consistent(store, fork.id)


def test_a_lower_cap_applies_at_the_next_append(stores: Stores) -> None:
    """Lowering the setting trims an existing conversation on its next append."""
    roomy = stores.open(max_messages_per_conversation=10)
    conv = roomy.create_conversation()
    roomy.append_messages(conv.id, [MessageDraft("user", f"m{i}", tokens=1) for i in range(10)])
    tight = stores.open(max_messages_per_conversation=4)
    tight.append_message(conv.id, "user", "m10", tokens=1)
    assert contents(tight, conv.id) == ["m7", "m8", "m9", "m10"]
    _assert_consistent(tight, conv.id)


def test_no_cap_by_default(stores: Stores) -> None:
    """Off unless configured: nothing is ever deleted by appending."""
    store = stores.open()
    conv = store.create_conversation()
    store.append_messages(conv.id, [MessageDraft("user", f"m{i}") for i in range(300)])
    assert store.get_conversation(conv.id).message_count == 300
    assert seqs(store, conv.id) == list(range(1, 301))


def test_concurrent_appends_under_the_cap(db_url: str) -> None:
    """Writers racing past the cap leave exactly the newest ``cap``, counters right.

    Guards against a prune computed outside the writer's lock (two writers would
    delete on a stale last_seq and leave too few or too many messages).
    """
    with Stores(db_url, "sync") as stores:
        store = stores.open(max_messages_per_conversation=10)
        conv = store.create_conversation()

        def writer(name: str) -> Callable[[], None]:
            def work() -> None:
                for i in range(15):
                    if i % 3 == 0:
                        drafts = [MessageDraft("user", f"{name}{i}{j}", tokens=1) for j in "ab"]
                        store.append_messages(conv.id, drafts)
                    else:
                        store.append_message(conv.id, "assistant", f"{name}{i}", tokens=1)

            return work

        assert race(writer("a"), writer("b"), writer("c")) == []
        after = store.get_conversation(conv.id)
        assert (after.message_count, after.last_seq, after.token_count) == (10, 60, 10)
        assert seqs(store, conv.id) == list(range(51, 61))
        _assert_consistent(store, conv.id)


# ------------------------------------------------------------------------ property

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 9), st.booleans()),
        st.tuples(st.just("pop"), st.just(0), st.just(False)),
        st.tuples(st.just("clear"), st.just(0), st.just(False)),
    ),
    max_size=12,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cap=st.integers(1, 6), operations=OPERATIONS)
def test_cap_matches_a_list_model(db_url: str, cap: int, operations: list[Any]) -> None:
    """Under any mix of appends (batches, text or tool calls), pops and clears, the
    conversation is the newest ``cap`` of what a plain list holds, with right counters."""
    with Stores(db_url, "sync") as stores:
        store = stores.open(max_messages_per_conversation=cap)
        conv = store.create_conversation()
        model: list[str] = []
        counter = 0
        for name, size, text in operations:
            if name == "append":
                drafts = []
                for _ in range(size):
                    counter += 1
                    kind = "text" if text or counter % 2 else "tool_call"
                    drafts.append(MessageDraft("user", f"c{counter}", kind=kind, tokens=counter))
                store.append_messages(conv.id, drafts)
                model = (model + [d.content for d in drafts])[-cap:]
            elif name == "pop":
                store.pop_message(conv.id)
                model = model[:-1]
            else:
                store.clear_messages(conv.id)
                model = []
            assert contents(store, conv.id) == model
            _assert_consistent(store, conv.id)
