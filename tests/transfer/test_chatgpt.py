"""The ChatGPT export parser: active branch, skipped nodes, content types, zip reading."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from threadkeep.errors import InvalidInput, TooLarge
from threadkeep.transfer.formats import chatgpt
from threadkeep.transfer.limits import ImportLimits
from threadkeep.transfer.records import ImportedConversation, Source

T0 = 1_700_000_000.5  # 2023-11-14T22:13:20.5Z


def node(
    node_id: str,
    parent: str | None,
    children: list[str],
    *,
    role: str | None = "user",
    parts: list[Any] | None = None,
    content: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    recipient: str = "all",
    author_name: str | None = None,
    create_time: float | None = T0,
) -> dict[str, Any]:
    """A mapping node; ``role=None`` makes a node without a message (like the root)."""
    if role is None:
        return {"id": node_id, "message": None, "parent": parent, "children": children}
    message: dict[str, Any] = {
        "id": f"msg-{node_id}",
        "author": {"role": role, "name": author_name, "metadata": {}},
        "create_time": create_time,
        "update_time": None,
        "content": content or {"content_type": "text", "parts": parts or []},
        "status": "finished_successfully",
        "end_turn": True,
        "weight": 1.0,
        "metadata": metadata or {},
        "recipient": recipient,
    }
    return {"id": node_id, "message": message, "parent": parent, "children": children}


def conversation(nodes: list[dict[str, Any]], current: str | None, **extra: Any) -> dict[str, Any]:
    """A conversation object holding ``nodes`` as its mapping."""
    conv: dict[str, Any] = {
        "title": "Sourdough starter schedule",
        "create_time": T0,
        "update_time": T0 + 60,
        "mapping": {n["id"]: n for n in nodes},
        "current_node": current,
        "conversation_id": "c0ffee00-0000-4000-8000-000000000001",
        "id": "c0ffee00-0000-4000-8000-000000000001",
        "default_model_slug": "gpt-4o",
    }
    conv.update(extra)
    return conv


def edited_tree() -> dict[str, Any]:
    """Root → hidden system → user → two assistant replies (regenerated) → follow-up."""
    return conversation(
        [
            node("root", None, ["sys"], role=None),
            node("sys", "root", ["u1"], role="system", parts=[""]),
            node("u1", "sys", ["a1-old", "a1-new"], parts=["How often do I feed a starter?"]),
            node("a1-old", "u1", [], role="assistant", parts=["Every hour."]),
            node("a1-new", "u1", ["u2"], role="assistant", parts=["Once or twice a day."]),
            node("u2", "a1-new", ["a2"], parts=["And in the fridge?"]),
            node("a2", "u2", [], role="assistant", parts=["About once a week."]),
        ],
        current="a2",
    )


def parse_one(conv: dict[str, Any]) -> ImportedConversation:
    """The single conversation parsed from a one-conversation export."""
    (result,) = chatgpt.parse([conv], file="conversations.json")
    return result


def test_active_branch_wins_over_regenerated_sibling() -> None:
    """Guards: the branch walked up from current_node is imported, not an abandoned one."""
    result = parse_one(edited_tree())
    assert [m.content for m in result.messages] == [
        "How often do I feed a starter?",
        "Once or twice a day.",
        "And in the fridge?",
        "About once a week.",
    ]
    assert [m.role for m in result.messages] == ["user", "assistant", "user", "assistant"]
    assert result.messages[1].source_id == "msg-a1-new"
    assert result.source == Source(
        "chatgpt", "conversations.json", "c0ffee00-0000-4000-8000-000000000001"
    )
    assert result.title == "Sourdough starter schedule"


def test_current_node_on_the_old_branch_is_followed() -> None:
    """Guards: the choice follows current_node, not the last-listed child."""
    conv = edited_tree()
    conv["current_node"] = "a1-old"
    result = parse_one(conv)
    assert [m.content for m in result.messages][-1] == "Every hour."
    assert len(result.messages) == 2


def test_missing_current_node_falls_back_to_newest_leaf() -> None:
    """Guards: an export without current_node still yields the latest branch."""
    result = parse_one(edited_tree() | {"current_node": None})
    assert [m.content for m in result.messages][-1] == "About once a week."


def test_hidden_and_system_nodes_are_skipped() -> None:
    """Guards: custom-instruction and empty system nodes never become messages."""
    conv = conversation(
        [
            node("root", None, ["sys"], role=None),
            node("sys", "root", ["ctx"], role="system", parts=[""]),
            node(
                "ctx",
                "sys",
                ["u1"],
                content={"content_type": "user_editable_context", "user_profile": "I bake."},
                metadata={"is_visually_hidden_from_conversation": True},
            ),
            node("u1", "ctx", ["a1"], parts=["Hi"]),
            node("a1", "u1", [], role="assistant", parts=[""]),
        ],
        current="a1",
    )
    result = parse_one(conv)
    assert [(m.role, m.content) for m in result.messages] == [("user", "Hi")]


def test_multimodal_parts_split_between_content_and_metadata() -> None:
    """Guards: image pointers are kept in metadata, never dropped or put in the text."""
    image = {
        "content_type": "image_asset_pointer",
        "asset_pointer": "file-service://file-abc123",
        "size_bytes": 12345,
        "width": 640,
        "height": 480,
    }
    conv = conversation(
        [
            node(
                "u1",
                None,
                [],
                content={"content_type": "multimodal_text", "parts": [image, "What bird is this?"]},
            )
        ],
        current="u1",
    )
    (message,) = parse_one(conv).messages
    assert message.content == "What bird is this?"
    assert message.kind == "text"
    assert message.metadata is not None
    assert message.metadata["chatgpt"]["content_type"] == "multimodal_text"
    assert message.metadata["chatgpt"]["parts"] == [image]


def test_tool_call_and_result_kinds() -> None:
    """Guards: code sent to a tool is a tool_call, the tool's output a tool_result."""
    conv = conversation(
        [
            node("u1", None, ["a1"], parts=["Sum 1..10"]),
            node(
                "a1",
                "u1",
                ["t1"],
                role="assistant",
                recipient="python",
                content={"content_type": "code", "language": "python", "text": "sum(range(11))"},
            ),
            node(
                "t1",
                "a1",
                ["a2"],
                role="tool",
                author_name="python",
                content={"content_type": "execution_output", "text": "55"},
            ),
            node("a2", "t1", [], role="assistant", parts=["It is 55."]),
        ],
        current="a2",
    )
    messages = parse_one(conv).messages
    assert [(m.role, m.kind, m.content) for m in messages] == [
        ("user", "text", "Sum 1..10"),
        ("assistant", "tool_call", "sum(range(11))"),
        ("tool", "tool_result", "55"),
        ("assistant", "text", "It is 55."),
    ]
    assert messages[1].metadata is not None
    assert messages[1].metadata["chatgpt"]["recipient"] == "python"
    assert messages[1].metadata["chatgpt"]["language"] == "python"
    assert messages[2].metadata is not None
    assert messages[2].metadata["chatgpt"]["content_type"] == "execution_output"
    assert messages[2].metadata["chatgpt"]["author_name"] == "python"


