"""``ThreadkeepSession``: the OpenAI Agents SDK ``Session`` on threadkeep, on both engines.

Guards against: a resumed run (a new process, a fresh store) whose model does not see
the earlier turns; items that come back changed (a lost field, a re-shaped tool call);
``get_items(limit)`` returning the oldest items or the newest in the wrong order; a
half-written batch; two users with the same session string reading each other's
history, also when one session object serves both through the run's context; two first
writes of one session racing into an error; rows written by other surfaces that a
session cannot read; and a missing SDK that fails without saying what to install.

The model is a real ``agents`` ``Model`` that runs locally: it records the input the
runner gives it and answers from a script (a tool call, then text), so runs go through
the SDK's own runner, tool execution and session persistence, with no network.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.memory import Session, SessionSettings, SQLiteSession
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from threadkeep import ConversationStore, Settings, open_store
from threadkeep.adapters.openai_agents import ThreadkeepSession
from threadkeep.adapters.sessions import conversation_id_for
from threadkeep.errors import InvalidInput, NotFound, TooLarge
from threadkeep.transfer.importer import import_paths

NO_TRACING = RunConfig(tracing_disabled=True)


class LocalModel(Model):
    """A model that answers from a script and records every input it was given.

    A turn whose input ends with the user's text asks for the weather tool when the
    text mentions the weather; otherwise (and after the tool's output) it answers
    ``reply <n>``, n counting the model calls.
    """

    def __init__(self) -> None:
        self.inputs: list[list[Any]] = []

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        items = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        self.inputs.append(items)
        n = len(self.inputs)
        last = items[-1]
        if last.get("role") == "user" and "weather" in str(last.get("content")):
            call = ResponseFunctionToolCall(
                type="function_call",
                id=f"fc_{n}",
                call_id=f"call_{n}",
                name="weather",
                arguments='{"city": "Oslo"}',
                status="completed",
            )
            return ModelResponse(output=[call], usage=Usage(), response_id=None)
        text = ResponseOutputText(type="output_text", text=f"reply {n}", annotations=[])
        message = ResponseOutputMessage(
            id=f"msg_{n}", type="message", role="assistant", status="completed", content=[text]
        )
        return ModelResponse(output=[message], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[TResponseStreamEvent]:
        raise NotImplementedError("the tests run Runner.run, which does not stream")


@function_tool
def weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny in {city}"


def agent_with(model: LocalModel) -> Agent[Any]:
    return Agent(name="assistant", instructions="Be brief.", model=model, tools=[weather])


def text_of(item: Any) -> str:
    """A message item's text, whether its content is a string or a list of parts."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


@pytest.fixture
def settings() -> Settings:
    return Settings.load()


def test_a_run_in_a_new_process_sees_the_earlier_runs(db_url: str, settings: Settings) -> None:
    """The second run's model input holds the first run's whole history (user text,
    tool call, tool output, reply), read through a fresh store on the same database
    (what a restarted process sees), and the rows have real role/kind/content."""
    first_model = LocalModel()
    with open_store(db_url, settings=settings) as store:
        session = ThreadkeepSession("user_123", store)
        assert isinstance(session, Session)
        result = run(
            Runner.run(
                agent_with(first_model),
                "What's the weather?",
                session=session,
                run_config=NO_TRACING,
            )
        )
        assert result.final_output == "reply 2"
        first_history = run(session.get_items())

    assert [item.get("type") for item in first_history] == [
        None,
        "function_call",
        "function_call_output",
        "message",
    ]

    second_model = LocalModel()
    with open_store(db_url, settings=settings) as reopened:
        session = ThreadkeepSession("user_123", reopened)
        result = run(
            Runner.run(
                agent_with(second_model), "And tomorrow?", session=session, run_config=NO_TRACING
            )
        )
        assert result.final_output == "reply 1"
        assert second_model.inputs[0] == [
            *first_history,
            {"role": "user", "content": "And tomorrow?"},
        ]
        rows = reopened.get_messages(session.conversation_id)
        conversation = reopened.get_conversation(session.conversation_id)

    assert [(row.seq, row.role, row.kind, row.content) for row in rows] == [
        (1, "user", "text", "What's the weather?"),
        (2, "assistant", "tool_call", '{"name": "weather", "arguments": {"city": "Oslo"}}'),
        (3, "tool", "tool_result", "sunny in Oslo"),
        (4, "assistant", "text", "reply 2"),
        (5, "user", "text", "And tomorrow?"),
        (6, "assistant", "text", "reply 1"),
    ]
    assert conversation.id == conversation_id_for("user_123", "local")
    assert conversation.mode == "openai-agents"
    assert conversation.context == {"framework": "openai-agents", "session_id": "user_123"}


# One item of each shape the Responses API input takes, with the columns it gets.
ITEMS: list[tuple[dict[str, Any], tuple[str, str, str, str]]] = [
    ({"role": "user", "content": "plain text"}, ("user", "text", "plain text", "complete")),
    (
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look at this"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
            ],
        },
        ("user", "text", "look at this", "complete"),
    ),
    ({"role": "developer", "content": "be terse"}, ("system", "text", "be terse", "complete")),
    (
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "incomplete",
            "content": [
                {"type": "output_text", "text": "Part one", "annotations": [], "logprobs": []},
                {"type": "refusal", "refusal": "and no more"},
            ],
        },
        ("assistant", "text", "Part one\n\nand no more", "incomplete"),
    ),
    (
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "lookup",
            "arguments": '{"q": "ünïcode", "n": 2}',
            "status": "completed",
        },
        (
            "assistant",
            "tool_call",
            '{"name": "lookup", "arguments": {"q": "ünïcode", "n": 2}}',
            "complete",
        ),
    ),
    (
        {"type": "function_call_output", "call_id": "call_1", "output": "42 results"},
        ("tool", "tool_result", "42 results", "complete"),
    ),
    (
        {
            "type": "custom_tool_call",
            "call_id": "call_2",
            "name": "grep",
            "input": "needle",
        },
        ("assistant", "tool_call", '{"name": "grep", "arguments": "needle"}', "complete"),
    ),
    (
        {
            "type": "computer_call_output",
            "call_id": "call_3",
            "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,AAAA"},
        },
        (
            "tool",
            "tool_result",
            '{"type": "computer_screenshot", "image_url": "data:image/png;base64,AAAA"}',
            "complete",
        ),
    ),
    (
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Thought about it."}],
            "encrypted_content": "opaque==",
        },
        ("assistant", "system_artifact", "Thought about it.", "complete"),
    ),
    (
        {"type": "item_reference", "id": "msg_0"},
        ("system", "system_artifact", "[item_reference]", "complete"),
    ),
    (
        {"role": "assistant", "content": "", "float": 0.1, "nested": {"list": [1, None, True]}},
        ("assistant", "text", "", "complete"),
    ),
]


