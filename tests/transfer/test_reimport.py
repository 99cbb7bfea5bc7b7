"""Re-importing a source that grew: its new messages are appended, once (SPEC S6.3/S6.4).

A Claude Code session or a Codex rollout goes on after it was imported. Importing it
again must append what is new to the conversation imported before — not skip it as
"already imported", and not duplicate it — in the one transaction of the import; the
same source again writes nothing; a source that changed otherwise is skipped with a
reason. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.transfer.helpers import snapshot
from tests.transfer.test_claude_code import SESSION as CLAUDE_SESSION
from tests.transfer.test_claude_code import _assistant, _user
from tests.transfer.test_codex import SESSION as CODEX_SESSION
from tests.transfer.test_codex import _line as codex_line
from tests.transfer.test_codex import _message as codex_message
from tests.transfer.test_codex import _meta as codex_meta
from threadkeep import ConversationStore, Settings, open_store
from threadkeep.transfer.importer import import_paths

OpenStore = Callable[..., ConversationStore]


@pytest.fixture
def open_with(db_url: str) -> Iterator[OpenStore]:
    """Opens the test database with the given settings."""
    with ExitStack() as stack:

        def opener(**settings: Any) -> ConversationStore:
            return stack.enter_context(open_store(db_url, settings=Settings.load(**settings)))

        yield opener


def _text(uuid: str, message_id: str, text: str) -> str:
    return _assistant(uuid, message_id, [{"type": "text", "text": text}])


def _tool_call(uuid: str, message_id: str, call_id: str) -> str:
    block = {"type": "tool_use", "id": call_id, "name": "Bash", "input": {"command": "ls"}}
    return _assistant(uuid, message_id, [block])


def _tool_result(uuid: str, call_id: str) -> str:
    return _user(uuid, [{"type": "tool_result", "tool_use_id": call_id, "content": "cart.py"}])


CLAUDE_FIRST = [
    _user("u1", "Why does the cart total drift?"),
    _text("a1", "msg_01", "Float rounding."),
]
CLAUDE_MORE = [
    _user("u2", "Show me the files."),
    _tool_call("a2", "msg_02", "toolu_1"),
    _tool_result("u3", "toolu_1"),
    _text("a3", "msg_03", "The total is in cart.py."),
]
CODEX_FIRST = [
    codex_meta(),
    codex_message("user", "Fix the rounding"),
    codex_message("assistant", "Done: rounding the sum."),
]
CODEX_MORE = [
    codex_line(
        "response_item",
        {
            "type": "function_call",
            "name": "shell",
            "arguments": '{"command": ["pytest"]}',
            "call_id": "call_1",
        },
    ),
    codex_line(
        "response_item",
        {"type": "function_call_output", "call_id": "call_1", "output": "3 passed"},
    ),
    codex_message("assistant", "Tests pass."),
]
SOURCES = {
    "claude-code": (f"{CLAUDE_SESSION}.jsonl", CLAUDE_FIRST, CLAUDE_MORE, 4),
    "codex": (f"rollout-2025-09-14T09-30-00-{CODEX_SESSION}.jsonl", CODEX_FIRST, CODEX_MORE, 3),
}


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _only(store: ConversationStore) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ((conversation, messages),) = snapshot(store).values()
    return conversation, messages


@pytest.mark.parametrize("format", sorted(SOURCES))
def test_a_grown_session_appends_its_new_messages(
    store: ConversationStore, tmp_path: Path, format: str
) -> None:
    """Guards against re-importing a session that went on reporting "skipped 1 already
    imported" and dropping its new messages — and against a second re-import of the
    same source writing anything."""
    name, first, more, added = SOURCES[format]
    path = _write(tmp_path / name, first)
    report = import_paths(store, [path])
    assert (report.conversations_imported, report.messages_imported) == (1, 2)
    before, old = _only(store)

    _write(path, first + more)
    report = import_paths(store, [path], format=format)
    assert (report.conversations_imported, report.conversations_skipped) == (0, 0)
    assert (report.conversations_updated, report.messages_appended) == (1, added)
    assert report.warnings == ()
    conversation, messages = _only(store)
    assert conversation["id"] == before["id"]
    assert messages[:2] == old  # what was there is untouched
    assert [m["seq"] for m in messages] == list(range(1, 2 + added + 1))
    assert (conversation["message_count"], conversation["last_seq"]) == (2 + added, 2 + added)
    assert conversation["updated_at"] >= before["updated_at"]
    assert conversation["preview"] == messages[-1]["content"]
    source = conversation["context"]["source"]
    assert (source["messages"], source["seq"]) == (2 + added, 2 + added)
    # Every stored message once, as a fresh import of the whole source would have it.
    fresh_store = tmp_path / "fresh.db"
    with open_store(f"sqlite:///{fresh_store}", settings=Settings.load()) as fresh:
        import_paths(fresh, [path])
        (_, expected), *_ = snapshot(fresh).values()
    assert [(m["role"], m["kind"], m["content"], m["id"]) for m in messages] == [
        (m["role"], m["kind"], m["content"], m["id"]) for m in expected
    ]

    settled = snapshot(store)
    again = import_paths(store, [path])
    assert (again.conversations_updated, again.messages_appended) == (0, 0)
    assert (again.conversations_imported, again.conversations_skipped) == (0, 1)
    assert snapshot(store) == settled


@pytest.mark.parametrize("format", sorted(SOURCES))
def test_a_source_that_changed_is_skipped_with_a_reason(
    store: ConversationStore, tmp_path: Path, format: str
) -> None:
    """Guards against appending to a conversation whose source no longer starts with
    what was imported (an edited history, another file under the same id): nothing is
    written and the warning says why and what to do."""
    name, first, more, _ = SOURCES[format]
    path = _write(tmp_path / name, first)
    import_paths(store, [path])
    before = snapshot(store)
    if format == "claude-code":
        changed = [_user("u9", "A different first question"), *first[1:]]
    else:
        changed = [first[0], codex_message("assistant", "An answer first"), *first[1:]]
    _write(path, changed + more)
    report = import_paths(store, [path])
    assert (report.conversations_skipped, report.conversations_updated) == (1, 0)
    (warning,) = report.warnings
    assert "no longer starts with the 2 messages imported from it" in warning
    assert f"delete conversation {next(iter(before))}" in warning
    assert snapshot(store) == before


def test_a_conversation_continued_in_threadkeep_is_not_appended_to(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Guards against interleaving a source's new messages after messages written in
    threadkeep since the import (two different continuations)."""
    name, first, more, _ = SOURCES["claude-code"]
    path = _write(tmp_path / name, first)
    import_paths(store, [path])
    (cid,) = snapshot(store)
    store.append_message(cid, "user", "Continued here")
    before = snapshot(store)
    _write(path, first + more)
    report = import_paths(store, [path])
    assert (report.conversations_skipped, report.messages_appended) == (1, 0)
    assert "has changed in threadkeep since it was imported" in report.warnings[0]
    assert snapshot(store) == before


