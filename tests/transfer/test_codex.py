"""The Codex CLI rollout parser (SPEC S6.4): a rollout's lines become one conversation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from threadkeep.errors import InvalidInput
from threadkeep.transfer.formats import codex
from threadkeep.transfer.records import ImportedConversation, Source

SESSION = "0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b"
FILE = f"/home/dev/.codex/sessions/2025/09/14/rollout-2025-09-14T09-30-00-{SESSION}.jsonl"


def _line(kind: str, payload: dict[str, Any]) -> str:
    return json.dumps({"timestamp": "2025-09-14T09:30:01.250Z", "type": kind, "payload": payload})


def _meta() -> str:
    return _line(
        "session_meta",
        {
            "id": SESSION,
            "timestamp": "2025-09-14T09:30:00.000Z",
            "cwd": "/home/dev/shop",
            "originator": "codex_cli_rs",
            "cli_version": "0.36.0",
            "instructions": "Prefer small diffs.",
            "git": {"commit_hash": "3f2a9c1", "branch": "fix/rounding"},
        },
    )


def _message(role: str, text: str) -> str:
    part = "output_text" if role == "assistant" else "input_text"
    return _line(
        "response_item",
        {"type": "message", "role": role, "content": [{"type": part, "text": text}]},
    )


def _parse(*lines: str) -> list[ImportedConversation]:
    return list(codex.parse_lines(lines, file=FILE))


def _one(*lines: str) -> ImportedConversation:
    conversations = _parse(*lines)
    assert len(conversations) == 1
    return conversations[0]


def test_session_meta_gives_source_and_context() -> None:
    """Guards against losing the session id (idempotent re-import), cwd and git branch."""
    conversation = _one(_meta(), _message("user", "Fix the rounding"))
    assert conversation.source == Source("codex", FILE, SESSION)
    assert conversation.context["cwd"] == "/home/dev/shop"
    assert conversation.context["git_branch"] == "fix/rounding"
    assert conversation.context["instructions"] == "Prefer small diffs."


def test_injected_environment_and_instructions_are_skipped() -> None:
    """Guards against Codex's injected context being imported as if the user typed it."""
    conversation = _one(
        _meta(),
        _message("user", "<user_instructions>\nUse tabs.\n</user_instructions>"),
        _message("user", "<environment_context>\n  <cwd>/home/dev</cwd>\n</environment_context>"),
        _message("user", "Fix the rounding"),
        _message("assistant", "Done."),
    )
    assert [(m.role, m.content) for m in conversation.messages] == [
        ("user", "Fix the rounding"),
        ("assistant", "Done."),
    ]


def test_function_call_and_output_become_tool_messages() -> None:
    """Guards against tool calls and their outputs being flattened into text or lost."""
    call = {
        "type": "function_call",
        "name": "shell",
        "arguments": json.dumps({"command": ["rg", "total"]}),
        "call_id": "call_7Hq",
    }
    conversation = _one(
        _meta(),
        _message("user", "Where is total computed?"),
        _line(
            "response_item",
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "Search the code."}],
                "encrypted_content": "gAAAA",
            },
        ),
        _line("response_item", call),
        _line(
            "response_item",
            {"type": "function_call_output", "call_id": "call_7Hq", "output": "cart.py:12"},
        ),
        _message("assistant", "In cart.py line 12."),
    )
    assert [(m.role, m.kind) for m in conversation.messages] == [
        ("user", "text"),
        ("assistant", "tool_call"),
        ("tool", "tool_result"),
        ("assistant", "text"),
    ]
    tool_call, tool_result = conversation.messages[1], conversation.messages[2]
    assert json.loads(tool_call.content) == {
        "name": "shell",
        "arguments": {"command": ["rg", "total"]},
    }
    assert tool_call.metadata == {"item": call, "reasoning": ["Search the code."]}
    assert tool_call.source_id == "call_7Hq"
    assert tool_result.content == "cart.py:12"
    assert tool_result.metadata is not None
    assert tool_result.metadata["call_id"] == "call_7Hq"


