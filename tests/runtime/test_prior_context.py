"""Context re-injection (SPEC S4.1), on SQLite and PostgreSQL.

The earlier conversation given to a provider that resumes without its own session: the
last messages within the budget, each cut to its character limit and marked, the
oldest dropped first for a token budget, and every message not shown counted in one
"(N earlier messages not shown)" line — in both renderings.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator

import pytest

from threadkeep import (
    AsyncConversationStore,
    ConversationStore,
    InvalidInput,
    MessageDraft,
    NotFound,
    Settings,
    open_store,
)
from threadkeep.runtime.prior_context import (
    CUT_MARKER,
    ContextBudget,
    PriorContext,
    build_prior_context,
    build_prior_context_async,
    estimate_tokens,
)


def _conversation_of(store: ConversationStore, n: int) -> str:
    """A conversation of ``n`` alternating user/assistant messages ``m1``..``mn``."""
    conversation = store.create_conversation()
    store.append_messages(
        conversation.id,
        [MessageDraft("user" if i % 2 else "assistant", f"m{i}") for i in range(1, n + 1)],
    )
    return conversation.id


def test_default_budget_keeps_the_last_30_of_45(store: ConversationStore) -> None:
    """Guards the SPEC defaults: the newest 30 shown oldest first, the other 15 counted."""
    cid = _conversation_of(store, 45)

    context = build_prior_context(store, cid)

    assert [m.seq for m in context.messages] == list(range(16, 46))
    assert [m.content for m in context.messages] == [f"m{i}" for i in range(16, 46)]
    assert context.left_out == 15
    section = context.as_system_section()
    assert "(15 earlier messages not shown)" in section
    assert section.index("(15 earlier messages not shown)") < section.index("m16")
    assert section.rstrip().endswith("user: m45")


def test_long_content_is_cut_at_500_with_the_marker(store: ConversationStore) -> None:
    """Guards against one huge message (a pasted log) flooding the re-injected context,
    and against a cut the model cannot see."""
    cid = store.create_conversation().id
    long_text = "".join(chr(ord("a") + i % 26) for i in range(2_000))
    store.append_message(cid, "user", long_text)
    store.append_message(cid, "assistant", "x" * 500)

    long_message, exact = build_prior_context(store, cid).messages

    assert long_message.cut
    assert long_message.content == long_text[:500] + CUT_MARKER
    assert not exact.cut
    assert exact.content == "x" * 500


def test_max_chars_budget_is_used_for_the_cut(store: ConversationStore) -> None:
    """Guards that a caller's ``max_chars`` replaces the default 500."""
    cid = store.create_conversation().id
    store.append_message(cid, "user", "0123456789abcdef")

    (message,) = build_prior_context(store, cid, budget=ContextBudget(max_chars=10)).messages

    assert message.content == "0123456789" + CUT_MARKER
    assert message.cut


def test_token_budget_drops_the_oldest_first_and_counts_them(store: ConversationStore) -> None:
    """Guards the order of dropping (oldest first, never a gap) and the left-out count:
    stored token counts are used when present, the chars/4 estimate otherwise."""
    cid = store.create_conversation().id
    store.append_messages(
        cid,
        [
            MessageDraft("user", "first", tokens=100),
            MessageDraft("assistant", "second", tokens=1),  # would fit, but is older
            MessageDraft("user", "third", tokens=45),  # 110 + 45 > 150: the first to go
            MessageDraft("assistant", "fourth", tokens=100),
            MessageDraft("user", "y" * 40),  # no stored count: ceil(40 / 4) = 10
        ],
    )

    context = build_prior_context(store, cid, budget=ContextBudget(max_tokens=150))

    assert [m.content for m in context.messages] == ["fourth", "y" * 40]
    assert [m.tokens for m in context.messages] == [100, 10]
    assert context.tokens == 110
    assert context.left_out == 3
    assert context.as_chat_messages()[0] == {
        "role": "system",
        "content": "(3 earlier messages not shown)",
    }