def test_unknown_content_type_is_kept_in_metadata() -> None:
    """Guards: content of a type the parser does not know is kept, not dropped silently."""
    weird = {"content_type": "future_widget", "widget": {"x": 1}}
    conv = conversation([node("a1", None, [], role="assistant", content=weird)], current="a1")
    (message,) = parse_one(conv).messages
    assert message.kind == "system_artifact"
    assert message.metadata is not None
    assert message.metadata["chatgpt"]["unparsed"] == {"widget": {"x": 1}}


def test_null_title_and_missing_mapping_are_tolerated() -> None:
    """Guards: odd but real conversations (no title, no mapping, no times) still import."""
    conv = {"title": None, "id": "abc", "create_time": None}
    result = parse_one(conv)
    assert result.title is None
    assert result.messages == ()
    assert result.created_at is None
    assert result.updated_at is None
    assert result.source.source_id == "abc"


def test_missing_message_metadata_and_create_time_are_tolerated() -> None:
    """Guards: a message without metadata or create_time parses, with created_at None."""
    bare = node("u1", None, [], parts=["hello"], create_time=None)
    del bare["message"]["metadata"]
    (message,) = parse_one(conversation([bare], current="u1")).messages
    assert message.content == "hello"
    assert message.created_at is None


def test_created_at_is_aware_utc() -> None:
    """Guards: Unix float seconds become aware UTC datetimes, fractions kept."""
    result = parse_one(edited_tree())
    expected = dt.datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=dt.UTC)
    assert result.created_at == expected
    assert result.updated_at == expected + dt.timedelta(seconds=60)
    assert result.messages[0].created_at == expected
    assert result.messages[0].created_at.tzinfo is dt.UTC


