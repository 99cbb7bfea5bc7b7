"""Property tests of the store's invariants, on SQLite and PostgreSQL (STYLE 8).

* Content and metadata round-trip exactly: any Unicode text a database can hold (every
  code point but lone surrogates, which have no UTF-8 form, and NUL, which PostgreSQL
  cannot store — both refused as InvalidInput on every engine, checked here too).
* Seqs stay ``1..message_count`` under any sequence of append / append many / pop /
  clear / fork, and the contents stay what a plain list model says they are.
* An idempotency key is written once, however the retries are batched.

One store per test (``store`` over ``db_url``); every example works in conversations of
its own, so examples do not see each other.
"""

from __future__ import annotations

import operator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadkeep import ConversationStore, InvalidInput, MessageDraft

PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Every code point with a UTF-8 form (so no lone surrogates), except NUL.
STORABLE = st.characters(codec="utf-8", exclude_characters="\x00")

CONTENT = st.one_of(
    st.text(STORABLE, max_size=300),
    # Long text: a random chunk repeated up to a few thousand times.
    st.builds(operator.mul, st.text(STORABLE, min_size=1, max_size=8), st.integers(500, 4000)),
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(STORABLE, max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(STORABLE, max_size=8), children)
    ),
    max_leaves=15,
)


@PROPERTY_SETTINGS
@given(content=CONTENT)
def test_content_round_trips(store: ConversationStore, content: str) -> None:
    """Whatever text is appended or written by update_message reads back identical."""
    conv = store.create_conversation()
    appended = store.append_message(conv.id, "user", content)
    assert appended.content == content
    assert store.get_messages(conv.id)[0].content == content
    assert store.tail_messages(conv.id, 1)[0].content == content
    reply = store.append_message(conv.id, "assistant", "", status="streaming")
    store.update_message(conv.id, reply.id, content=content, status="complete")
    assert store.get_messages(conv.id, after_seq=1)[0].content == content


def _same_json(stored: Any, given: Any) -> bool:
    """Equal as JSON: same structure, strings, booleans and nulls; numbers by value.

    Numbers are compared as JSON numbers (an int and a float of the same value match)
    because jsonb prints a float such as 1e16 without a fraction; that the Python type
    survives is checked separately (``test_float_metadata_stays_float``).
    """
    if isinstance(stored, bool) or isinstance(given, bool):
        return type(stored) is type(given) and stored == given
    if isinstance(stored, int | float) and isinstance(given, int | float):
        return stored == given if type(stored) is type(given) else float(stored) == float(given)
    if isinstance(stored, dict) and isinstance(given, dict):
        return stored.keys() == given.keys() and all(
            _same_json(stored[key], given[key]) for key in given
        )
    if isinstance(stored, list) and isinstance(given, list):
        return len(stored) == len(given) and all(
            _same_json(a, b) for a, b in zip(stored, given, strict=True)
        )
    return type(stored) is type(given) and bool(stored == given)


@PROPERTY_SETTINGS
@given(metadata=JSON)
def test_metadata_round_trips(store: ConversationStore, metadata: Any) -> None:
    """Any JSON value stored as metadata reads back the same (jsonb on PostgreSQL included)."""
    conv = store.create_conversation()
    store.append_message(conv.id, "tool", "result", kind="tool_result", metadata=metadata)
    stored = store.get_messages(conv.id)[0].metadata
    assert _same_json(stored, metadata), (stored, metadata)


@PROPERTY_SETTINGS
@given(
    before=st.text(STORABLE, max_size=20),
    after=st.text(STORABLE, max_size=20),
    where=st.sampled_from(["content", "metadata"]),
)
def test_nul_is_refused_everywhere(
    store: ConversationStore, before: str, after: str, where: str
) -> None:
    """Text with NUL is InvalidInput on every engine (PostgreSQL cannot store it); no write."""
    conv = store.create_conversation()
    text = before + "\x00" + after
    with pytest.raises(InvalidInput, match="NUL"):
        if where == "content":
            store.append_message(conv.id, "user", text)
        else:
            store.append_message(conv.id, "user", "x", metadata={"k": [text]})
    assert store.get_conversation(conv.id).message_count == 0