def test_token_budget_estimates_a_cut_message_from_the_text_shown(
    store: ConversationStore,
) -> None:
    """Guards against charging a cut message its stored count of the whole content."""
    cid = store.create_conversation().id
    store.append_message(cid, "user", "z" * 5_000, tokens=1_250)

    (message,) = build_prior_context(store, cid).messages

    assert message.tokens == estimate_tokens("z" * 500 + CUT_MARKER)
    assert estimate_tokens("z" * 41) == math.ceil(41 / 4) == 11


def test_a_newest_message_over_the_token_budget_leaves_nothing(store: ConversationStore) -> None:
    """Guards that the token budget is a limit, not a hint: all left out, and said so."""
    cid = store.create_conversation().id
    store.append_message(cid, "user", "hello", tokens=50)

    context = build_prior_context(store, cid, budget=ContextBudget(max_tokens=10))

    assert context.messages == ()
    assert context.left_out == 1
    assert context.as_system_section().endswith("(1 earlier message not shown)")
    assert context.as_chat_messages() == [
        {"role": "system", "content": "(1 earlier message not shown)"}
    ]


def test_before_seq_excludes_the_message_just_stored(store: ConversationStore) -> None:
    """Guards against the pipeline's new user message appearing twice (as history and
    as the prompt), and against counting it as left out."""
    cid = _conversation_of(store, 35)
    new = store.append_message(cid, "user", "the new question")

    context = build_prior_context(store, cid, before_seq=new.seq)

    assert [m.seq for m in context.messages] == list(range(6, 36))
    assert context.left_out == 5
    assert all("the new question" not in m["content"] for m in context.as_chat_messages())


def test_before_seq_with_few_messages_shows_them_all(store: ConversationStore) -> None:
    """Guards the first turn after one exchange: nothing left out, no left-out line."""
    cid = _conversation_of(store, 3)

    context = build_prior_context(store, cid, before_seq=3)

    assert [m.content for m in context.messages] == ["m1", "m2"]
    assert context.left_out == 0
    assert "not shown" not in context.as_system_section()


def test_before_the_first_message_there_is_no_prior_conversation(
    store: ConversationStore,
) -> None:
    """Guards the very first send: the user message just stored is seq 1."""
    cid = _conversation_of(store, 1)

    context = build_prior_context(store, cid, before_seq=1)

    assert context.empty
    assert context.as_system_section() == ""
    assert context.as_chat_messages() == []


def test_an_empty_conversation_gives_no_section_and_no_messages(
    store: ConversationStore,
) -> None:
    """Guards against a dangling heading or a "(0 earlier messages...)" line in a
    prompt when there is nothing to resume."""
    cid = store.create_conversation().id

    context = build_prior_context(store, cid)

    assert context == PriorContext(cid, (), 0)
    assert context.as_system_section() == ""
    assert context.as_chat_messages() == []


def test_chat_messages_keep_roles_and_order(store: ConversationStore) -> None:
    """Guards the stateless rendering: oldest first, user/assistant roles kept, the
    left-out line first as a system message."""
    cid = _conversation_of(store, 4)

    context = build_prior_context(store, cid, budget=ContextBudget(max_messages=3))

    assert context.as_chat_messages() == [
        {"role": "system", "content": "(1 earlier message not shown)"},
        {"role": "assistant", "content": "m2"},
        {"role": "user", "content": "m3"},
        {"role": "assistant", "content": "m4"},
    ]


def test_no_leading_system_message_when_nothing_is_left_out(store: ConversationStore) -> None:
    """Guards against an empty or "(0 ...)" system message sent to a provider."""
    cid = _conversation_of(store, 2)

    assert build_prior_context(store, cid).as_chat_messages() == [
        {"role": "user", "content": "m1"},
        {"role": "assistant", "content": "m2"},
    ]