def test_items_round_trip_exactly_with_real_columns(store: ConversationStore) -> None:
    """What ``get_items`` returns equals what ``add_items`` was given, item for item
    (the raw item in metadata), while each row's role, kind, content and status are
    real columns a search and the web page can use."""
    session = ThreadkeepSession("shapes", store)
    items = [item for item, _ in ITEMS]
    run(session.add_items(items))  # type: ignore[arg-type]
    assert run(session.get_items()) == items
    rows = store.get_messages(session.conversation_id)
    assert [(row.role, row.kind, row.content, row.status) for row in rows] == [
        columns for _, columns in ITEMS
    ]
    assert [row.metadata for row in rows] == [{"item": item} for item in items]
    hits = store.search("ünïcode").items
    assert [hit.seq for hit in hits] == [5]


def test_add_items_is_one_transaction(db_url: str) -> None:
    """A batch with one item the store refuses (too large) writes none of the batch;
    an item that is not an item is refused before anything is written."""
    with open_store(db_url, settings=Settings.load(max_message_bytes=2_000)) as store:
        session = ThreadkeepSession("batch", store)
        run(session.add_items([{"role": "user", "content": "kept"}]))
        batch = [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "x" * 3_000},
            {"role": "user", "content": "third"},
        ]
        with pytest.raises(TooLarge):
            run(session.add_items(batch))  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="role must be one of"):
            run(session.add_items([{"role": "user", "content": "ok"}, {"role": "robot"}]))  # type: ignore[list-item]
        with pytest.raises(InvalidInput, match="JSON object"):
            run(session.add_items(["not an item"]))  # type: ignore[list-item]
        with pytest.raises(InvalidInput, match="JSON-serialisable"):
            run(session.add_items([{"role": "user", "content": "x", "when": object()}]))  # type: ignore[list-item]
        assert run(session.get_items()) == [{"role": "user", "content": "kept"}]
        assert store.get_conversation(session.conversation_id).message_count == 1


