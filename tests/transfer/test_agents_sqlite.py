"""The OpenAI Agents SDK SQLiteSession parser: sessions, item kinds, raw items, errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from agents import SQLiteSession

from threadkeep.errors import InvalidInput
from threadkeep.transfer.formats import agents_sqlite
from threadkeep.transfer.records import ImportedConversation, Source

ITEMS: list[Any] = [
    {"role": "developer", "content": "Answer in one line."},
    {"role": "user", "content": "Weather in Oslo?"},
    {
        "id": "rs_1",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "Need the weather tool."}],
    },
    {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
        "status": "completed",
    },
    {"type": "function_call_output", "call_id": "call_1", "output": "12 degrees"},
    {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "12 degrees in Oslo.", "annotations": []}],
    },
    {"type": "item_reference", "id": "ref_1"},
]


def write_sessions(path: Path, sessions: dict[str, list[Any]]) -> None:
    """Store ``sessions`` with the real SQLiteSession, then close it."""

    async def fill() -> None:
        for session_id, items in sessions.items():
            session = SQLiteSession(session_id, path)
            try:
                await session.add_items(items)
            finally:
                session.close()

    asyncio.run(fill())


def load(path: Path) -> list[ImportedConversation]:
    return list(agents_sqlite.load(path))


def test_items_map_to_roles_and_kinds(tmp_path: Path) -> None:
    """Guards the item → role/kind/content mapping of a real SQLiteSession file."""
    path = tmp_path / "agents.db"
    write_sessions(path, {"s-1": ITEMS})
    [conversation] = load(path)
    assert conversation.source == Source("agents-sqlite", "agents.db", "s-1")
    got = [(m.role, m.kind, m.content) for m in conversation.messages]
    assert got[:3] == [
        ("system", "text", "Answer in one line."),
        ("user", "text", "Weather in Oslo?"),
        ("assistant", "system_artifact", "Need the weather tool."),
    ]
    call, result, answer, reference = conversation.messages[3:]
    assert (call.role, call.kind, call.source_id) == ("assistant", "tool_call", "call_1")
    assert json.loads(call.content) == {"name": "get_weather", "arguments": {"city": "Oslo"}}
    assert (result.role, result.kind, result.content) == ("tool", "tool_result", "12 degrees")
    assert result.source_id == "result:call_1"
    assert (answer.role, answer.kind, answer.content) == (
        "assistant",
        "text",
        "12 degrees in Oslo.",
    )
    assert answer.source_id == "msg_1"
    assert (reference.role, reference.kind) == ("system", "system_artifact")


def test_raw_items_and_times_are_kept(tmp_path: Path) -> None:
    """Guards that every message keeps its raw item in metadata and an aware UTC time."""
    path = tmp_path / "agents.db"
    write_sessions(path, {"s-1": ITEMS})
    [conversation] = load(path)
    assert [m.metadata for m in conversation.messages] == [{"item": item} for item in ITEMS]
    for message in conversation.messages:
        assert message.created_at is not None
        assert message.created_at.utcoffset() is not None
    assert conversation.created_at is not None


def test_one_conversation_per_session(tmp_path: Path) -> None:
    """Guards that each session_id is its own conversation with only its items."""
    path = tmp_path / "agents.db"
    write_sessions(
        path,
        {
            "a": [{"role": "user", "content": "first"}],
            "b": [{"role": "user", "content": "second"}, {"role": "user", "content": "third"}],
        },
    )
    conversations = {c.source.source_id: c for c in load(path)}
    assert set(conversations) == {"a", "b"}
    assert [m.content for m in conversations["a"].messages] == ["first"]
    assert [m.content for m in conversations["b"].messages] == ["second", "third"]


def test_not_a_database_is_invalid_input(tmp_path: Path) -> None:
    """Guards that a file that is not SQLite is InvalidInput naming the file."""
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(InvalidInput, match=r"notes\.db"):
        load(path)


def test_other_sqlite_database_is_invalid_input(tmp_path: Path) -> None:
    """Guards that a SQLite file without the session tables is InvalidInput naming them."""
    path = tmp_path / "other.db"
    path.write_bytes(b"")
    with pytest.raises(InvalidInput, match=r"other\.db.*agent_messages"):
        load(path)


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    """Guards that a missing path is InvalidInput, not a new empty database."""
    path = tmp_path / "absent.db"
    with pytest.raises(InvalidInput, match="no such file"):
        load(path)
    assert not path.exists()


def test_bad_item_json_names_the_row(tmp_path: Path) -> None:
    """Guards that a row whose message_data is not a JSON object names the row."""
    path = tmp_path / "agents.db"
    write_sessions(path, {"s-1": [{"role": "user", "content": "ok"}]})
    # The SDK stores any JSON value; a bare string is not an item.
    write_sessions(path, {"s-1": ["not an object"]})
    with pytest.raises(InvalidInput, match=r"agents\.db: agent_messages id 2"):
        load(path)
