"""The OpenAI chat-completions messages parser: roles, parts, tool calls, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from threadkeep.errors import InvalidInput
from threadkeep.transfer.formats import openai_messages
from threadkeep.transfer.records import ImportedConversation, Source

CALL = {
    "id": "call_abc",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
}

MESSAGES: list[dict[str, Any]] = [
    {"role": "developer", "content": "Be brief."},
    {"role": "system", "content": "You are helpful."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ],
    },
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_abc", "content": "12 degrees"},
    {"role": "assistant", "content": "It is 12 degrees in Oslo."},
]


def one(data: Any, file: str = "chat.json") -> ImportedConversation:
    """The single conversation ``parse`` yields for ``data``."""
    conversations = list(openai_messages.parse(data, file=file))
    assert len(conversations) == 1
    return conversations[0]


def test_bare_list_maps_roles_kinds_and_source() -> None:
    """Guards the role/kind mapping of a bare list and the file-stem source id."""
    conversation = one(MESSAGES)
    assert conversation.source == Source("openai-messages", "chat.json", "chat")
    assert conversation.title is None
    got = [(m.role, m.kind) for m in conversation.messages]
    assert got == [
        ("system", "text"),
        ("system", "text"),
        ("user", "text"),
        ("assistant", "tool_call"),
        ("tool", "tool_result"),
        ("assistant", "text"),
    ]
    developer = conversation.messages[0]
    assert developer.metadata == {"role": "developer"}
    assert conversation.messages[4].content == "12 degrees"
    assert conversation.messages[4].metadata == {"tool_call_id": "call_abc"}
    assert conversation.messages[4].source_id == "result:call_abc"


def test_parts_join_text_and_keep_images_in_metadata() -> None:
    """Guards that list content keeps its text and moves non-text parts to metadata."""
    user = one(MESSAGES).messages[2]
    assert user.content == "What is this?"
    assert user.metadata == {
        "blocks": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    }


def test_tool_calls_become_tool_call_messages_with_raw_call() -> None:
    """Guards tool_call content (JSON of name and decoded arguments) and the raw call."""
    message = {"role": "assistant", "content": "Checking.", "tool_calls": [CALL, CALL]}
    messages = one([message]).messages
    assert [m.kind for m in messages] == ["text", "tool_call", "tool_call"]
    assert messages[0].content == "Checking."
    call = messages[1]
    assert json.loads(call.content) == {"name": "get_weather", "arguments": {"city": "Oslo"}}
    assert call.metadata == {"tool_call": CALL}
    assert call.source_id == "call_abc"


def test_legacy_function_call_and_function_role() -> None:
    """Guards the pre-tools ``function_call`` field and ``function`` role messages."""
    messages = one(
        [
            {"role": "assistant", "content": None, "function_call": CALL["function"]},
            {"role": "function", "name": "get_weather", "content": "12"},
        ]
    ).messages
    assert [(m.role, m.kind) for m in messages] == [
        ("assistant", "tool_call"),
        ("tool", "tool_result"),
    ]
    assert messages[1].metadata == {"name": "get_weather", "role": "function"}


def test_object_form_uses_id_and_title() -> None:
    """Guards ``{"id", "title", "messages"}`` objects: the id and title are used."""
    conversation = one({"id": "conv-7", "title": "Weather", "messages": MESSAGES})
    assert conversation.source.source_id == "conv-7"
    assert conversation.title == "Weather"
    assert len(conversation.messages) == 6


def test_load_reads_a_file(tmp_path: Path) -> None:
    """Guards ``load``: the file's name is the source file and its stem the id."""
    path = tmp_path / "export-1.json"
    path.write_text(json.dumps(MESSAGES), encoding="utf-8")
    [conversation] = list(openai_messages.load(path))
    assert conversation.source == Source("openai-messages", "export-1.json", "export-1")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"messages": 3}, "chat.json.messages"),
        ("text", "chat.json"),
        ([{"role": "robot", "content": "x"}], "chat.json[0].role"),
        ([{"role": "user", "content": 5}], "chat.json[0].content"),
        ([{"role": "assistant", "tool_calls": [{"function": {}}]}], "tool_calls[0]"),
        ([7], "chat.json[0]"),
    ],
)
def test_wrong_shapes_name_the_place(data: Any, where: str) -> None:
    """Guards that a wrong shape is InvalidInput naming where it is."""
    with pytest.raises(InvalidInput, match=re.escape(where)):
        one(data)


def test_load_rejects_bad_json(tmp_path: Path) -> None:
    """Guards that a file that is not JSON is InvalidInput naming the file."""
    path = tmp_path / "broken.json"
    path.write_text("{nope", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"broken\.json"):
        list(openai_messages.load(path))