def test_a_reply_still_being_written_is_completed(store: ConversationStore, tmp_path: Path) -> None:
    """Guards against keeping half a reply: a session imported while Claude Code was
    writing a reply (its text came in a later line sharing the message id) gets the
    whole reply on re-import, with the counters following."""
    start = [
        _user("u1", "Why does the cart total drift?"),
        _assistant("a1", "msg_01", [{"type": "thinking", "thinking": "Rounding?"}]),
    ]
    path = _write(tmp_path / f"{CLAUDE_SESSION}.jsonl", start)
    import_paths(store, [path])
    _, messages = _only(store)
    assert messages[1]["content"] == ""
    _write(path, [*start, _text("a2", "msg_01", "Float rounding."), _user("u2", "Thanks!")])
    report = import_paths(store, [path])
    assert (report.conversations_updated, report.messages_appended) == (1, 1)
    conversation, messages = _only(store)
    assert [m["content"] for m in messages] == [
        "Why does the cart total drift?",
        "Float rounding.",
        "Thanks!",
    ]
    assert messages[1]["metadata"]["thinking"] == ["Rounding?"]
    assert conversation["token_count"] == sum(m["tokens"] or 0 for m in messages)
    assert store.search("rounding").items[0].seq == 2  # the search index follows


def test_appending_keeps_the_message_cap(open_with: OpenStore, tmp_path: Path) -> None:
    """Guards: messages a re-import appends are capped like any append (the oldest go)."""
    store = open_with(max_messages_per_conversation=4)
    name, first, more, added = SOURCES["claude-code"]
    path = _write(tmp_path / name, first)
    import_paths(store, [path])
    _write(path, first + more)
    report = import_paths(store, [path])
    assert report.messages_appended == added == 4
    conversation, messages = _only(store)
    assert [m["seq"] for m in messages] == [3, 4, 5, 6]
    assert (conversation["message_count"], conversation["last_seq"]) == (4, 6)
    assert conversation["preview"] == "The total is in cart.py."
    assert conversation["context"]["source"]["messages"] == 6
    assert import_paths(store, [path]).conversations_skipped == 1


def test_redaction_counts_what_the_re_import_wrote(open_with: OpenStore, tmp_path: Path) -> None:
    """Guards against a re-import reporting the secrets of messages it did not write
    again (redact_on_write masks the new ones; the count is theirs alone)."""
    store = open_with(redact_on_write=True)
    key = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z0A"
    first = [_user("u1", f"my key is {key}"), _text("a1", "msg_01", "Do not share it.")]
    path = _write(tmp_path / f"{CLAUDE_SESSION}.jsonl", first)
    assert import_paths(store, [path]).redacted == {"openai": 1}
    _write(path, [*first, _user("u2", f"again: {key} and {key}")])
    report = import_paths(store, [path])
    assert (report.messages_appended, report.redacted) == (1, {"openai": 2})
    _, messages = _only(store)
    assert key not in messages[-1]["content"]
    assert import_paths(store, [path]).redacted == {}