@pytest.mark.parametrize(
    ("data", "place"),
    [
        ({"not": "a list"}, "conversations.json: expected a list"),
        ([{"id": "a"}, "oops"], "conversations.json[1]: expected an object"),
        ([{"id": "a", "mapping": []}], "conversations.json[0].mapping: expected an object"),
        ([{"id": "a", "title": 7}], "conversations.json[0].title: expected a string"),
        ([{"id": "a", "create_time": "today"}], "conversations.json[0].create_time"),
        ([{"title": "no id"}], "conversations.json[0].conversation_id"),
        (
            [conversation([node("u1", None, [], role="critic", parts=["x"])], current="u1")],
            "conversations.json[0].mapping.u1.message.author.role",
        ),
        (
            [conversation([node("u1", None, [], content={"parts": "x"})], current="u1")],
            "conversations.json[0].mapping.u1.message.content.parts: expected a list",
        ),
    ],
)
def test_wrong_types_name_the_place(data: Any, place: str) -> None:
    """Guards: bad input raises InvalidInput whose message says where the problem is."""
    with pytest.raises(InvalidInput) as info:
        list(chatgpt.parse(data, file="conversations.json"))
    assert place in info.value.message


def test_parent_cycle_is_refused() -> None:
    """Guards: a corrupt mapping whose parents loop cannot hang the importer."""
    conv = conversation(
        [node("a", "b", [], parts=["x"]), node("b", "a", [], parts=["y"])], current="a"
    )
    with pytest.raises(InvalidInput, match="cycle"):
        parse_one(conv)


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    """A zip at ``path`` holding ``entries`` (name → bytes), compressed."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, raw in entries.items():
            archive.writestr(name, raw)
    return path


def shard(*convs: dict[str, Any]) -> bytes:
    """The JSON bytes of one conversations file."""
    return json.dumps(list(convs)).encode()


def titled(conv_id: str, title: str) -> dict[str, Any]:
    """A small conversation with one user message."""
    return conversation(
        [node("u1", None, [], parts=[f"message of {title}"])],
        current="u1",
        conversation_id=conv_id,
        id=conv_id,
        title=title,
    )


def test_zip_with_sharded_files(tmp_path: Path) -> None:
    """Guards: every conversations-NNN.json of a newer export is read, in shard order."""
    path = write_zip(
        tmp_path / "export.zip",
        {
            "conversations-001.json": shard(titled("c3", "third")),
            "conversations-000.json": shard(titled("c1", "first"), titled("c2", "second")),
            "chat.html": b"<html></html>",
            "user.json": b"{}",
        },
    )
    results = list(chatgpt.load(path))
    assert [r.title for r in results] == ["first", "second", "third"]
    assert results[2].source == Source("chatgpt", "export.zip/conversations-001.json", "c3")
    assert not (tmp_path / "conversations-000.json").exists()


def test_zip_with_single_file_and_plain_file_and_directory(tmp_path: Path) -> None:
    """Guards: the classic zip, a bare conversations.json and a shard directory all load."""
    zipped = write_zip(tmp_path / "old.zip", {"conversations.json": shard(titled("c1", "a"))})
    assert [r.title for r in chatgpt.load(zipped)] == ["a"]

    plain = tmp_path / "conversations.json"
    plain.write_bytes(shard(titled("c2", "b")))
    assert [r.title for r in chatgpt.load(plain)] == ["b"]

    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "conversations-000.json").write_bytes(shard(titled("c3", "c")))
    (shards / "conversations-001.json").write_bytes(shard(titled("c4", "d")))
    (shards / "notes.txt").write_text("ignored")
    assert [r.title for r in chatgpt.load(shards)] == ["c", "d"]


def test_zip_entry_over_the_limit_is_refused(tmp_path: Path) -> None:
    """Guards: a huge (or bomb) entry is refused from the size it declares, before it is
    decompressed."""
    big = b"[" + b" " * 10_000 + b"]"
    path = write_zip(tmp_path / "export.zip", {"conversations.json": big})
    with pytest.raises(TooLarge, match=r"export\.zip: unpacks to 10,002 bytes \(as its directory"):
        list(chatgpt.load(path, limits=ImportLimits(max_unpacked_bytes=1_000)))


def test_zip_entry_lying_about_its_size_is_refused(tmp_path: Path) -> None:
    """Guards: a header claiming a small size cannot smuggle a large entry past the limit."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("conversations.json", b"[" + b" " * 5_000 + b"]")
    raw = bytearray(buffer.getvalue())
    # Patch the uncompressed size in the central directory header to a small value.
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (100).to_bytes(4, "little")
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(raw))
    # zipfile stops at the declared size and then fails the CRC: refused either way.
    with pytest.raises((InvalidInput, TooLarge), match=r"liar\.zip/conversations\.json: "):
        list(chatgpt.load(path, limits=ImportLimits(max_unpacked_bytes=1_000)))


