"""``ThreadkeepChatMessageHistory``: langchain-core's chat history on threadkeep, on both
engines, sync and async.

Guards against: a second turn (in a new process, through a fresh store) whose model does
not see the first; messages that come back changed (ids, ``additional_kwargs``, tool
calls, usage lost); a half-written batch; the async methods diverging from the sync ones;
two users with the same session string sharing a history; a first write racing another
into an error; conversations written by other surfaces or imported from a LangChain
``SQLChatMessageHistory`` that read back wrong or twice; and a missing langchain-core
that fails without saying what to install.

The model is langchain-core's own ``GenericFakeChatModel`` behind a step that records
the messages the chain hands it, so the history goes through the real
``RunnableWithMessageHistory``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sqlite3
import sys
import warnings
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from langchain_core._api.deprecation import LangChainDeprecationWarning
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
)
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory

from threadkeep import ConversationStore, Settings, open_store
from threadkeep.adapters.langchain import ThreadkeepChatMessageHistory
from threadkeep.adapters.sessions import conversation_id_for
from threadkeep.errors import InvalidInput, NotFound, TooLarge
from threadkeep.transfer.importer import import_paths

CALL = {"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_1", "type": "tool_call"}


class Recorder:
    """A chain step that remembers the messages each model call was given."""

    def __init__(self) -> None:
        self.seen: list[list[BaseMessage]] = []

    def __call__(self, value: list[BaseMessage]) -> list[BaseMessage]:
        self.seen.append(list(value))
        return value


def chain_over(store: ConversationStore, replies: list[str], recorder: Recorder) -> Any:
    """``RunnableWithMessageHistory`` over a fake chat model, histories in ``store``."""
    model = RunnableLambda(recorder) | GenericFakeChatModel(messages=iter(replies))
    # Deprecated in langchain-core 1.x in favour of LangGraph, still the documented way
    # to use a BaseChatMessageHistory; only that warning is ignored, only here.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="RunnableWithMessageHistory", category=LangChainDeprecationWarning
        )
        return RunnableWithMessageHistory(
            model, lambda session_id: ThreadkeepChatMessageHistory(session_id, store)
        )


def session(session_id: str) -> dict[str, Any]:
    return {"configurable": {"session_id": session_id}}


def test_the_second_turn_sees_the_first_through_a_reopened_store(
    db_url: str,
) -> None:
    """Turn two, in a fresh store on the same database (a restarted process), hands
    the model turn one's question and answer before the new question."""
    settings = Settings.load()
    first = Recorder()
    with open_store(db_url, settings=settings) as store:
        reply = chain_over(store, ["Hello Ada."], first).invoke(
            "Hi, I'm Ada.", config=session("user_123")
        )
        assert reply.content == "Hello Ada."
        assert [m.content for m in first.seen[0]] == ["Hi, I'm Ada."]

    second = Recorder()
    with open_store(db_url, settings=settings) as store:
        chain_over(store, ["You are Ada."], second).invoke(
            "What's my name?", config=session("user_123")
        )
        seen = second.seen[0]
        assert [(type(m), m.content) for m in seen] == [
            (HumanMessage, "Hi, I'm Ada."),
            (AIMessage, "Hello Ada."),
            (HumanMessage, "What's my name?"),
        ]
        assert seen[1].id == reply.id
        cid = conversation_id_for("user_123", "local")
        rows = store.get_messages(cid)
        assert [(r.role, r.kind, r.content) for r in rows] == [
            ("user", "text", "Hi, I'm Ada."),
            ("assistant", "text", "Hello Ada."),
            ("user", "text", "What's my name?"),
            ("assistant", "text", "You are Ada."),
        ]
        conversation = store.get_conversation(cid)
        assert (conversation.mode, conversation.context) == (
            "langchain",
            {"framework": "langchain", "session_id": "user_123"},
        )


def test_async_turns_see_each_other(db_url: str) -> None:
    """``ainvoke`` goes through ``aget_messages``/``aadd_messages``: the second async
    turn sees the first, and a sync reader sees what the async turns wrote."""
    recorder = Recorder()
    with open_store(db_url, settings=Settings.load()) as store:
        chain = chain_over(store, ["one", "two"], recorder)

        async def two_turns() -> None:
            await chain.ainvoke("first", config=session("async"))
            await chain.ainvoke("second", config=session("async"))

        asyncio.run(two_turns())
        assert [m.content for m in recorder.seen[1]] == ["first", "one", "second"]
        history = ThreadkeepChatMessageHistory("async", store)
        assert [m.content for m in history.messages] == ["first", "one", "second", "two"]
        assert [m.content for m in asyncio.run(history.aget_messages())] == [
            "first",
            "one",
            "second",
            "two",
        ]


