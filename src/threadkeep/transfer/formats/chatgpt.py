"""The ChatGPT data export: ``conversations.json`` (or its shards) to import records.

A ChatGPT conversation is a tree, not a list: ``mapping`` holds every node ever made
(each edit or regeneration starts a sibling branch) and ``current_node`` is the leaf the
user last saw. The conversation people remember is the *active branch*: walk from
``current_node`` up through ``parent`` to the root and reverse. Sibling branches are
not imported. When ``current_node`` is missing or unknown, the branch that follows the
newest child from the root stands in for it.

Nodes without a message, nodes the app hides (``metadata.is_visually_hidden_from_
conversation``, the empty system prompt at the root) and empty messages are skipped.
What threadkeep has no column for — the raw ``content_type``, image asset pointers of
``multimodal_text``, the tool name, the ``recipient`` of a tool call, the model — goes
into the message's ``metadata["chatgpt"]``, so nothing is dropped silently.

The export arrives as a zip holding ``conversations.json`` or, in newer exports,
``conversations-000.json``, ``conversations-001.json``, ...; :func:`load` reads the zip
(nothing is extracted to disk), a single JSON file, or a directory of shards, within
the import limits (``transfer/limits.py``: member count, names and declared sizes,
unpacked size counted while decompressing, JSON depth). Each file is streamed
(``json_stream.py``): one conversation is decoded at a time, so memory follows the
largest conversation, not the size of the export. Every structural error is an
:class:`~threadkeep.errors.InvalidInput` naming the place, e.g.
``conversations.json[3].mapping: expected an object``.

The conversation's provider is ``openai`` and its model the export's
``default_model_slug``; ChatGPT conversations cannot be resumed through an API, so no
provider session is recorded.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import IO, Any

from threadkeep.errors import InvalidInput
from threadkeep.models import MESSAGE_ROLES
from threadkeep.transfer.formats.json_fields import (
    expect_object,
    is_model_name,
    or_empty,
    type_name,
    unix_time,
)
from threadkeep.transfer.json_stream import JsonStream
from threadkeep.transfer.limits import DEFAULT_LIMITS, ImportLimits, open_input, zip_entries
from threadkeep.transfer.records import ImportedConversation, ImportedMessage, Source

__all__ = ["FORMAT", "is_conversations_file", "load", "parse"]

FORMAT = "chatgpt"
PROVIDER = "openai"

_FILE_NAME = re.compile(r"conversations(?:-(\d+))?\.json")
# Content types whose text lives in a single field rather than in ``parts``.
_TEXT_FIELDS = ("text", "result", "content")


def load(path: Path, *, limits: ImportLimits = DEFAULT_LIMITS) -> Iterator[ImportedConversation]:
    """Conversations of an export zip, a ``conversations*.json`` file, or a directory."""
    for name, open_source in _sources(path, limits):
        with open_source() as stream:
            yield from _stream(JsonStream(stream, name, limits), name)


def _stream(doc: JsonStream, file: str) -> Iterator[ImportedConversation]:
    """The conversations of one ``conversations*.json``, decoded one at a time."""
    if doc.peek() != "[":
        data = doc.value(file, depth=0)
        raise InvalidInput(f"{file}: expected a list of conversations, got {type_name(data)}")
    for index in doc.elements(file):
        where = f"{file}[{index}]"
        yield _conversation(doc.value(where, depth=1), where, file)
    doc.end()


def parse(data: Any, *, file: str) -> Iterator[ImportedConversation]:
    """Conversations of decoded ``conversations.json`` content; ``file`` names the place."""
    if not isinstance(data, list):
        raise InvalidInput(f"{file}: expected a list of conversations, got {type_name(data)}")
    for index, item in enumerate(data):
        yield _conversation(item, f"{file}[{index}]", file)


# -- reading ---------------------------------------------------------------------------


def is_conversations_file(name: str) -> bool:
    """Whether a file (or zip member) name is ``conversations.json`` or one of its shards."""
    return _FILE_NAME.fullmatch(name.replace("\\", "/").rsplit("/", 1)[-1]) is not None


_Opener = Callable[[], AbstractContextManager[IO[bytes]]]


def _sources(path: Path, limits: ImportLimits) -> list[tuple[str, _Opener]]:
    """``(name, open)`` of every conversations file of a directory, zip or file, in
    shard order; each is opened only when ``open`` is called, within ``limits``."""
    if path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if p.is_file() and is_conversations_file(p.name)),
            key=lambda p: _shard_key(p.name),
        )
        if not files:
            raise InvalidInput(f"{path}: no conversations.json or conversations-NNN.json")
        return [(file.name, partial(open_input, file, limits)) for file in files]
    if path.is_file() and zipfile.is_zipfile(path):
        members = zip_entries(path, limits, is_conversations_file)
        if not members:
            raise InvalidInput(f"{path.name}: the zip holds no conversations.json")
        members.sort(key=lambda member: _shard_key(member[0]))
        return [(f"{path.name}/{name}", opener) for name, opener in members]
    if path.is_file():
        return [(path.name, partial(open_input, path, limits))]
    raise InvalidInput(f"{path}: no such file or directory")


def _shard_key(name: str) -> tuple[int, str]:
    match = _FILE_NAME.fullmatch(name.rsplit("/", 1)[-1])
    number = match.group(1) if match else None
    return (int(number) if number is not None else -1, name)


# -- conversations ---------------------------------------------------------------------


def _conversation(item: Any, where: str, file: str) -> ImportedConversation:
    conv = expect_object(item, where)
    source_id = conv.get("conversation_id") or conv.get("id")
    if not isinstance(source_id, str) or not source_id:
        raise InvalidInput(f"{where}.conversation_id: expected a non-empty string")
    title = conv.get("title")
    if title is not None and not isinstance(title, str):
        raise InvalidInput(f"{where}.title: expected a string or null, got {type_name(title)}")
    mapping_raw = conv.get("mapping")
    mapping = {} if mapping_raw is None else expect_object(mapping_raw, f"{where}.mapping")
    current = conv.get("current_node")
    if current is not None and not isinstance(current, str):
        raise InvalidInput(f"{where}.current_node: expected a string or null")

    messages = []
    for node_id in _active_branch(mapping, current, f"{where}.mapping"):
        message = _message(mapping[node_id], node_id, f"{where}.mapping.{node_id}")
        if message is not None:
            messages.append(message)

    context = {
        key: conv[key]
        for key in ("default_model_slug", "gizmo_id", "conversation_template_id")
        if conv.get(key) is not None
    }
    model = conv.get("default_model_slug")
    return ImportedConversation(
        source=Source(FORMAT, file, source_id),
        title=title or None,
        messages=tuple(messages),
        created_at=unix_time(conv.get("create_time"), f"{where}.create_time"),
        updated_at=unix_time(conv.get("update_time"), f"{where}.update_time"),
        context={"chatgpt": context} if context else {},
        provider=PROVIDER,
        model=model if is_model_name(model) else None,
    )


def _active_branch(mapping: dict[str, Any], current: str | None, where: str) -> list[str]:
    """Node ids from the root to ``current`` (or to the newest leaf when it is unknown)."""
    if not mapping:
        return []
    if current is None or current not in mapping:
        current = _newest_leaf(mapping, where)
    branch: list[str] = []
    seen: set[str] = set()
    node_id: str | None = current
    while node_id is not None and node_id in mapping:
        if node_id in seen:
            raise InvalidInput(f"{where}.{node_id}.parent: the parents form a cycle")
        seen.add(node_id)
        branch.append(node_id)
        parent = expect_object(mapping[node_id], f"{where}.{node_id}").get("parent")
        if parent is not None and not isinstance(parent, str):
            raise InvalidInput(f"{where}.{node_id}.parent: expected a string or null")
        node_id = parent
    branch.reverse()
    return branch


def _newest_leaf(mapping: dict[str, Any], where: str) -> str:
    nodes = {key: expect_object(value, f"{where}.{key}") for key, value in mapping.items()}
    roots = [key for key, node in nodes.items() if node.get("parent") not in nodes]
    node_id = roots[0] if roots else next(iter(nodes))
    seen = {node_id}
    while True:
        children = nodes[node_id].get("children") or []
        if not isinstance(children, list):
            raise InvalidInput(f"{where}.{node_id}.children: expected a list")
        known = [c for c in children if isinstance(c, str) and c in nodes and c not in seen]
        if not known:
            return node_id
        node_id = known[-1]
        seen.add(node_id)


# -- messages --------------------------------------------------------------------------


def _message(node_raw: Any, node_id: str, where: str) -> ImportedMessage | None:
    node = expect_object(node_raw, where)
    if node.get("message") is None:
        return None
    where = f"{where}.message"
    msg = expect_object(node["message"], where)
    meta = expect_object(or_empty(msg.get("metadata")), f"{where}.metadata")
    if meta.get("is_visually_hidden_from_conversation") is True:
        return None
    author = expect_object(or_empty(msg.get("author")), f"{where}.author")
    role = author.get("role")
    if role not in MESSAGE_ROLES:
        raise InvalidInput(
            f"{where}.author.role: expected one of {', '.join(sorted(MESSAGE_ROLES))}, got {role!r}"
        )
    content = expect_object(or_empty(msg.get("content")), f"{where}.content")
    content_type = content.get("content_type", "text")
    if not isinstance(content_type, str):
        raise InvalidInput(f"{where}.content.content_type: expected a string")
    text, extra = _content_text(content, content_type, f"{where}.content")
    if not text.strip() and not extra:
        return None  # covers the empty system prompt at the root and empty turns

    recipient = msg.get("recipient")
    if role == "tool":
        kind = "tool_result"
    elif role == "assistant" and isinstance(recipient, str) and recipient != "all":
        kind = "tool_call"
    elif content_type == "system_error":
        kind = "error"
    elif extra.get("unparsed") is not None:
        kind = "system_artifact"
    else:
        kind = "text"

    chatgpt: dict[str, Any] = {"content_type": content_type, "node_id": node_id, **extra}
    if isinstance(author.get("name"), str):
        chatgpt["author_name"] = author["name"]
    if isinstance(recipient, str) and recipient != "all":
        chatgpt["recipient"] = recipient
    for key in ("model_slug", "finish_details", "attachments", "citations"):
        if meta.get(key):
            chatgpt[key] = meta[key]
    message_id = msg.get("id")
    return ImportedMessage(
        role=role,
        content=text,
        kind=kind,
        status="incomplete" if msg.get("status") == "in_progress" else "complete",
        metadata={"chatgpt": chatgpt},
        created_at=unix_time(msg.get("create_time"), f"{where}.create_time"),
        source_id=message_id if isinstance(message_id, str) else node_id,
    )


def _content_text(
    content: dict[str, Any], content_type: str, where: str
) -> tuple[str, dict[str, Any]]:
    """The readable text of a content object, and what else must be kept in metadata."""
    if "parts" in content:
        parts = content["parts"]
        if not isinstance(parts, list):
            raise InvalidInput(f"{where}.parts: expected a list, got {type_name(parts)}")
        texts = [part for part in parts if isinstance(part, str)]
        others = [part for part in parts if part is not None and not isinstance(part, str)]
        return "\n".join(t for t in texts if t), ({"parts": others} if others else {})
    extra: dict[str, Any] = {}
    if isinstance(content.get("language"), str) and content["language"] != "unknown":
        extra["language"] = content["language"]
    for key in _TEXT_FIELDS:
        value = content.get(key)
        if isinstance(value, str):
            return value, extra
    if content_type == "thoughts" and isinstance(content.get("thoughts"), list):
        thoughts = [t.get("content") for t in content["thoughts"] if isinstance(t, dict)]
        return "\n\n".join(t for t in thoughts if isinstance(t, str) and t), extra
    # A content type threadkeep does not know: keep all of it, drop nothing.
    rest = {key: value for key, value in content.items() if key != "content_type"}
    return "", ({"unparsed": rest} if rest else {})


# -- values ----------------------------------------------------------------------------
