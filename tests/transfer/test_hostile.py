"""Hostile and broken import files: refused with an error naming the place, nothing written.

Each test first gives the store some data, feeds the importer a bad file (a zip bomb,
deep nesting, paths out of an archive, truncation, wrong types, a 100 MB message, a
forged checksum, a future format version) and then checks both the error and that the
database is exactly as it was.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.transfer.helpers import snapshot
from threadkeep import ConversationStore, Settings, open_store
from threadkeep.errors import InvalidInput, ThreadkeepError, TooLarge
from threadkeep.transfer.document import Checksum, canonical
from threadkeep.transfer.exporter import export_to_path
from threadkeep.transfer.importer import import_paths

OpenStore = Callable[..., ConversationStore]


@pytest.fixture
def open_limited(db_url: str) -> Iterator[OpenStore]:
    """Opens the test database with settings (low limits), holding some data already."""
    with ExitStack() as stack:

        def opener(**settings: Any) -> ConversationStore:
            store = stack.enter_context(open_store(db_url, settings=Settings.load(**settings)))
            if not snapshot(store):
                conversation = store.create_conversation(title="keep me")
                store.append_message(conversation.id, "user", "already here")
            return store

        yield opener


def _refused(
    store: ConversationStore,
    path: Path,
    error: type[ThreadkeepError],
    match: str,
    **kw: Any,
) -> None:
    """The import of ``path`` fails with ``error`` matching ``match`` and writes nothing."""
    before = snapshot(store)
    with pytest.raises(error, match=match):
        import_paths(store, [path], **kw)
    assert snapshot(store) == before


def _export(store: ConversationStore, path: Path) -> Path:
    conversation = store.create_conversation(title="exported")
    store.append_message(conversation.id, "user", "hello")
    store.append_message(conversation.id, "assistant", "hi", metadata={"n": 1})
    export_to_path(store, path, conversation_ids=[conversation.id], redact=False)
    store.delete_conversation(conversation.id)
    return path


def _rechecksum(document: dict[str, Any]) -> dict[str, Any]:
    """The document with its checksum recomputed (as a forger, or a buggy writer, would)."""
    checksum = Checksum()
    conversations = document.get("conversations")
    for conversation in conversations if isinstance(conversations, list) else []:
        checksum.add(canonical({k: v for k, v in conversation.items() if k != "messages"}))
        for message in conversation.get("messages", []):
            checksum.add(canonical(message))
    document["checksum"] = checksum.value()
    return document


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


CHATGPT_ONE = json.dumps(
    [
        {
            "id": "c1",
            "title": "t",
            "mapping": {
                "n1": {
                    "id": "n1",
                    "parent": None,
                    "children": [],
                    "message": {
                        "id": "m1",
                        "author": {"role": "user"},
                        "content": {"content_type": "text", "parts": ["hi"]},
                        "create_time": 1.7e9,
                    },
                }
            },
            "current_node": "n1",
        }
    ]
).encode()


# -- archives -----------------------------------------------------------------------------


def test_zip_bomb_is_stopped_at_the_unpacked_limit(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards against a small zip expanding into gigabytes in memory: the sizes its
    directory declares are refused before anything is decompressed."""
    store = open_limited(import_max_unpacked_bytes=1_000_000)
    bomb = b"[" + b" " * 20_000_000 + b"]"  # valid JSON, compresses ~1000:1
    path = _zip(tmp_path / "export.zip", {"conversations.json": bomb})
    assert path.stat().st_size < 100_000
    _refused(
        store,
        path,
        TooLarge,
        r"export\.zip: unpacks to 20,000,002 bytes \(as its directory declares\), over the "
        r"limit of 1,000,000 bytes",
    )


def test_gzip_bomb_is_stopped_at_the_unpacked_limit(
    open_limited: OpenStore, tmp_path: Path
) -> None:
    """Guards: a .gz threadkeep document is decompressed through the same counter."""
    store = open_limited(import_max_unpacked_bytes=500_000)
    document = _export(store, tmp_path / "doc.jsonl").read_bytes()
    lines = document.splitlines(keepends=True)
    padded = lines[0] + b"\n" * 5_000_000 + b"".join(lines[1:])
    path = tmp_path / "doc.jsonl.gz"
    path.write_bytes(gzip.compress(padded))
    _refused(store, path, TooLarge, r"doc\.jsonl\.gz: unpacks to more than 500,000 bytes")


