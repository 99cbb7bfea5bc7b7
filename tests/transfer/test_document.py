"""threadkeep documents: every field round-trips, ids and idempotency, old versions import.

On both engines: export to JSON, JSON Lines and gzip, import again, and the store holds
exactly what it held, field for field.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.transfer.helpers import build_rich_store, comparable, snapshot
from threadkeep import ConversationStore
from threadkeep.transfer.document import FORMAT_VERSION
from threadkeep.transfer.exporter import export_conversations, export_to_path
from threadkeep.transfer.importer import import_paths

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _delete_all(store: ConversationStore) -> None:
    for conversation_id in snapshot(store):
        store.delete_conversation(conversation_id)


@pytest.mark.parametrize("name", ["all.json", "all.jsonl", "all.json.gz", "all.jsonl.gz"])
def test_export_then_import_restores_every_field(
    store: ConversationStore, tmp_path: Path, name: str
) -> None:
    """Guards against any conversation or message field (ids, seqs, times, status,
    metadata, tokens, run ids, provider, session, fork, trash, tags, context, pinned)
    being lost or altered on the way through a document."""
    build_rich_store(store)
    before = comparable(snapshot(store))
    path = tmp_path / name
    report = export_to_path(store, path, redact=False)
    assert (report.conversations, report.messages) == (5, 13)
    _delete_all(store)
    assert snapshot(store) == {}

    imported = import_paths(store, [path])

    assert imported.format == "threadkeep"
    assert (imported.conversations_imported, imported.messages_imported) == (5, 13)
    assert (imported.conversations_skipped, imported.ids_renamed) == (0, 0)
    assert comparable(snapshot(store)) == before


def test_json_and_jsonl_carry_the_same_checksum(store: ConversationStore, tmp_path: Path) -> None:
    """Guards: the checksum is over the records, not the encoding, as the spec says."""
    build_rich_store(store)
    export_to_path(store, tmp_path / "a.json", redact=False)
    export_to_path(store, tmp_path / "a.jsonl", redact=False)
    document = json.loads((tmp_path / "a.json").read_text())
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    header, trailer = json.loads(lines[0]), json.loads(lines[-1])
    assert document["checksum"] == trailer["checksum"]
    assert document["checksum"].startswith("sha256:") and len(document["checksum"]) == 71
    assert document["counts"] == trailer["counts"] == {"conversations": 5, "messages": 13}
    assert header["format"] == document["format"] == "threadkeep"
    assert header["format_version"] == document["format_version"] == FORMAT_VERSION


def test_reimport_is_idempotent_and_taken_ids_are_renamed(
    store: ConversationStore, tmp_path: Path
) -> None:
    """Guards against a second import duplicating conversations, and against an import
    overwriting or colliding with conversations that already use its ids."""
    ids = build_rich_store(store)
    path = tmp_path / "all.jsonl"
    export_to_path(store, path, redact=False)
    other = store.as_owner("bob")

    first = import_paths(other, [path])
    again = import_paths(other, [path, path.with_suffix(".jsonl")])

    # The ids belong to the first owner's conversations: every one is renamed.
    assert (first.conversations_imported, first.ids_renamed) == (5, 5)
    assert (again.conversations_imported, again.conversations_skipped) == (0, 5)
    assert again.messages_imported == 0
    theirs = snapshot(other)
    assert len(theirs) == 5 and not set(theirs) & set(ids.values())
    titles = sorted(str(c["title"]) for c, _ in theirs.values())
    assert titles == sorted(str(c["title"]) for c, _ in snapshot(store).values())
    # The JSON export of the same conversations is the same source: skipped too.
    export_to_path(store, tmp_path / "all.json", redact=False)
    assert import_paths(other, [tmp_path / "all.json"]).conversations_skipped == 5


@pytest.mark.parametrize("name", ["threadkeep-v1.json", "threadkeep-v1.jsonl"])
def test_format_version_1_fixture_imports_forever(store: ConversationStore, name: str) -> None:
    """Guards against a change of the reader breaking documents an earlier threadkeep
    wrote: the checked-in version 1 fixture must import, with every value intact."""
    report = import_paths(store, [FIXTURES / name])
    assert (report.conversations_imported, report.messages_imported) == (5, 13)
    found = {c["title"]: (c, m) for c, m in snapshot(store).values()}
    main, messages = found["Trip to Lisbon ✈️"]
    assert main["id"] == "01a1fd2e-a783-7000-a768-3fe9223f0b92"
    assert (main["mode"], main["provider"], main["model"]) == ("interactive", "echo", "echo-1")
    assert (main["provider_session_id"], main["pinned"]) == ("sess-abc", True)
    assert main["tags"] == ("travel", "2025")
    assert main["context"]["nested"] == {"a": None}
    assert [m["seq"] for m in messages] == [1, 2, 3, 4, 5, 6]
    assert [m["kind"] for m in messages] == [
        "system_artifact",
        "text",
        "tool_call",
        "tool_result",
        "text",
        "error",
    ]
    assert messages[4]["content"] == "Day 1: Alfama. 🏛️"
    assert messages[4]["metadata"]["list"][2] == 1e16
    assert (messages[4]["tokens"], messages[5]["id"]) == (42, "msg_err_1")
    assert messages[2]["run_id"] is not None
    assert (main["message_count"], main["last_seq"], main["token_count"]) == (6, 6, 51)
    fork, _ = found["Lisbon, shorter"]
    assert fork["status"] == "archived"
    assert fork["forked_from"] == {"conversation_id": main["id"], "seq": 2}
    trash, _ = found["In the trash"]
    assert trash["status"] == "trash" and trash["trashed_at"] is not None
    capped, capped_messages = found["Pruned by the cap"]
    assert [m["seq"] for m in capped_messages] == [5, 6, 7]
    assert (capped["message_count"], capped["last_seq"]) == (3, 7)
    assert found[None][0]["message_count"] == 0


def test_both_fixture_encodings_hold_the_same_store(store: ConversationStore) -> None:
    """Guards against the JSON and JSON Lines readers disagreeing on any value."""
    import_paths(store, [FIXTURES / "threadkeep-v1.json"])
    from_json = comparable(snapshot(store))
    _delete_all(store)
    import_paths(store, [FIXTURES / "threadkeep-v1.jsonl"])
    assert comparable(snapshot(store)) == from_json


def test_markdown_is_readable(store: ConversationStore, tmp_path: Path) -> None:
    """Guards: the Markdown export shows titles, roles, tool calls and fenced results."""
    build_rich_store(store)
    report = export_to_path(store, tmp_path / "chats.md")
    text = (tmp_path / "chats.md").read_text()
    assert report.format == "markdown"
    assert "# Trip to Lisbon ✈️" in text and "# Untitled conversation" in text
    assert "## User" in text and "## Assistant · tool call" in text
    assert '**`search`**\n\n```json\n{\n  "q": "Lisbon"\n}\n```' in text
    assert "## Tool · tool result\n\n*#4 · " in text and "```\nSunny, 24°C\n```" in text
    assert "Day 1: Alfama. 🏛️" in text and "## Assistant · error" in text
    assert "forked from `" in text and "echo / echo-1" in text
    assert text.count("\n---\n") == 4


def test_export_to_a_stream_and_gzip(store: ConversationStore, tmp_path: Path) -> None:
    """Guards: a caller's stream gets the document and stays open; .gz names compress."""
    build_rich_store(store)
    path = tmp_path / "out.jsonl"
    with path.open("wb") as out:
        report = export_conversations(store, out, format="jsonl", redact=False)
        assert not out.closed
    assert report.bytes_written == path.stat().st_size
    packed = export_to_path(store, tmp_path / "out.jsonl.gz", redact=False)
    assert packed.bytes_written == (tmp_path / "out.jsonl.gz").stat().st_size
    unpacked = gzip.decompress((tmp_path / "out.jsonl.gz").read_bytes()).splitlines()
    assert unpacked[1:-1] == path.read_bytes().splitlines()[1:-1]