def test_get_items_limit_pop_and_clear(store: ConversationStore) -> None:
    """``get_items(limit)`` is the latest N oldest first (the settings' limit when none
    is given); ``pop_item`` removes and returns the newest, ``None`` once empty;
    ``clear_session`` empties the session and keeps its conversation."""
    session = ThreadkeepSession("ops", store)
    items = [{"role": "user" if n % 2 else "assistant", "content": f"m{n}"} for n in range(1, 6)]
    run(session.add_items(items))  # type: ignore[arg-type]

    assert run(session.get_items()) == items
    assert run(session.get_items(2)) == items[-2:]
    assert run(session.get_items(limit=10)) == items
    assert run(session.get_items(0)) == []
    with pytest.raises(InvalidInput, match="limit"):
        run(session.get_items(-1))
    limited = ThreadkeepSession("ops", store, session_settings=SessionSettings(limit=3))
    assert run(limited.get_items()) == items[-3:]
    assert run(limited.get_items(1)) == items[-1:]

    assert run(session.pop_item()) == items[-1]
    assert run(session.pop_item()) == items[-2]
    assert run(session.get_items()) == items[:3]
    run(session.add_items([{"role": "user", "content": "again"}]))
    assert [row.seq for row in store.get_messages(session.conversation_id)] == [1, 2, 3, 4]

    run(session.clear_session())
    assert run(session.get_items()) == []
    assert run(session.pop_item()) is None
    assert store.get_conversation(session.conversation_id).message_count == 0


def test_a_session_never_written_is_empty_and_creates_nothing(store: ConversationStore) -> None:
    """Reads, pops and clears of a new session answer "empty" without creating a
    conversation (a typo'd session id must not litter the sidebar)."""
    session = ThreadkeepSession("never-written", store)
    assert run(session.get_items()) == []
    assert run(session.get_items(3)) == []
    assert run(session.pop_item()) is None
    run(session.clear_session())
    with pytest.raises(NotFound):
        store.get_conversation(session.conversation_id)
    with pytest.raises(InvalidInput, match="session id"):
        ThreadkeepSession("", store)


def test_two_owners_with_one_session_string_are_isolated(store: ConversationStore) -> None:
    """Alice's and Bob's "default" sessions are two conversations; neither reads,
    pops nor clears the other's items, and neither can reach the other's conversation."""
    alice = ThreadkeepSession("default", store, owner="alice")
    bob = ThreadkeepSession("default", store, owner="bob")
    run(alice.add_items([{"role": "user", "content": "alice's secret"}]))
    run(bob.add_items([{"role": "user", "content": "bob's note"}]))

    assert alice.conversation_id != bob.conversation_id
    assert run(alice.get_items()) == [{"role": "user", "content": "alice's secret"}]
    assert run(bob.get_items()) == [{"role": "user", "content": "bob's note"}]
    assert run(bob.pop_item()) == {"role": "user", "content": "bob's note"}
    run(bob.clear_session())
    assert run(alice.get_items()) == [{"role": "user", "content": "alice's secret"}]
    # Bob naming Alice's conversation by its UUID finds nothing, and cannot write to it.
    intruder = ThreadkeepSession(alice.conversation_id, store, owner="bob")
    assert run(intruder.get_items()) == []
    with pytest.raises(NotFound):
        run(intruder.add_items([{"role": "user", "content": "let me in"}]))
    assert run(alice.get_items()) == [{"role": "user", "content": "alice's secret"}]


