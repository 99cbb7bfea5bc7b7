"""The Claude Code transcript parser (SPEC S6.4): lines of a session become records."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from threadkeep.errors import InvalidInput
from threadkeep.transfer.formats import claude_code
from threadkeep.transfer.records import ImportedConversation, Source

SESSION = "5f0c2a8e-1111-4c3b-9d7e-000000000001"
FILE = f"/home/dev/.claude/projects/-home-dev-shop/{SESSION}.jsonl"


def _line(kind: str, uuid: str, *, message: Any = None, **extra: Any) -> str:
    record: dict[str, Any] = {
        "type": kind,
        "sessionId": SESSION,
        "uuid": uuid,
        "parentUuid": None,
        "timestamp": "2025-03-04T10:00:00.000Z",
        "cwd": "/home/dev/shop",
        "gitBranch": "feature/cart",
        "isSidechain": False,
        "userType": "external",
        "version": "1.0.30",
    }
    if message is not None:
        record["message"] = message
    record.update(extra)
    return json.dumps(record)


def _user(uuid: str, content: Any, **extra: Any) -> str:
    return _line("user", uuid, message={"role": "user", "content": content}, **extra)


def _assistant(uuid: str, message_id: str, blocks: list[dict[str, Any]], **extra: Any) -> str:
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": blocks,
        "stop_reason": None,
        "usage": {"input_tokens": 120, "output_tokens": len(blocks) * 10},
    }
    return _line("assistant", uuid, message=message, **extra)


def _parse(*lines: str) -> list[ImportedConversation]:
    return list(claude_code.parse_lines(lines, file=FILE))


def _one(*lines: str) -> ImportedConversation:
    conversations = _parse(*lines)
    assert len(conversations) == 1
    return conversations[0]


def test_multi_line_assistant_reply_is_merged_into_one_message() -> None:
    """Guards against one reply split over lines sharing message.id becoming many."""
    conversation = _one(
        _user("u1", "Why does the cart total drift?"),
        _assistant("a1", "msg_01", [{"type": "thinking", "thinking": "Rounding?"}]),
        _assistant("a2", "msg_01", [{"type": "text", "text": "It rounds per line."}]),
        _assistant("a3", "msg_01", [{"type": "text", "text": "Round the sum instead."}]),
    )
    assert [(m.role, m.kind) for m in conversation.messages] == [
        ("user", "text"),
        ("assistant", "text"),
    ]
    reply = conversation.messages[1]
    assert reply.content == "It rounds per line.\n\nRound the sum instead."
    assert reply.source_id == "msg_01"
    assert reply.metadata is not None
    assert reply.metadata["thinking"] == ["Rounding?"]
    assert reply.metadata["model"] == "claude-sonnet-4-20250514"
    assert reply.tokens == 10  # the last line's usage is the reply's


def test_tool_use_and_tool_result_become_tool_messages() -> None:
    """Guards against tool calls and results being flattened into text or lost."""
    call = {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"path": "cart.py"}}
    conversation = _one(
        _user("u1", "Look at cart.py"),
        _assistant("a1", "msg_01", [{"type": "text", "text": "Reading it."}]),
        _assistant("a2", "msg_01", [call]),
        _user(
            "u2",
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [{"type": "text", "text": "def total(): ..."}],
                }
            ],
        ),
        _assistant("a3", "msg_02", [{"type": "text", "text": "Found it."}]),
    )
    assert [(m.role, m.kind) for m in conversation.messages] == [
        ("user", "text"),
        ("assistant", "text"),
        ("assistant", "tool_call"),
        ("tool", "tool_result"),
        ("assistant", "text"),
    ]
    tool_call, tool_result = conversation.messages[2], conversation.messages[3]
    assert json.loads(tool_call.content) == {"name": "Read", "input": {"path": "cart.py"}}
    assert tool_call.metadata is not None
    assert tool_call.metadata["block"] == call
    assert tool_call.source_id == "toolu_01"
    assert tool_result.content == "def total(): ..."
    assert tool_result.metadata == {"tool_use_id": "toolu_01"}


def test_failed_tool_result_keeps_its_error_flag() -> None:
    """Guards against a failed tool run being imported as if it had succeeded."""
    conversation = _one(
        _user(
            "u1",
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_09",
                    "content": "No such file",
                    "is_error": True,
                }
            ],
        ),
    )
    (result,) = conversation.messages
    assert result.content == "No such file"
    assert result.metadata == {"tool_use_id": "toolu_09", "is_error": True}


def test_summary_line_gives_the_title() -> None:
    """Guards against the session summary being ignored or imported as a message."""
    conversation = _one(
        json.dumps({"type": "summary", "summary": "Fix cart rounding", "leafUuid": "a1"}),
        _user("u1", "Why does the cart total drift?"),
        _assistant("a1", "msg_01", [{"type": "text", "text": "Rounding."}]),
    )
    assert conversation.title == "Fix cart rounding"
    assert len(conversation.messages) == 2


def test_sidechain_and_meta_lines_are_skipped() -> None:
    """Guards against sub-agent work and injected scaffolding appearing as the chat."""
    conversation = _one(
        _user("m1", "<local-command-caveat>Caveat</local-command-caveat>", isMeta=True),
        _user("u1", "Refactor the cart"),
        _user("s1", "Search for total()", isSidechain=True),
        _assistant("s2", "msg_side", [{"type": "text", "text": "3 hits"}], isSidechain=True),
        _assistant("a1", "msg_01", [{"type": "text", "text": "Done."}]),
    )
    assert [m.content for m in conversation.messages] == ["Refactor the cart", "Done."]


def test_cwd_and_git_branch_go_into_context() -> None:
    """Guards against losing where the session ran (directory and branch)."""
    conversation = _one(
        _user("u1", "hi"),
        json.dumps({"type": "file-history-snapshot", "messageId": "u1", "snapshot": {}}),
    )
    assert conversation.context["cwd"] == "/home/dev/shop"
    assert conversation.context["git_branch"] == "feature/cart"
    assert conversation.context["ignored_line_types"] == {"file-history-snapshot": 1}
    assert conversation.source == Source("claude-code", FILE, SESSION)
    assert conversation.created_at == dt.datetime(2025, 3, 4, 10, tzinfo=dt.UTC)


def test_unknown_blocks_are_kept_in_metadata() -> None:
    """Guards against images and future block types being dropped silently."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}
    novel = {"type": "server_tool_use", "id": "srv_1", "name": "web_search"}
    conversation = _one(
        _user("u1", [{"type": "text", "text": "What is this?"}, image]),
        _user("u2", [image]),
        _assistant("a1", "msg_01", [novel]),
        _assistant("a2", "msg_01", [{"type": "text", "text": "A cart icon."}]),
    )
    first, image_only, reply = conversation.messages
    assert first.content == "What is this?"
    assert first.metadata == {"blocks": [image]}
    assert image_only.content == ""
    assert image_only.metadata == {"blocks": [image]}
    assert reply.content == "A cart icon."
    assert reply.metadata is not None
    assert reply.metadata["blocks"] == [novel]