def test_unknown_items_are_kept_not_dropped() -> None:
    """Guards against new item types (web search, ...) vanishing silently on import."""
    search = {"type": "web_search_call", "status": "completed", "action": {"query": "decimal"}}
    conversation = _one(
        _meta(),
        _message("user", "Look it up"),
        _line("response_item", search),
        _line("event_msg", {"type": "token_count"}),
    )
    artifact = conversation.messages[1]
    assert (artifact.role, artifact.kind) == ("system", "system_artifact")
    assert artifact.metadata == {"item": search}
    assert conversation.context["ignored_line_types"] == {"event_msg": 1}


def test_older_rollouts_without_envelope_are_read() -> None:
    """Guards against rejecting rollouts written before the payload envelope existed."""
    conversation = _one(
        json.dumps({"id": SESSION, "timestamp": "2025-05-01T08:00:00Z", "instructions": None}),
        json.dumps({"record_type": "state"}),
        json.dumps(
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        ),
    )
    assert conversation.source.source_id == SESSION
    assert [m.content for m in conversation.messages] == ["hi"]


@pytest.mark.parametrize(
    "bad",
    [
        "{oops",
        '"a string"',
        json.dumps({"type": "response_item", "payload": []}),
        json.dumps({"type": "response_item", "payload": {"type": "message", "role": "user"}}),
        json.dumps({"type": "response_item", "payload": {"type": "function_call"}}),
    ],
)
def test_malformed_line_raises_invalid_input_with_line_number(bad: str) -> None:
    """Guards against a bad line being skipped or crashing without saying where."""
    with pytest.raises(InvalidInput, match=re.escape(f"{FILE}:2:")):
        _parse(_meta(), bad)


def test_load_reads_the_dated_directory_tree(tmp_path: Path) -> None:
    """Guards against load() missing rollouts nested under YYYY/MM/DD folders."""
    day = tmp_path / "2025" / "09" / "14"
    day.mkdir(parents=True)
    rollout = day / f"rollout-2025-09-14T09-30-00-{SESSION}.jsonl"
    rollout.write_text(_meta() + "\n" + _message("user", "hi") + "\n", encoding="utf-8")
    conversations = list(codex.load(tmp_path))
    assert [c.source for c in conversations] == [Source("codex", str(rollout), SESSION)]


def test_provider_session_model_and_title() -> None:
    """Guards against a Codex conversation imported without what resumes it (provider,
    session, model) and without a title (rollouts have none: the first thing the user
    typed stands in, shortened, never an injected instructions message)."""
    conversation = _one(
        _meta(),
        _message("user", "<user_instructions>Prefer small diffs.</user_instructions>"),
        _line("turn_context", {"cwd": "/home/dev/shop", "model": "gpt-5"}),
        _message("user", "Fix   the\nrounding " + "in the cart total " * 10),
        _message("assistant", "Done"),
        _line("turn_context", {"cwd": "/home/dev/shop", "model": "gpt-5-codex"}),
        _message("user", "Thanks"),
    )
    assert (conversation.provider, conversation.provider_session_id) == ("codex", SESSION)
    assert conversation.model == "gpt-5-codex"  # the latest turn's
    assert conversation.title is not None and len(conversation.title) == codex.TITLE_CHARS
    assert conversation.title.startswith("Fix the rounding in the cart total in the")
    assert conversation.title.endswith("…")
    assert "model" not in conversation.context
    assert codex.title_from("  Short\n") == "Short"
    assert codex.title_from(" \n ") is None


def test_a_rollout_without_meta_has_no_provider_session() -> None:
    """Guards against recording a made-up session id (the file's name) as resumable."""
    conversation = _one(_message("user", "Hi"))
    assert (conversation.provider, conversation.provider_session_id) == ("codex", None)