@pytest.mark.parametrize("member", ["../evil.json", "a/../../evil.json", "/etc/evil.json"])
def test_zip_members_pointing_outside_are_refused(
    open_limited: OpenStore, tmp_path: Path, member: str
) -> None:
    """Guards against archives built to escape a target directory (path traversal)."""
    store = open_limited()
    path = _zip(tmp_path / "export.zip", {"conversations.json": CHATGPT_ONE, member: b"{}"})
    _refused(store, path, InvalidInput, r"absolute path or '\.\.'")


def test_zip_with_too_many_members_is_refused(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards against archives of countless tiny files (setting import_max_entries)."""
    store = open_limited(import_max_entries=5)
    members = {f"file{n}.txt": b"x" for n in range(6)} | {"conversations.json": CHATGPT_ONE}
    path = _zip(tmp_path / "export.zip", members)
    _refused(store, path, TooLarge, r"holds 7 files, over the limit of 5 \(setting import_max_")


def test_file_over_the_size_limit_is_refused(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards: a file larger than import_max_bytes is refused from its size alone."""
    store = open_limited(import_max_bytes=100)
    path = tmp_path / "conversations.json"
    path.write_bytes(CHATGPT_ONE)
    _refused(store, path, TooLarge, r"over the import limit of 100 bytes \(setting import_max_")


# -- nesting ------------------------------------------------------------------------------


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"d": value}
    return value


def test_deep_nesting_is_refused_in_a_json_document(
    open_limited: OpenStore, tmp_path: Path
) -> None:
    """Guards against deeply nested metadata getting past the depth limit."""
    store = open_limited(import_max_depth=16)
    path = _export(store, tmp_path / "doc.json")
    document = json.loads(path.read_text())
    document["conversations"][0]["messages"][0]["metadata"] = _nested(20)
    path.write_text(json.dumps(document))
    _refused(
        store,
        path,
        InvalidInput,
        r"doc\.json: conversations\[0\]\.messages\[0\]: JSON nested deeper than 16 levels",
    )