def test_the_run_context_routes_each_user_to_their_own_history(store: ConversationStore) -> None:
    """One session object shared by every user: the ``wrapper`` the SDK passes carries
    the run's context, ``owner_from_context`` names its user, and each user's run reads
    and writes only that user's conversation."""
    session = ThreadkeepSession(
        "support", store, owner_from_context=lambda context: context["user"]
    )
    model = LocalModel()
    agent = agent_with(model)
    for user, text in [("alice", "alice one"), ("bob", "bob one"), ("alice", "alice two")]:
        run(Runner.run(agent, text, session=session, context={"user": user}, run_config=NO_TRACING))

    assert [text_of(item) for item in model.inputs[2]] == ["alice one", "reply 1", "alice two"]
    assert [text_of(item) for item in model.inputs[1]] == ["bob one"]
    for user, texts in [("alice", ["alice one", "alice two"]), ("bob", ["bob one"])]:
        scoped = store.as_owner(user)
        rows = scoped.get_messages(conversation_id_for("support", user))
        assert [row.content for row in rows if row.role == "user"] == texts
    # Without a run (no wrapper), the session is its own owner's, which has no history.
    assert run(session.get_items()) == []


def test_first_writes_racing_on_a_new_session_all_land(store: ConversationStore) -> None:
    """Several sessions making the first write of one session string at once: all
    appends fail ``NotFound``, all try to create the conversation, all but one get
    ``Conflict`` — which must mean "it exists now, go on", not an error."""
    sessions = [ThreadkeepSession("racy", store) for _ in range(6)]

    async def all_at_once() -> None:
        await asyncio.gather(
            *(
                session.add_items([{"role": "user", "content": f"writer {n}"}])
                for n, session in enumerate(sessions)
            )
        )

    run(all_at_once())
    items = run(sessions[0].get_items())
    assert sorted(item["content"] for item in items) == [f"writer {n}" for n in range(6)]
    assert store.get_conversation(sessions[0].conversation_id).message_count == 6


def test_rows_written_by_other_surfaces_read_as_items(store: ConversationStore) -> None:
    """A session pointed at a conversation the runtime wrote (by its UUID) reads its
    text as messages, its tool rows as the function call and output they were, and
    any other row as labelled text; ``pop_item`` returns what it removed."""
    conversation = store.create_conversation()
    cid = conversation.id
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

    session = ThreadkeepSession(cid, store)
    assert session.conversation_id == cid
    assert run(session.get_items()) == [
        {"role": "user", "content": "What time is it?"},
        {
            "type": "function_call",
            "call_id": "call_9",
            "name": "clock",
            "arguments": '{"tz": "UTC"}',
        },
        {"type": "function_call_output", "call_id": "call_9", "output": "12:00"},
        {"role": "assistant", "content": "It is noon."},
        {"role": "assistant", "content": "[error] provider failed"},
    ]
    assert run(session.pop_item()) == {"role": "assistant", "content": "[error] provider failed"}
    assert store.get_conversation(cid).message_count == 4


def test_an_imported_sqlite_session_reads_back_as_it_was(
    store: ConversationStore, tmp_path: Path
) -> None:
    """A database of the SDK's own ``SQLiteSession``, imported with ``agents-sqlite``,
    reads back through the adapter item for item: one mapping, one metadata key."""
    path = tmp_path / "agents.db"
    items = [item for item, _ in ITEMS]
    sqlite_session = SQLiteSession("s-1", path)
    try:
        run(sqlite_session.add_items(items))  # type: ignore[arg-type]
    finally:
        sqlite_session.close()
    import_paths(store, [path], format="agents-sqlite")
    [conversation] = store.list_conversations().items
    assert run(ThreadkeepSession(conversation.id, store).get_items()) == items


def test_the_embedded_default_is_opened_and_closed_by_the_session() -> None:
    """``store=None`` opens the embedded default (``THREADKEEP_HOME``, redirected per
    test); the session closes it, and what it wrote is there for the next process."""
    with ThreadkeepSession("home") as session:
        run(session.add_items([{"role": "user", "content": "persisted"}]))
        cid = session.conversation_id
    with open_store() as store:
        assert [row.content for row in store.get_messages(cid)] == ["persisted"]


@pytest.fixture
def agents_hidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``import agents`` fails as it does when the SDK is not installed."""
    for name in [name for name in sys.modules if name == "agents" or name.startswith("agents.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "agents", None)
    monkeypatch.delitem(sys.modules, "threadkeep.adapters.openai_agents")
    yield


@pytest.mark.usefixtures("agents_hidden")
def test_without_the_sdk_the_import_error_says_what_to_install() -> None:
    with pytest.raises(ImportError, match=r"pip install 'threadkeep\[openai-agents\]'"):
        importlib.import_module("threadkeep.adapters.openai_agents")
