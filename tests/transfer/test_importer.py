"""import_paths over every built-in format: detection, directories, sources, idempotency.

The foreign files are built with the same helpers as each parser's own tests (from the
published formats; the SQLite ones by the real Agents SDK and LangChain classes).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from tests.transfer.helpers import T0, snapshot
from tests.transfer.test_agents_sqlite import ITEMS, write_sessions
from tests.transfer.test_chatgpt import conversation as chatgpt_conversation
from tests.transfer.test_chatgpt import node
from tests.transfer.test_claude_code import SESSION as CLAUDE_SESSION
from tests.transfer.test_claude_code import _assistant, _user
from tests.transfer.test_codex import SESSION as CODEX_SESSION
from tests.transfer.test_codex import _line as codex_line
from tests.transfer.test_codex import _message as codex_message
from tests.transfer.test_codex import _meta as codex_meta
from tests.transfer.test_langchain_sql import write_history
from tests.transfer.test_open_webui import regenerated
from threadkeep import ConversationStore, Settings, open_store
from threadkeep.default_plugins import formats
from threadkeep.errors import InvalidInput
from threadkeep.store.imports import ConversationImport, MessageImport
from threadkeep.transfer.importer import (
    ImportProgress,
    ImportReport,
    detect_format,
    import_paths,
)
from threadkeep.transfer.registry import format_names


def _claude(path: Path, session: str = CLAUDE_SESSION) -> Path:
    lines = [
        _user("u1", "Why does the cart total drift?", sessionId=session),
        _assistant(
            "a1", "msg_01", [{"type": "text", "text": "Float rounding."}], sessionId=session
        ),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _codex(path: Path) -> Path:
    lines = [
        codex_meta(),
        codex_message("user", "Fix rounding"),
        codex_message("assistant", "Done"),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _chatgpt_zip(path: Path) -> Path:
    conv = chatgpt_conversation(
        [
            node("u1", None, ["a1"], parts=["Sourdough?"]),
            node("a1", "u1", [], role="assistant", parts=["Feed it daily."]),
        ],
        current="a1",
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("conversations.json", json.dumps([conv]))
        archive.writestr("chat.html", "<html></html>")
    return path


def _foreign_files(root: Path) -> dict[str, Path]:
    """One file of every foreign format, by the format's name."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "chat-export.json").write_text(json.dumps([regenerated()]))
    (root / "messages.json").write_text(
        json.dumps(
            {
                "id": "chat-1",
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                ],
            }
        )
    )
    write_sessions(root / "agents.db", {"session-1": ITEMS})
    write_history(root / "langchain.db", "default", [HumanMessage("hi"), AIMessage("hello")])
    return {
        "chatgpt": _chatgpt_zip(root / "export.zip"),
        "claude-code": _claude(root / "claude" / f"{CLAUDE_SESSION}.jsonl"),
        "codex": _codex(root / "codex" / f"rollout-2025-09-14T09-30-00-{CODEX_SESSION}.jsonl"),
        "open-webui": root / "chat-export.json",
        "openai-messages": root / "messages.json",
        "agents-sqlite": root / "agents.db",
        "langchain-sql": root / "langchain.db",
    }


def test_the_import_formats_are_the_documented_ones() -> None:
    """Guards the names the CLI and the docs promise, in detection order."""
    assert format_names()[:8] == [
        "threadkeep",
        "chatgpt",
        "claude-code",
        "codex",
        "open-webui",
        "openai-messages",
        "agents-sqlite",
        "langchain-sql",
    ]


def test_every_foreign_format_is_detected(tmp_path: Path) -> None:
    """Guards against one format's detector claiming another's files."""
    for name, path in _foreign_files(tmp_path).items():
        assert detect_format(path) == name, path


