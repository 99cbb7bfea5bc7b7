"""The export API: what is chosen, paging, progress, files written all or nothing."""

from __future__ import annotations

import gc
import io
import json
from pathlib import Path

import pytest

from threadkeep import ConversationStore, MessageDraft, Settings, open_store
from threadkeep.errors import InvalidInput, NotFound
from threadkeep.transfer.exporter import export_conversations, export_to_path


def _lines(data: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in data.splitlines()]


def _titles(data: bytes) -> list[str]:
    return sorted(str(r["title"]) for r in _lines(data) if r["type"] == "conversation")


@pytest.fixture
def three(store: ConversationStore) -> dict[str, str]:
    """An active, an archived and a tagged conversation, and one of another owner."""
    active = store.create_conversation(title="active")
    archived = store.create_conversation(title="archived")
    store.archive_conversation(archived.id)
    tagged = store.create_conversation(title="tagged", tags=["work"])
    store.as_owner("someone-else").create_conversation(title="not mine")
    return {"active": active.id, "archived": archived.id, "tagged": tagged.id}


def _export(store: ConversationStore, **options: object) -> bytes:
    out = io.BytesIO()
    export_conversations(store, out, format="jsonl", **options)  # type: ignore[arg-type]
    return out.getvalue()


def test_what_is_exported(store: ConversationStore, three: dict[str, str]) -> None:
    """Guards the choice: everything of the owner by default (any status), a filter, or
    given ids — never another owner's conversations."""
    assert _titles(_export(store)) == ["active", "archived", "tagged"]
    assert _titles(_export(store, filters={"status": "archived"})) == ["archived"]
    assert _titles(_export(store, filters={"tag": "work"})) == ["tagged"]
    assert _titles(_export(store, filters={"status": "active", "tag": "work"})) == ["tagged"]
    chosen = [three["tagged"], three["active"], three["tagged"]]
    assert _titles(_export(store, conversation_ids=chosen)) == ["active", "tagged"]


def test_a_missing_id_fails_before_anything_is_written(
    store: ConversationStore, three: dict[str, str]
) -> None:
    """Guards against half a document: an id that is not found, named after one that
    is, fails the export before its first byte (the CLI and the server rely on it)."""
    missing = "0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c"
    out = io.BytesIO()
    with pytest.raises(NotFound) as failure:
        export_conversations(store, out, conversation_ids=[three["active"], missing])
    del failure  # its traceback holds the exporter's buffer, which flushes when freed
    gc.collect()
    assert out.getvalue() == b""


def test_bad_choices_are_refused(store: ConversationStore, three: dict[str, str]) -> None:
    """Guards: an unknown id is NotFound, unknown filters and mixing ids with filters
    are InvalidInput, another owner's id is NotFound like a random one."""
    other = store.as_owner("someone-else").list_conversations().items[0].id
    with pytest.raises(NotFound):
        _export(store, conversation_ids=[other])
    with pytest.raises(InvalidInput, match="unknown export filter"):
        _export(store, filters={"colour": "blue"})
    with pytest.raises(InvalidInput, match="not both"):
        _export(store, conversation_ids=[three["active"]], filters={"tag": "work"})
    with pytest.raises(InvalidInput, match="unknown export format 'pdf'"):
        export_conversations(store, io.BytesIO(), format="pdf")  # type: ignore[arg-type]


def test_long_conversations_are_paged_in_order(store: ConversationStore) -> None:
    """Guards against messages lost or repeated at page boundaries, and the progress
    callback: called with the running count of messages written."""
    conversation = store.create_conversation()
    for start in range(0, 2_500, 500):
        store.append_messages(
            conversation.id,
            [MessageDraft(role="user", content=f"m{n}") for n in range(start, start + 500)],
        )
    seen: list[int] = []
    out = io.BytesIO()
    report = export_conversations(store, out, format="jsonl", progress=seen.append)
    messages = [r for r in _lines(out.getvalue()) if r["type"] == "message"]
    assert [m["content"] for m in messages] == [f"m{n}" for n in range(2_500)]
    assert [m["seq"] for m in messages] == list(range(1, 2_501))
    assert seen == [1_000, 2_000, 2_500] and report.messages == 2_500


def test_files_are_written_all_or_nothing(store: ConversationStore, tmp_path: Path) -> None:
    """Guards against a failed export leaving a half-written file, or destroying the
    file it was meant to replace."""
    conversation = store.create_conversation(title="x")
    (tmp_path / "out").mkdir()
    tmp_path = tmp_path / "out"  # a directory of its own (the SQLite file is next door)
    path = tmp_path / "backup.json"
    path.write_text("the previous backup")
    missing = "0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c"
    with pytest.raises(NotFound):
        export_to_path(store, path, conversation_ids=[conversation.id, missing])
    assert path.read_text() == "the previous backup"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.json"]

    report = export_to_path(store, path)
    assert report.path == path and report.bytes_written == path.stat().st_size
    assert json.loads(path.read_text())["counts"] == {"conversations": 1, "messages": 0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.json"]
    assert path.stat().st_mode & 0o077 == 0  # conversations are private: 0600
    with pytest.raises(InvalidInput, match="no such directory"):
        export_to_path(store, tmp_path / "nowhere" / "x.json")


@pytest.mark.parametrize(
    ("name", "fmt", "packed", "expected"),
    [
        ("a.json", None, None, "json"),
        ("a.jsonl", None, None, "jsonl"),
        ("a.md", None, None, "markdown"),
        ("a.jsonl.gz", None, None, "jsonl"),
        ("a.txt", None, None, "json"),
        ("a.txt", "markdown", True, "markdown"),
    ],
)
def test_format_and_compression_follow_the_name(
    store: ConversationStore,
    tmp_path: Path,
    name: str,
    fmt: str | None,
    packed: bool | None,
    expected: str,
) -> None:
    """Guards the file-name rules: format from the suffix, gzip for .gz or when asked."""
    store.create_conversation(title="x")
    report = export_to_path(store, tmp_path / name, format=fmt, gzip=packed)
    assert report.format == expected
    start = (tmp_path / name).read_bytes()[:2]
    assert (start == b"\x1f\x8b") == (name.endswith(".gz") or bool(packed))


def test_exports_are_audited(db_url: str, tmp_path: Path) -> None:
    """Guards: with the audit log on, an export records who exported what."""
    with open_store(db_url, settings=Settings.load(audit_log=True)) as store:
        store.create_conversation(title="x")
        export_to_path(store, tmp_path / "a.jsonl")
        entries = store.audit_entries(action="export").items
    assert len(entries) == 1
    assert entries[0].detail == {"format": "jsonl", "conversations": 1, "messages": 0}
