"""The Open WebUI chat export parser: active branch, roles, times, errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from threadkeep.errors import InvalidInput, TooLarge
from threadkeep.transfer.formats import open_webui
from threadkeep.transfer.limits import ImportLimits
from threadkeep.transfer.records import ImportedConversation, Source

T0 = 1_700_000_000


def msg(
    msg_id: str,
    parent: str | None,
    children: list[str],
    role: str,
    content: str,
    **extra: Any,
) -> dict[str, Any]:
    """One history message, as Open WebUI stores it."""
    message: dict[str, Any] = {
        "id": msg_id,
        "parentId": parent,
        "childrenIds": children,
        "role": role,
        "content": content,
        "timestamp": T0 + len(msg_id),
    }
    if role == "assistant":
        message |= {"model": "llama3.1:8b", "modelName": "llama3.1:8b", "done": True}
    message.update(extra)
    return message


def chat(messages: list[dict[str, Any]], current: str | None, **extra: Any) -> dict[str, Any]:
    """One exported chat entry holding ``messages`` in its history."""
    entry: dict[str, Any] = {
        "id": "2f7c1c1e-8d7a-4b55-9a43-3c2f0e9e1a01",
        "user_id": "u-1",
        "title": "Tomato blight",
        "chat": {
            "id": "",
            "title": "Tomato blight",
            "models": ["llama3.1:8b"],
            "history": {"messages": {m["id"]: m for m in messages}, "currentId": current},
            "messages": messages,
            "tags": [],
            "timestamp": T0 * 1000,
        },
        "created_at": T0,
        "updated_at": T0 + 120,
        "share_id": None,
        "archived": False,
    }
    entry.update(extra)
    return entry


def regenerated() -> dict[str, Any]:
    """user → two assistant answers (the first regenerated) → follow-up on the second."""
    return chat(
        [
            msg("u1", None, ["a1x", "a1yy"], "user", "Brown spots on tomato leaves?"),
            msg("a1x", "u1", [], "assistant", "Water more."),
            msg("a1yy", "u1", ["u2xxx"], "assistant", "Likely early blight."),
            msg("u2xxx", "a1yy", ["a2xxxx"], "user", "How do I treat it?"),
            msg("a2xxxx", "u2xxx", [], "assistant", "Remove affected leaves."),
        ],
        current="a2xxxx",
    )


def parse_one(entry: Any) -> ImportedConversation:
    """The single conversation parsed from ``[entry]``."""
    (result,) = open_webui.parse([entry], file="chat-export.json")
    return result


def test_active_branch_wins_over_regenerated_sibling() -> None:
    """Guards: the branch walked up from currentId is imported, not the abandoned answer."""
    result = parse_one(regenerated())
    assert [(m.role, m.content) for m in result.messages] == [
        ("user", "Brown spots on tomato leaves?"),
        ("assistant", "Likely early blight."),
        ("user", "How do I treat it?"),
        ("assistant", "Remove affected leaves."),
    ]
    assert result.source == Source(
        "open-webui", "chat-export.json", "2f7c1c1e-8d7a-4b55-9a43-3c2f0e9e1a01"
    )
    assert result.title == "Tomato blight"
    assert result.messages[1].metadata == {
        "open_webui": {"model": "llama3.1:8b", "modelName": "llama3.1:8b"}
    }
    assert result.messages[1].source_id == "a1yy"


def test_missing_current_id_falls_back_to_latest_leaf() -> None:
    """Guards: without currentId the most recent leaf's branch is imported."""
    entry = regenerated()
    entry["chat"]["history"]["currentId"] = None
    result = parse_one(entry)
    assert result.messages[-1].content == "Remove affected leaves."


def test_flat_messages_without_history() -> None:
    """Guards: old exports with only chat.messages still import in order."""
    entry = regenerated()
    del entry["chat"]["history"]
    entry["chat"]["messages"] = [msg("u1", None, [], "user", "hi")]
    assert [m.content for m in parse_one(entry).messages] == ["hi"]


def test_error_message_and_empty_messages() -> None:
    """Guards: an assistant error is kind error; an empty placeholder reply is skipped."""
    entry = chat(
        [
            msg("u1", None, ["a1"], "user", "Hello"),
            msg("a1", "u1", ["u2"], "assistant", "", error={"content": "model not found"}),
            msg("u2", "a1", ["a2"], "user", "Hello?"),
            msg("a2", "u2", [], "assistant", "", done=False),
        ],
        current="a2",
    )
    messages = parse_one(entry).messages
    assert [(m.kind, m.content) for m in messages] == [
        ("text", "Hello"),
        ("error", "model not found"),
        ("text", "Hello?"),
    ]


def test_created_at_conversions() -> None:
    """Guards: epoch seconds and milliseconds both become aware UTC datetimes."""
    entry = regenerated() | {"created_at": T0, "updated_at": T0 * 1000 + 500}
    result = parse_one(entry)
    base = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert result.created_at == base
    assert result.updated_at == base + dt.timedelta(milliseconds=500)
    assert result.messages[0].created_at == base + dt.timedelta(seconds=2)


def test_null_title_and_missing_chat_tolerated() -> None:
    """Guards: a chat with no title and no body imports as an empty conversation."""
    result = parse_one({"id": "x", "title": None, "chat": None, "created_at": None})
    assert result.title is None
    assert result.messages == ()
    assert result.created_at is None


@pytest.mark.parametrize(
    ("data", "place"),
    [
        ("nope", "chat-export.json: expected a list"),
        ([{"id": "a", "chat": []}], "chat-export.json[0].chat: expected an object"),
        ([{"title": "t"}], "chat-export.json[0].id"),
        (
            [{"id": "a", "chat": {"history": {"messages": []}}}],
            "chat-export.json[0].chat.history.messages: expected an object",
        ),
        (
            [chat([msg("m", None, [], "robot", "x")], current="m")],
            "chat-export.json[0].chat.history.messages.m.role",
        ),
        (
            [chat([msg("m", None, [], "user", "x", timestamp="noon")], current="m")],
            "chat-export.json[0].chat.history.messages.m.timestamp",
        ),
    ],
)
def test_wrong_types_name_the_place(data: Any, place: str) -> None:
    """Guards: bad input raises InvalidInput whose message says where the problem is."""
    with pytest.raises(InvalidInput) as info:
        list(open_webui.parse(data, file="chat-export.json"))
    assert place in info.value.message


def test_load_reads_a_file(tmp_path: Path) -> None:
    """Guards: load reads an export file and names it as the source file; bad JSON fails."""
    path = tmp_path / "chat-export-1700000000.json"
    path.write_text(json.dumps([regenerated()]))
    (result,) = open_webui.load(path)
    assert result.source.file == "chat-export-1700000000.json"
    path.write_text("[{")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        list(open_webui.load(path))
    with pytest.raises(
        TooLarge, match=r"over the import limit of 1 bytes \(setting import_max_bytes\)"
    ):
        list(open_webui.load(path, limits=ImportLimits(max_bytes=1)))