def test_every_foreign_format_imports_with_its_source(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Guards: each format's conversations land with context["source"], and importing
    the same files again duplicates nothing."""
    files = _foreign_files(tmp_path)
    report = import_paths(store, list(files.values()))
    assert report.files == 7
    assert report.format.split(", ") == list(files)
    assert report.conversations_imported == 7 and report.conversations_skipped == 0
    stored = snapshot(store)
    sources = {c["context"]["source"]["format"]: c["context"]["source"] for c, _ in stored.values()}
    assert set(sources) == set(files)
    assert sources["claude-code"]["source_id"] == CLAUDE_SESSION
    assert sources["codex"]["source_id"] == CODEX_SESSION
    assert {k: sources["langchain-sql"][k] for k in ("format", "file", "source_id")} == {
        "format": "langchain-sql",
        "file": "langchain.db",
        "source_id": "default",
    }
    assert report.messages_imported == sum(len(m) for _, m in stored.values())
    by_format = {c["context"]["source"]["format"]: m for c, m in stored.values()}
    # What a re-import compares against: how many messages came, and the seq they reached.
    for name, source in sources.items():
        assert source["messages"] == len(by_format[name]) == source["seq"]
    assert [m["content"] for m in by_format["chatgpt"]] == ["Sourdough?", "Feed it daily."]
    assert [m["seq"] for m in by_format["open-webui"]] == [1, 2, 3, 4]

    again = import_paths(store, list(files.values()))
    assert (again.conversations_imported, again.conversations_skipped) == (0, 7)
    assert snapshot(store) == stored


def test_a_directory_stands_for_the_files_of_its_format(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Guards: ~/.claude/projects and ~/.codex/sessions import as their transcripts,
    nested as the tools lay them out, other files passed over."""
    projects = tmp_path / ".claude" / "projects"
    _claude(
        projects / "-home-a" / "5f0c2a8e-1111-4c3b-9d7e-00000000000a.jsonl",
        "5f0c2a8e-1111-4c3b-9d7e-00000000000a",
    )
    _claude(
        projects / "-home-b" / "5f0c2a8e-1111-4c3b-9d7e-00000000000b.jsonl",
        "5f0c2a8e-1111-4c3b-9d7e-00000000000b",
    )
    (projects / "-home-b" / "notes.txt").write_text("not a transcript")
    sessions = tmp_path / ".codex" / "sessions"
    _codex(sessions / "2025" / "09" / "14" / "rollout-2025-09-14T09-30-00-x.jsonl")

    assert detect_format(projects) == "claude-code"
    assert detect_format(sessions) == "codex"
    report = import_paths(store, [projects, sessions])
    assert (report.files, report.conversations_imported) == (3, 3)
    assert report.format == "claude-code, codex"


def test_a_directory_is_detected_from_its_first_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards against detection sampling every file of a directory and the import then
    sampling them all again: detection stops at the first file of the format."""
    projects = tmp_path / "projects"
    for n in range(5):
        session = f"5f0c2a8e-1111-4c3b-9d7e-00000000000{n}"
        _claude(projects / f"-home-{n}" / f"{session}.jsonl", session)
    sampled: list[Path] = []
    real = formats._claude_file

    def counted(path: Path) -> bool:
        sampled.append(path)
        return real(path)

    monkeypatch.setattr(formats, "_claude_file", counted)
    assert detect_format(projects) == "claude-code"
    assert len(sampled) == 1


def test_file_scoped_ids_do_not_collide_across_files(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Guards against a LangChain session called "default" in a second database being
    skipped as if it had been imported already."""
    write_history(tmp_path / "a.db", "default", [HumanMessage("from a")])
    write_history(tmp_path / "b.db", "default", [HumanMessage("from b")])
    first = import_paths(store, [tmp_path / "a.db", tmp_path / "b.db"])
    assert (first.conversations_imported, first.conversations_skipped) == (2, 0)
    again = import_paths(store, [tmp_path / "b.db"])
    assert (again.conversations_imported, again.conversations_skipped) == (0, 1)


def test_unknown_files_name_the_file_and_the_formats_tried(tmp_path: Path) -> None:
    """Guards: an unrecognised file says which file and what was tried."""
    path = tmp_path / "notes.txt"
    path.write_text("just some notes")
    with pytest.raises(
        InvalidInput,
        match=r"notes\.txt: not a format threadkeep can import "
        r"\(tried threadkeep, chatgpt, claude-code, codex, open-webui, "
        r"openai-messages, agents-sqlite, langchain-sql\)",
    ):
        detect_format(path)
    with pytest.raises(InvalidInput, match=r"missing\.json: no such file"):
        detect_format(tmp_path / "missing.json")


def test_a_wrong_format_or_no_files_is_invalid(store: ConversationStore, tmp_path: Path) -> None:
    """Guards: --format that does not fit, an unknown name or nothing to import fail
    clearly and write nothing."""
    claude = _claude(tmp_path / "t.jsonl")
    before = snapshot(store)
    with pytest.raises(
        InvalidInput, match=r"t\.jsonl: no codex conversations in it \(it looks like claude-code\)"
    ):
        import_paths(store, [claude], format="codex")
    with pytest.raises(InvalidInput, match=r"unknown import format 'mbox'; known: threadkeep"):
        import_paths(store, [claude], format="mbox")
    with pytest.raises(InvalidInput, match="nothing to import"):
        import_paths(store, [])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match=r"empty: no claude-code files under this directory"):
        import_paths(store, [empty], format="claude-code")
    assert snapshot(store) == before