def test_zip_without_conversations_and_bad_json(tmp_path: Path) -> None:
    """Guards: a zip of something else, and broken JSON, fail with a named place."""
    other = write_zip(tmp_path / "other.zip", {"readme.txt": b"hi"})
    with pytest.raises(InvalidInput, match=r"no conversations\.json"):
        list(chatgpt.load(other))
    broken = write_zip(tmp_path / "broken.zip", {"conversations.json": b"[{"})
    with pytest.raises(InvalidInput, match=r"broken\.zip/conversations\.json: not valid JSON"):
        list(chatgpt.load(broken))


def test_provider_and_model() -> None:
    """Guards against a ChatGPT conversation imported without its provider and model
    (default_model_slug); a model too long for its column stays only in the context."""
    result = parse_one(edited_tree())
    assert (result.provider, result.model, result.provider_session_id) == (
        "openai",
        "gpt-4o",
        None,
    )
    assert result.context["chatgpt"]["default_model_slug"] == "gpt-4o"
    odd = parse_one(conversation([], current=None, default_model_slug="x" * 300))
    assert odd.model is None and odd.context["chatgpt"]["default_model_slug"] == "x" * 300
    assert parse_one(conversation([], current=None, default_model_slug=None)).model is None


def test_a_large_export_is_read_one_conversation_at_a_time(tmp_path: Path) -> None:
    """Guards against decoding a whole conversations.json before the first conversation:
    the first is yielded before a broken tail further on is even read."""
    text = json.dumps([titled("c1", "first"), titled("c2", "second")])
    path = tmp_path / "conversations.json"
    path.write_text(text[:-1] + ", {" + " " * 200_000 + "broken")
    results = chatgpt.load(path)
    assert next(results).title == "first"
    assert next(results).title == "second"
    with pytest.raises(InvalidInput, match=r"conversations\.json: not valid JSON at line 1"):
        next(results)