# ---------------------------------------------------------------------------- seqs

OPERATION = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 7), st.integers(1, 1)),
    st.tuples(st.just("append_many"), st.integers(0, 7), st.integers(1, 5)),
    st.tuples(st.just("pop"), st.integers(0, 7), st.just(0)),
    st.tuples(st.just("clear"), st.integers(0, 7), st.just(0)),
    st.tuples(st.just("fork"), st.integers(0, 7), st.integers(0, 100)),
)


def _check(store: ConversationStore, conversation_id: str, model: list[str]) -> None:
    messages = store.get_messages(conversation_id)
    assert [m.seq for m in messages] == list(range(1, len(model) + 1))
    assert [m.content for m in messages] == model
    conversation = store.get_conversation(conversation_id)
    assert conversation.message_count == conversation.last_seq == len(model)


@PROPERTY_SETTINGS
@given(operations=st.lists(OPERATION, min_size=1, max_size=12))
def test_seqs_stay_gapless(
    store: ConversationStore, operations: list[tuple[str, int, int]]
) -> None:
    """Seqs are exactly 1..message_count after any mix of append, pop, clear and fork."""
    conversations = [store.create_conversation().id]
    models: dict[str, list[str]] = {conversations[0]: []}
    counter = 0
    for name, which, amount in operations:
        cid = conversations[which % len(conversations)]
        model = models[cid]
        touched = [cid]
        if name in ("append", "append_many"):
            texts = [f"m{counter + i}" for i in range(amount)]
            counter += amount
            if name == "append":
                written = [store.append_message(cid, "user", texts[0])]
            else:
                written = store.append_messages(cid, [MessageDraft("user", t) for t in texts])
            assert [m.seq for m in written] == list(range(len(model) + 1, len(model) + amount + 1))
            model.extend(texts)
        elif name == "pop":
            popped = store.pop_message(cid)
            if model:
                assert popped is not None and popped.content == model.pop()
                assert popped.seq == len(model) + 1
            else:
                assert popped is None
        elif name == "clear":
            assert store.clear_messages(cid) == len(model)
            model.clear()
        else:
            up_to = amount * len(model) // 100
            fork = store.fork_conversation(cid, up_to_seq=up_to)
            conversations.append(fork.id)
            models[fork.id] = model[:up_to]
            touched.append(fork.id)
        for each in touched:
            _check(store, each, models[each])
    for cid in conversations:
        _check(store, cid, models[cid])


# ---------------------------------------------------------------------------- idempotency

KEY = st.sampled_from(["a", "b", "c", "d", None])


@PROPERTY_SETTINGS
@given(batches=st.lists(st.lists(KEY, min_size=1, max_size=4), min_size=1, max_size=6))
def test_idempotent_append_never_writes_twice(
    store: ConversationStore, batches: list[list[str | None]]
) -> None:
    """However keys repeat across and within batches, each key is stored once, the first time."""
    conv = store.create_conversation()
    first: dict[str, tuple[str, int, str]] = {}
    expected: list[str] = []
    for number, batch in enumerate(batches):
        drafts = [
            MessageDraft("user", f"{key}:{number}:{position}", idempotency_key=key)
            for position, key in enumerate(batch)
        ]
        results = store.append_messages(conv.id, drafts)
        assert len(results) == len(drafts)
        for draft, result in zip(drafts, results, strict=True):
            key = draft.idempotency_key
            if key is None:
                expected.append(draft.content)
                assert result.content == draft.content
            elif key in first:
                assert (result.id, result.seq, result.content) == first[key]
            else:
                first[key] = (result.id, result.seq, result.content)
                expected.append(draft.content)
                assert result.content == draft.content
    messages = store.get_messages(conv.id)
    assert [m.content for m in messages] == expected
    assert [m.seq for m in messages] == list(range(1, len(expected) + 1))
    assert store.get_conversation(conv.id).message_count == len(expected)