def test_tool_messages_are_condensed_and_system_messages_skipped(
    store: ConversationStore,
) -> None:
    """Guards which kinds are re-injected: tool calls and results as labelled notes,
    system prompts, artifacts, errors and blank messages skipped and counted as left out."""
    cid = store.create_conversation().id
    store.append_messages(
        cid,
        [
            MessageDraft("system", "You are a pirate."),
            MessageDraft("user", "run the tests"),
            MessageDraft("assistant", "  "),
            MessageDraft("assistant", "pytest -q", kind="tool_call"),
            MessageDraft("tool", "3 passed\n", kind="tool_result"),
            MessageDraft("system", "diff.patch", kind="system_artifact"),
            MessageDraft("assistant", "provider timed out", kind="error"),
            MessageDraft("assistant", "All 3 pass."),
        ],
    )

    context = build_prior_context(store, cid)

    assert [m.seq for m in context.messages] == [2, 4, 5, 8]
    assert context.left_out == 4
    assert context.as_system_section() == (
        "Earlier in this conversation (oldest first):\n"
        "(4 earlier messages not shown)\n\n"
        "user: run the tests\n\n"
        "tool call: pytest -q\n\n"
        "tool result: 3 passed\n\n"
        "assistant: All 3 pass."
    )
    assert context.as_chat_messages()[1:] == [
        {"role": "user", "content": "run the tests"},
        {"role": "assistant", "content": "[tool call] pytest -q"},
        {"role": "assistant", "content": "[tool result] 3 passed"},
        {"role": "assistant", "content": "All 3 pass."},
    ]


@pytest.fixture
def capped_store(db_url: str) -> Iterator[ConversationStore]:
    settings = Settings.load(max_messages_per_conversation=40)
    with open_store(db_url, settings=settings) as opened:
        yield opened


def test_left_out_counts_come_from_the_counters_of_a_capped_conversation(
    capped_store: ConversationStore,
) -> None:
    """Guards the count when the cap pruned the oldest (seqs start above 1): only the
    messages still stored, and before ``before_seq``, are counted as left out."""
    cid = _conversation_of(capped_store, 45)  # seqs 6..45 remain

    assert build_prior_context(capped_store, cid).left_out == 10
    before = build_prior_context(capped_store, cid, before_seq=40)
    assert [m.seq for m in before.messages] == list(range(10, 40))
    assert before.left_out == 4


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"max_messages": 0}, "max_messages"),
        ({"max_messages": -3}, "max_messages"),
        ({"max_messages": 100_001}, "max_messages"),
        ({"max_messages": True}, "max_messages"),
        ({"max_chars": 0}, "max_chars"),
        ({"max_chars": 2.5}, "max_chars"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -100}, "max_tokens"),
    ],
)
def test_invalid_budgets_raise_invalid_input(fields: dict[str, object], named: str) -> None:
    """Guards against a budget that silently shows nothing (or everything): the error
    names the field and what it accepts."""
    with pytest.raises(InvalidInput, match=named) as raised:
        ContextBudget(**fields)  # type: ignore[arg-type]
    assert "got" in raised.value.message


def test_a_bad_before_seq_or_budget_type_raises_invalid_input(store: ConversationStore) -> None:
    """Guards the other arguments' checks, before anything is read."""
    cid = _conversation_of(store, 2)
    with pytest.raises(InvalidInput, match="before_seq"):
        build_prior_context(store, cid, before_seq=-1)
    with pytest.raises(InvalidInput, match="ContextBudget"):
        build_prior_context(store, cid, budget={"max_messages": 5})  # type: ignore[arg-type]


def test_an_unknown_conversation_is_not_found(store: ConversationStore) -> None:
    """Guards against an empty context for a missing id (and for another owner's
    conversation): the caller must be able to tell it from an empty conversation."""
    with pytest.raises(NotFound):
        build_prior_context(store, "0190b6f6-0000-7000-8000-000000000000")
    cid = _conversation_of(store, 2)
    with pytest.raises(NotFound):
        build_prior_context(store.as_owner("someone-else"), cid)


def test_the_async_twin_gives_the_same_context(store: ConversationStore) -> None:
    """Guards the coroutine entry point against drifting from the sync one."""
    cid = _conversation_of(store, 12)
    budget = ContextBudget(max_messages=5, max_chars=2)

    async def build() -> PriorContext:
        return await build_prior_context_async(
            AsyncConversationStore(store), cid, budget=budget, before_seq=12
        )

    assert asyncio.run(build()) == build_prior_context(store, cid, budget=budget, before_seq=12)