def test_progress_is_reported_per_file_and_phase(store: ConversationStore, tmp_path: Path) -> None:
    """Guards the progress callback the CLI's bar is fed by."""
    files = _foreign_files(tmp_path)
    events: list[ImportProgress] = []
    import_paths(store, [files["open-webui"], files["codex"]], progress=events.append)
    assert events[0].phase == "reading" and events[-1].phase == "writing"
    done = [e for e in events if e.total_bytes is not None and e.bytes_read == e.total_bytes]
    assert {(e.file, e.phase) for e in done} == {
        (str(path), phase)
        for path in (files["open-webui"], files["codex"])
        for phase in ("reading", "writing")
    }
    last = done[-1]
    assert (last.conversations, last.messages) == (1, 2)
    assert last.total_bytes == files["codex"].stat().st_size


def test_source_message_ids_are_kept_when_valid(store: ConversationStore, tmp_path: Path) -> None:
    """Guards: a foreign message id (usable as a threadkeep message id) is kept, so an
    app can find its messages again; a repeated one is replaced, not refused."""
    path = _claude(tmp_path / "t.jsonl")
    import_paths(store, [path])
    ((_, messages),) = snapshot(store).values()
    assert messages[1]["id"] == "msg_01"


# -- the store's bulk import --------------------------------------------------------------


def _item(key: str, *contents: str, **fields: Any) -> ConversationImport:
    messages = [MessageImport(role="user", content=text) for text in contents]
    return ConversationImport(import_key=key, messages=messages, **fields)


def test_store_import_skips_known_keys_and_renames_taken_ids(any_store: ConversationStore) -> None:
    """Guards the store method's own rules, through the sync and the async store."""
    existing = any_store.create_conversation(title="mine")
    result = any_store.import_conversations(
        [
            _item("k:1", "a", "b", id=existing.id, title="wanted a taken id"),
            _item("k:1", "duplicate in the same call"),
            _item("k:2", title="empty"),
        ]
    )
    assert result.skipped == ("k:1",) and result.renamed == 1 and result.messages == 2
    first, second = result.conversation_ids
    assert first != existing.id
    imported = any_store.get_conversation(first)
    assert (imported.message_count, imported.last_seq, imported.preview) == (2, 2, "b")
    assert any_store.get_conversation(second).message_count == 0
    again = any_store.import_conversations([_item("k:2")])
    assert again.conversation_ids == () and again.skipped == ("k:2",)


def test_store_import_is_all_or_nothing(store: ConversationStore) -> None:
    """Guards: a bad item anywhere rolls back every item before it, and the error names
    the item's place and the message."""
    before = snapshot(store)
    with pytest.raises(InvalidInput, match=r"doc\.json: item 2: message 1: role must be one of"):
        store.import_conversations(
            [
                _item("k:1", "fine"),
                ConversationImport(
                    import_key="k:2",
                    place="doc.json: item 2",
                    messages=[MessageImport(role="robot", content="x")],
                ),
            ]
        )
    with pytest.raises(InvalidInput, match="seq 3 breaks the sequence"):
        store.import_conversations(
            [
                ConversationImport(
                    import_key="k:3",
                    messages=[
                        MessageImport(role="user", content="x", seq=1),
                        MessageImport(role="user", content="y", seq=3),
                    ],
                )
            ]
        )
    assert snapshot(store) == before