@pytest.mark.parametrize(
    "bad",
    [
        "{not json",
        "[1, 2]",
        json.dumps({"type": "user", "sessionId": SESSION, "message": "hello"}),
        json.dumps({"type": "user", "sessionId": SESSION, "message": {"content": 3}}),
    ],
)
def test_malformed_line_raises_invalid_input_with_line_number(bad: str) -> None:
    """Guards against a bad line being skipped or crashing without saying where."""
    with pytest.raises(InvalidInput, match=re.escape(f"{FILE}:3:")):
        _parse(_user("u1", "hi"), "", bad)


def test_load_reads_a_directory_tree(tmp_path: Path) -> None:
    """Guards against load() missing nested project folders or non-UTF-8 files passing."""
    project = tmp_path / "projects" / "-home-dev-shop"
    project.mkdir(parents=True)
    (project / f"{SESSION}.jsonl").write_text(_user("u1", "hi") + "\n", encoding="utf-8")
    (project / "notes.txt").write_text("not a transcript", encoding="utf-8")
    conversations = list(claude_code.load(tmp_path))
    assert [c.source.source_id for c in conversations] == [SESSION]
    assert conversations[0].source.file == str(project / f"{SESSION}.jsonl")

    broken = project / "broken.jsonl"
    broken.write_bytes(b"\xff\xfe\n")
    with pytest.raises(InvalidInput, match=re.escape(str(broken))):
        list(claude_code.load(broken))


def test_provider_session_and_the_latest_model() -> None:
    """Guards against a Claude Code conversation imported without what resumes it: the
    provider, the session id, and the model of its latest reply (not Claude Code's own
    "<synthetic>" notices)."""
    notice = _assistant("a3", "msg_03", [{"type": "text", "text": "API Error"}])
    notice = notice.replace("claude-sonnet-4-20250514", "<synthetic>")
    conversation = _one(
        _user("u1", "Hi"),
        _assistant("a1", "msg_01", [{"type": "text", "text": "Hello"}]),
        _user("u2", "More"),
        _assistant("a2", "msg_02", [{"type": "text", "text": "Sure"}]).replace(
            "claude-sonnet-4-20250514", "claude-opus-4-1-20250805"
        ),
        notice,
    )
    assert conversation.provider == "claude-code"
    assert conversation.provider_session_id == SESSION
    assert conversation.model == "claude-opus-4-1-20250805"


def test_lines_without_a_session_id_record_no_provider_session() -> None:
    """Guards against recording the file's name as a resumable session id."""
    line = json.loads(_user("u1", "Hi"))
    del line["sessionId"]
    conversation = _one(json.dumps(line))
    assert conversation.source.source_id == Path(FILE).stem
    assert conversation.provider_session_id is None