def test_deep_nesting_is_refused_on_its_jsonl_line(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards: in JSON Lines the error names the line."""
    store = open_limited(import_max_depth=16)
    path = _export(store, tmp_path / "doc.jsonl")
    lines = path.read_text().splitlines()
    message = json.loads(lines[2])
    message["metadata"] = _nested(20)
    lines[2] = json.dumps(message)
    path.write_text("\n".join(lines) + "\n")
    _refused(store, path, InvalidInput, r"doc\.jsonl:3: JSON nested deeper than 16 levels")


def test_pathological_nesting_is_refused_without_a_recursion_error(
    open_limited: OpenStore, tmp_path: Path
) -> None:
    """Guards against 200,000 nested brackets crashing the importer with RecursionError
    (in any format) instead of a clear error."""
    store = open_limited()
    deep = "[" * 200_000 + "]" * 200_000
    path = tmp_path / "chat.json"
    path.write_text('{"messages": ' + deep + "}")
    _refused(
        store,
        path,
        InvalidInput,
        r"chat\.json: JSON nested deeper than 64 levels",
        format="openai-messages",
    )
    doc = tmp_path / "doc.json"
    doc.write_text('{"format": "threadkeep", "format_version": 1, "x": ' + deep + "}")
    _refused(store, doc, InvalidInput, r"doc\.json: JSON nested deeper than 64 levels")


# -- broken documents ---------------------------------------------------------------------


def test_truncated_json_is_refused(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards against half a download importing as if it were whole."""
    store = open_limited()
    path = _export(store, tmp_path / "doc.json")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _refused(store, path, InvalidInput, r"doc\.json: not valid JSON at line \d+ column \d+")


def test_truncated_jsonl_is_refused(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards: a JSONL export cut between lines (no trailer) or inside a line fails."""
    store = open_limited()
    path = _export(store, tmp_path / "doc.jsonl")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    _refused(store, path, InvalidInput, r"doc\.jsonl: ends without its trailer line; .*truncated")
    path.write_text("".join(lines[:-2]) + lines[-2][:30])
    _refused(store, path, InvalidInput, r"doc\.jsonl:4: not valid JSON")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda d: d["conversations"][0]["messages"][1].update(role=5),
            r"doc\.json: conversations\[0\]\.messages\[1\]\.role: expected a string, got a number",
        ),
        (
            lambda d: d["conversations"][0]["messages"][0].update(seq="1"),
            r"conversations\[0\]\.messages\[0\]\.seq: expected a whole number, got a string",
        ),
        (
            lambda d: d["conversations"][0].update(pinned="yes"),
            r"conversations\[0\]\.pinned: expected true or false, got a string",
        ),
        (
            lambda d: d["conversations"][0].update(created_at="yesterday"),
            r"conversations\[0\]\.created_at: 'yesterday' is not an ISO 8601 time",
        ),
        (
            lambda d: d["conversations"][0]["messages"][0].pop("content"),
            r"conversations\[0\]\.messages\[0\]: message lacks content",
        ),
        (
            lambda d: d["conversations"][0].update(colour="blue"),
            r"conversations\[0\]: unknown conversation field\(s\) colour",
        ),
        (
            lambda d: d.update(conversations={}),
            r"doc\.json\.conversations: expected a list, got an object",
        ),
        (
            lambda d: d["conversations"][0]["messages"][1].update(role="robot"),
            r"conversation .*: message 2: role must be one of",
        ),
    ],
)
def test_wrong_types_are_refused_naming_the_place(
    open_limited: OpenStore, tmp_path: Path, change: Callable[[Any], Any], match: str
) -> None:
    """Guards against mistyped or unknown fields importing silently, and against errors
    that do not say where the problem is (the checksum is made right again, so the
    change itself is what is refused)."""
    store = open_limited()
    path = _export(store, tmp_path / "doc.json")
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(_rechecksum(document)))
    _refused(store, path, InvalidInput, match)


def test_jsonl_errors_name_the_line(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards: a wrong type in JSON Lines is reported with its line number."""
    store = open_limited()
    path = _export(store, tmp_path / "doc.jsonl")
    lines = path.read_text().splitlines()
    message = json.loads(lines[3])
    message["tokens"] = "many"
    lines[3] = json.dumps(message)
    path.write_text("\n".join(lines) + "\n")
    _refused(store, path, InvalidInput, r"doc\.jsonl:4\.tokens: expected a whole number or null")


def test_checksum_mismatch_is_refused(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards against a document edited or damaged after export importing as genuine."""
    store = open_limited()
    path = _export(store, tmp_path / "doc.json")
    path.write_text(path.read_text().replace('"hello"', '"hellO"'))
    _refused(store, path, InvalidInput, r"doc\.json: checksum mismatch: the document says")
    lines_path = _export(store, tmp_path / "doc.jsonl")
    lines_path.write_text(lines_path.read_text().replace('"hi"', '"hI"'))
    _refused(store, lines_path, InvalidInput, r"doc\.jsonl: checksum mismatch")


def test_unknown_format_version_is_refused_clearly(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards against a newer document being misread by an older threadkeep."""
    store = open_limited()
    path = _export(store, tmp_path / "doc.json")
    path.write_text(path.read_text().replace('"format_version":1', '"format_version":99', 1))
    _refused(
        store,
        path,
        InvalidInput,
        r"doc\.json: format_version 99 is newer than this threadkeep reads \(up to 1\); upgrade",
    )
    lines_path = _export(store, tmp_path / "doc.jsonl")
    lines_path.write_text(
        lines_path.read_text().replace('"format_version":1', '"format_version":2')
    )
    _refused(store, lines_path, InvalidInput, r"doc\.jsonl:1: format_version 2 is newer")


def test_seq_gaps_are_renumbered(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards: a document with a gap in seqs (rows skipped as damaged on export) still
    imports, with seqs made contiguous again (the store's invariant)."""
    store = open_limited()
    path = _export(store, tmp_path / "doc.json")
    document = json.loads(path.read_text())
    document["conversations"][0]["messages"][1]["seq"] = 7
    path.write_text(json.dumps(_rechecksum(document)))
    report = import_paths(store, [path])
    (conversation,) = [c for c in store.list_conversations() if c.title == "exported"]
    assert report.messages_imported == 2
    assert [m.seq for m in store.get_messages(conversation.id)] == [1, 2]
    assert conversation.last_seq == 2


# -- sizes --------------------------------------------------------------------------------


def _write_huge_message_jsonl(path: Path, template: Path, size: int) -> None:
    """A copy of ``template`` whose first message has ``size`` bytes of content,
    written in chunks (the test itself never holds it in memory)."""
    lines = template.read_text().splitlines()
    message = json.loads(lines[2])
    message["content"] = "@@CONTENT@@"
    before, after = json.dumps(message).split("@@CONTENT@@")
    chunk = "a" * 1_000_000
    with path.open("w") as out:
        out.write("\n".join(lines[:2]) + "\n" + before)
        for _ in range(size // len(chunk)):
            out.write(chunk)
        out.write(after + "\n" + "\n".join(lines[3:]) + "\n")


def test_a_100_mb_message_is_too_large_in_jsonl(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards against a 100 MB message being read whole (and copied) before it is
    refused: the bounded line read stops a little past the message size limit."""
    store = open_limited()
    template = _export(store, tmp_path / "small.jsonl")
    path = tmp_path / "huge.jsonl"
    _write_huge_message_jsonl(path, template, 100_000_000)
    _refused(store, path, TooLarge, r"huge\.jsonl:3: the line is over 8,454,144 bytes")


def test_a_100_mb_message_is_too_large_in_json(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards: in a JSON document the message is refused once its text passes what the
    largest message can take, naming it, without reading (or decoding) 100 MB."""
    store = open_limited()
    path = _export(store, tmp_path / "huge.json")
    head, tail = path.read_text().split('"content":"hello"')
    with path.open("w") as out:
        out.write(head + '"content":"')
        for _ in range(100):
            out.write("a" * 1_000_000)
        out.write('"' + tail)
    _refused(
        store,
        path,
        TooLarge,
        r"huge\.json: conversations\[0\]\.messages\[0\]: over 8,454,144 characters .*"
        r"setting max_message_bytes",
    )


def test_message_count_limit(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards: import_max_messages bounds one import, checked before anything is written."""
    store = open_limited(import_max_messages=1)
    path = _export(store, tmp_path / "doc.jsonl")
    _refused(store, path, TooLarge, r"more than 1 messages in one import")


def test_one_bad_file_among_good_ones_writes_nothing(
    open_limited: OpenStore, tmp_path: Path
) -> None:
    """Guards: the import is all or nothing across every file given."""
    store = open_limited()
    good = _export(store, tmp_path / "good.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text().replace('"hello"', '"changed"'))
    before = snapshot(store)
    with pytest.raises(InvalidInput, match=r"bad\.jsonl: checksum mismatch"):
        import_paths(store, [good, bad])
    assert snapshot(store) == before


def test_corrupt_gzip_and_zip_are_invalid(open_limited: OpenStore, tmp_path: Path) -> None:
    """Guards: damaged compressed files give InvalidInput naming them, not a crash."""
    store = open_limited()
    document = _export(store, tmp_path / "doc.jsonl").read_bytes()
    packed = gzip.compress(document)
    path = tmp_path / "doc.jsonl.gz"
    path.write_bytes(packed[: len(packed) // 2])
    _refused(store, path, InvalidInput, r"doc\.jsonl\.gz", format="threadkeep")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("conversations.json", CHATGPT_ONE)
    broken = tmp_path / "export.zip"
    broken.write_bytes(buffer.getvalue()[:-30])
    _refused(store, broken, InvalidInput, r"export\.zip", format="chatgpt")