def test_store_import_applies_the_message_cap(db_url: str) -> None:
    """Guards: with a cap, an import keeps the newest messages, numbered as if they had
    been appended one by one (the cap's own rule)."""
    settings = Settings.load(max_messages_per_conversation=2)
    with open_store(db_url, settings=settings) as store:
        result = store.import_conversations([_item("k:1", "one", "two", "three", created_at=T0)])
        (cid,) = result.conversation_ids
        messages = store.get_messages(cid)
        conversation = store.get_conversation(cid)
    assert [(m.seq, m.content) for m in messages] == [(2, "two"), (3, "three")]
    assert (conversation.message_count, conversation.last_seq) == (2, 3)
    assert conversation.created_at == T0


def test_imported_messages_are_searchable(store: ConversationStore, tmp_path: Path) -> None:
    """Guards: the bulk insert keeps the full-text index in sync (triggers on SQLite,
    generated columns on PostgreSQL), like any append."""
    path = _claude(tmp_path / "t.jsonl")
    import_paths(store, [path])
    hits = store.search("rounding")
    assert [hit.role for hit in hits.items] == ["assistant"]
    assert "drift" in store.search("drift").items[0].snippet


def test_provider_model_and_session_land_in_their_columns(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Guards against imports leaving provider, model and provider session empty though
    the sources name them: a Claude Code or Codex session is resumable only with them."""
    files = _foreign_files(tmp_path)
    codex = files["codex"]
    turn = codex_line("turn_context", {"cwd": "/home/dev/shop", "model": "gpt-5-codex"})
    lines = codex.read_text().splitlines()
    codex.write_text("\n".join([lines[0], turn, *lines[1:]]) + "\n")
    import_paths(store, [files["chatgpt"], files["claude-code"], codex])
    found = {
        c["context"]["source"]["format"]: (
            c["provider"],
            c["model"],
            c["provider_session_id"],
            c["title"],
        )
        for c, _ in snapshot(store).values()
    }
    assert found == {
        "chatgpt": ("openai", "gpt-4o", None, "Sourdough starter schedule"),
        "claude-code": ("claude-code", "claude-sonnet-4-20250514", CLAUDE_SESSION, None),
        "codex": ("codex", "gpt-5-codex", CODEX_SESSION, "Fix rounding"),
    }
    listed = store.list_conversations(provider="codex").items
    assert [c.provider_session_id for c in listed] == [CODEX_SESSION]


def test_old_history_under_cleanup_gets_a_warning(db_url: str, tmp_path: Path) -> None:
    """Guards against importing years of history into a database with
    cleanup_inactive_days set, and finding it in the trash after the next cleanup
    without having been told."""
    files = _foreign_files(tmp_path)
    with open_store(db_url, settings=Settings.load(cleanup_inactive_days=30)) as store:
        report = import_paths(store, [files["claude-code"], files["codex"]])
        (warning,) = report.warnings
        assert warning.startswith("2 imported conversation(s) were last active more than 30")
        assert "the next cleanup moves them to the trash" in warning
        assert len(store.plan_cleanup().items) == 2  # the warning tells the truth
        assert import_paths(store, [files["claude-code"]]).warnings == ()  # skipped
    with open_store(db_url, settings=Settings.load()) as store:
        assert import_paths(store, [files["openai-messages"]]).warnings == ()


def test_the_report_as_json_names_every_count() -> None:
    """Guards: --json output carries the new counts and the warnings."""
    report = ImportReport("codex", 1, 0, 0, 1, 0, {}, 1, 3, ("a warning",))
    assert report.to_dict() == {
        "format": "codex",
        "files": 1,
        "conversations_imported": 0,
        "messages_imported": 0,
        "conversations_updated": 1,
        "messages_appended": 3,
        "conversations_skipped": 1,
        "ids_renamed": 0,
        "redacted": {},
        "warnings": ["a warning"],
    }