MESSAGES: list[tuple[BaseMessage, tuple[str, str, str]]] = [
    (SystemMessage("Be brief.", id="s1"), ("system", "text", "Be brief.")),
    (
        HumanMessage(
            [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
            id="h1",
            name="ada",
        ),
        ("user", "text", "What is in this picture?"),
    ),
    (
        AIMessage(
            "",
            id="a1",
            tool_calls=[CALL],
            additional_kwargs={"refusal": None, "extra": [1, 2.5, "ü"]},
            response_metadata={"model_name": "fake", "finish_reason": "tool_calls"},
            usage_metadata={"input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
        ),
        ("assistant", "tool_call", '{"name": "get_weather", "arguments": {"city": "Oslo"}}'),
    ),
    (
        ToolMessage("12 degrees", tool_call_id="call_1", name="get_weather", status="success"),
        ("tool", "tool_result", "12 degrees"),
    ),
    (
        AIMessage("Checking both.", tool_calls=[CALL, {**CALL, "id": "call_2"}]),
        ("assistant", "text", "Checking both."),
    ),
    (
        AIMessage("", tool_calls=[CALL, {**CALL, "id": "call_3", "args": {"city": "Rome"}}]),
        (
            "assistant",
            "tool_call",
            '[{"name": "get_weather", "arguments": {"city": "Oslo"}}, '
            '{"name": "get_weather", "arguments": {"city": "Rome"}}]',
        ),
    ),
    (FunctionMessage(content="done", name="legacy"), ("tool", "tool_result", "done")),
    (ChatMessage(content="Looks right.", role="critic"), ("user", "text", "Looks right.")),
    (ChatMessage(content="Noted.", role="assistant"), ("assistant", "text", "Noted.")),
    (AIMessage("12 degrees in Oslo.", id="a2"), ("assistant", "text", "12 degrees in Oslo.")),
]


def test_messages_round_trip_with_real_columns(store: ConversationStore) -> None:
    """What ``messages`` returns equals what was added — type, content, id, name,
    additional_kwargs, response metadata, tool calls, usage — while role, kind and
    content are columns search and the web page use."""
    history = ThreadkeepChatMessageHistory("shapes", store)
    added = [message for message, _ in MESSAGES]
    history.add_messages(added)
    got = history.messages
    assert got == added
    assert [type(m) for m in got] == [type(m) for m in added]
    rows = store.get_messages(history.conversation_id)
    assert [(r.role, r.kind, r.content) for r in rows] == [columns for _, columns in MESSAGES]
    assert store.search("Rome").items[0].seq == 6


def test_add_messages_is_one_transaction(db_url: str) -> None:
    """A batch the store refuses part of (one message too large) writes nothing, sync
    or async; a value that is not a chat message is refused before anything is
    written."""
    with open_store(db_url, settings=Settings.load(max_message_bytes=2_000)) as store:
        history = ThreadkeepChatMessageHistory("batch", store)
        history.add_messages([HumanMessage("kept")])
        batch = [HumanMessage("one"), AIMessage("x" * 3_000), HumanMessage("three")]
        with pytest.raises(TooLarge):
            history.add_messages(batch)
        with pytest.raises(TooLarge):
            asyncio.run(history.aadd_messages(batch))
        with pytest.raises(InvalidInput, match="BaseMessage"):
            history.add_messages([HumanMessage("ok"), "a string"])  # type: ignore[list-item]
        with pytest.raises(InvalidInput, match="RemoveMessage"):
            history.add_messages([RemoveMessage(id="h1")])
        assert history.messages == [HumanMessage("kept")]
        assert store.get_conversation(history.conversation_id).message_count == 1


def test_clear_and_a_session_never_written(store: ConversationStore) -> None:
    """An unwritten session reads as empty and creating nothing; ``clear`` and
    ``aclear`` empty a session and keep its conversation."""
    history = ThreadkeepChatMessageHistory("fresh", store)
    assert history.messages == []
    assert asyncio.run(history.aget_messages()) == []
    history.clear()
    asyncio.run(history.aclear())
    with pytest.raises(NotFound):
        store.get_conversation(history.conversation_id)

    history.add_user_message("hello")
    history.add_ai_message("hi")
    assert [m.content for m in history.messages] == ["hello", "hi"]
    history.clear()
    assert history.messages == []
    asyncio.run(history.aadd_messages([HumanMessage("again")]))
    asyncio.run(history.aclear())
    assert history.messages == []
    assert store.get_conversation(history.conversation_id).message_count == 0


def test_two_owners_with_one_session_string_are_isolated(store: ConversationStore) -> None:
    """Alice's and Bob's "default" histories are two conversations; clearing one leaves
    the other, and Bob cannot reach Alice's by its UUID."""
    alice = ThreadkeepChatMessageHistory("default", store, owner="alice")
    bob = ThreadkeepChatMessageHistory("default", store, owner="bob")
    alice.add_messages([HumanMessage("alice's secret")])
    bob.add_messages([HumanMessage("bob's note")])
    assert alice.conversation_id != bob.conversation_id
    assert alice.messages == [HumanMessage("alice's secret")]
    bob.clear()
    assert alice.messages == [HumanMessage("alice's secret")]
    intruder = ThreadkeepChatMessageHistory(alice.conversation_id, store, owner="bob")
    assert intruder.messages == []
    with pytest.raises(NotFound):
        intruder.add_messages([HumanMessage("let me in")])


def test_first_writes_racing_on_a_new_session_all_land(store: ConversationStore) -> None:
    """Several histories making the first write of one session at once: every append
    finds no conversation, every one tries to create it, all but one get ``Conflict``
    — which must mean "it exists now, go on", not an error."""
    histories = [ThreadkeepChatMessageHistory("racy", store) for _ in range(6)]

    async def all_at_once() -> None:
        await asyncio.gather(
            *(
                history.aadd_messages([HumanMessage(f"writer {n}")])
                for n, history in enumerate(histories)
            )
        )

    asyncio.run(all_at_once())
    contents = [m.content for m in histories[0].messages]
    assert sorted(contents) == [f"writer {n}" for n in range(6)]


def test_rows_written_by_other_surfaces_read_as_messages(store: ConversationStore) -> None:
    """A history pointed at a conversation the runtime wrote reads its text as Human/AI
    messages, its tool rows as the tool call and tool message they were, and other
    rows as labelled text."""
    cid = store.create_conversation().id
    store.append_message(cid, "user", "What time is it?")
    store.append_message(
        cid,
        "assistant",
        '{"name": "clock", "arguments": {"tz": "UTC"}}',
        kind="tool_call",
        metadata={"call_id": "call_9", "name": "clock"},
    )
    store.append_message(cid, "tool", "12:00", kind="tool_result", metadata={"call_id": "call_9"})
    store.append_message(cid, "assistant", "It is noon.")
    store.append_message(cid, "assistant", "provider failed", kind="error")
    store.append_message(cid, "assistant", "not a message", metadata={"message": {"x": 1}})

    assert ThreadkeepChatMessageHistory(cid, store).messages == [
        HumanMessage("What time is it?"),
        AIMessage("", tool_calls=[{"name": "clock", "args": {"tz": "UTC"}, "id": "call_9"}]),
        ToolMessage("12:00", tool_call_id="call_9"),
        AIMessage("It is noon."),
        AIMessage("[error] provider failed"),
        AIMessage("not a message"),
    ]


def test_an_imported_sql_chat_history_reads_back_as_it_was(
    store: ConversationStore, tmp_path: Path
) -> None:
    """A LangChain ``SQLChatMessageHistory`` file imported with ``langchain-sql`` (which
    stores each tool call also as a row of its own) reads back through the adapter as
    the messages that were in the file, each once."""
    original = [
        SystemMessage("Be brief."),
        HumanMessage("Weather in Oslo and Rome?"),
        AIMessage("Checking.", tool_calls=[CALL, {**CALL, "id": "call_2"}], id="a1"),
        ToolMessage("12 degrees", tool_call_id="call_1"),
        ToolMessage("20 degrees", tool_call_id="call_2"),
        AIMessage("", tool_calls=[{**CALL, "id": "call_3"}], id="a2"),
        AIMessage("Oslo 12, Rome 20."),
    ]
    path = tmp_path / "chat.db"
    # SQLChatMessageHistory's table and encoding: one json.dumps(message_to_dict(m)) a row.
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "CREATE TABLE message_store (id INTEGER PRIMARY KEY, session_id TEXT, message TEXT)"
        )
        conn.executemany(
            "INSERT INTO message_store (session_id, message) VALUES (?, ?)",
            [("s-1", json.dumps(message_to_dict(m))) for m in original],
        )
    import_paths(store, [path], format="langchain-sql")
    [conversation] = store.list_conversations().items
    assert conversation.message_count > len(original)  # the calls' own rows
    assert ThreadkeepChatMessageHistory(conversation.id, store).messages == original


def test_the_embedded_default_is_opened_and_closed_by_the_history() -> None:
    """``store=None`` opens the embedded default (``THREADKEEP_HOME``, per test) and
    closing the history closes it; what was written is there for the next process."""
    with ThreadkeepChatMessageHistory("home") as history:
        history.add_messages([HumanMessage("persisted")])
    with open_store() as store:
        assert [m.content for m in store.get_messages(history.conversation_id)] == ["persisted"]


@pytest.fixture
def langchain_hidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``import langchain_core`` fails as it does when it is not installed."""
    hidden = [n for n in sys.modules if n == "langchain_core" or n.startswith("langchain_core.")]
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    monkeypatch.delitem(sys.modules, "threadkeep.adapters.langchain")
    yield


@pytest.mark.usefixtures("langchain_hidden")
def test_without_langchain_the_import_error_says_what_to_install() -> None:
    with pytest.raises(ImportError, match=r"pip install 'threadkeep\[langchain\]'"):
        importlib.import_module("threadkeep.adapters.langchain")
