"""The LangChain SQLChatMessageHistory parser: sessions, order, tool calls, errors."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from sqlalchemy.orm import scoped_session

from threadkeep.errors import InvalidInput
from threadkeep.transfer.formats import langchain_sql
from threadkeep.transfer.records import ImportedConversation, Source

# langchain-community warns on import that it is being sunset; only that warning is
# ignored, and only while importing it (filterwarnings=error would fail collection).
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="`langchain-community` is being sunset", category=DeprecationWarning
    )
    from langchain_community.chat_message_histories import SQLChatMessageHistory

CALL = {"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_1", "type": "tool_call"}


def close(history: SQLChatMessageHistory) -> None:
    """Release the history's scoped session and dispose its engine (closing the file)."""
    maker = history.session_maker
    assert isinstance(maker, scoped_session)
    maker.remove()
    history.engine.dispose()


def write_history(path: Path, session_id: str, messages: Sequence[BaseMessage]) -> None:
    """Store ``messages`` with the real SQLChatMessageHistory, then dispose its engine."""
    history = SQLChatMessageHistory(session_id=session_id, connection=f"sqlite:///{path}")
    try:
        history.add_messages(messages)
    finally:
        close(history)


def load(path: Path) -> list[ImportedConversation]:
    return list(langchain_sql.load(path))


def test_messages_map_to_roles_and_kinds(tmp_path: Path) -> None:
    """Guards the human/ai/system/tool → role/kind mapping and the AI tool calls."""
    path = tmp_path / "chat.db"
    write_history(
        path,
        "s-1",
        [
            SystemMessage("Be brief."),
            HumanMessage("Weather in Oslo?"),
            AIMessage("Let me check.", tool_calls=[CALL]),
            ToolMessage("12 degrees", tool_call_id="call_1"),
            AIMessage("12 degrees in Oslo."),
        ],
    )
    [conversation] = load(path)
    assert conversation.source == Source("langchain-sql", "chat.db", "s-1")
    got = [(m.role, m.kind, m.content) for m in conversation.messages]
    assert got[:3] == [
        ("system", "text", "Be brief."),
        ("user", "text", "Weather in Oslo?"),
        ("assistant", "text", "Let me check."),
    ]
    call, result, answer = conversation.messages[3:]
    assert (call.role, call.kind, call.source_id) == ("assistant", "tool_call", "call_1")
    assert json.loads(call.content) == {"name": "get_weather", "arguments": {"city": "Oslo"}}
    assert call.metadata is not None and call.metadata["tool_call"] == CALL
    assert (result.role, result.kind, result.content) == ("tool", "tool_result", "12 degrees")
    assert result.source_id == "result:call_1"
    assert (answer.role, answer.kind, answer.content) == (
        "assistant",
        "text",
        "12 degrees in Oslo.",
    )


def test_raw_message_is_kept(tmp_path: Path) -> None:
    """Guards that the stored message JSON is in metadata, also for a call-only AI message."""
    path = tmp_path / "chat.db"
    write_history(path, "s-1", [HumanMessage("hi"), AIMessage("", tool_calls=[CALL])])
    [conversation] = load(path)
    human, call = conversation.messages
    assert human.metadata is not None
    assert human.metadata["message"]["type"] == "human"
    assert human.metadata["message"]["data"]["content"] == "hi"
    assert call.kind == "tool_call"
    assert call.metadata is not None and call.metadata["message"]["type"] == "ai"


def test_sessions_split_and_keep_id_order(tmp_path: Path) -> None:
    """Guards one conversation per session_id, messages in row id order across writes."""
    path = tmp_path / "chat.db"
    write_history(path, "a", [HumanMessage("a1")])
    write_history(path, "b", [HumanMessage("b1")])
    write_history(path, "a", [AIMessage("a2"), ChatMessage(content="a3", role="critic")])
    conversations = load(path)
    assert [c.source.source_id for c in conversations] == ["a", "b"]
    assert [(m.role, m.content) for m in conversations[0].messages] == [
        ("user", "a1"),
        ("assistant", "a2"),
        ("user", "a3"),
    ]
    assert [m.content for m in conversations[1].messages] == ["b1"]


def test_list_content_joins_text_parts(tmp_path: Path) -> None:
    """Guards that list content keeps its text parts."""
    path = tmp_path / "chat.db"
    content: list[str | dict[str, str]] = [
        {"type": "text", "text": "Look:"},
        {"type": "image_url", "image_url": "https://example.com/a.png"},
        "and this",
    ]
    write_history(path, "s", [HumanMessage(content=content)])
    [conversation] = load(path)
    assert conversation.messages[0].content == "Look:\n\nand this"


def test_not_a_database_is_invalid_input(tmp_path: Path) -> None:
    """Guards that a file that is not SQLite is InvalidInput naming the file."""
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(InvalidInput, match=r"notes\.db"):
        load(path)


def test_database_without_table_is_invalid_input(tmp_path: Path) -> None:
    """Guards that a SQLite file without message_store is InvalidInput naming the table."""
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    with pytest.raises(InvalidInput, match=r"empty\.db.*message_store"):
        load(path)


def test_unknown_message_type_names_the_row(tmp_path: Path) -> None:
    """Guards that a stored message of an unknown type is InvalidInput naming its row."""
    path = tmp_path / "chat.db"
    write_history(path, "s", [HumanMessage("ok")])
    history = SQLChatMessageHistory(session_id="s", connection=f"sqlite:///{path}")
    try:
        with history.session_maker() as session:
            session.add(
                history.sql_model_class(
                    session_id="s", message=json.dumps({"type": "robot", "data": {}})
                )
            )
            session.commit()
    finally:
        close(history)
    with pytest.raises(InvalidInput, match=r"chat\.db: message_store id 2.*'robot'"):
        load(path)
