"""Open WebUI chat exports (``chat-export-*.json``) to import records.

An export is a list of chats ``{id, title, chat, created_at, updated_at, ...}``. Like
ChatGPT, a chat is a tree: ``chat.history.messages`` maps message ids to messages that
point at their ``parentId``, and ``chat.history.currentId`` is the message the user last
saw. The *active branch* is the walk from ``currentId`` up through ``parentId`` to the
root, reversed; edited and regenerated siblings are not imported. Exports without a
history (old versions) fall back to the flat ``chat.messages`` list.

Roles are user/assistant/system; an assistant message carrying an ``error`` becomes kind
``error``. The model, attached files, sources and usage go to ``metadata["open_webui"]``.
Times are Unix epoch numbers — seconds in current versions; values too large to be
seconds are read as milliseconds, microseconds or nanoseconds — turned into aware UTC
datetimes. The file is decoded one chat at a time (``json_stream.py``), so memory
follows the largest chat, not the size of the export. Structural errors are
:class:`~threadkeep.errors.InvalidInput` naming the place, e.g.
``chat-export.json[2].chat.history.messages: expected an object``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from threadkeep.errors import InvalidInput
from threadkeep.models import MESSAGE_ROLES
from threadkeep.transfer.formats.json_fields import (
    expect_object,
    or_empty,
    unix_time,
)
from threadkeep.transfer.json_stream import JsonStream
from threadkeep.transfer.limits import DEFAULT_LIMITS, ImportLimits, open_input
from threadkeep.transfer.records import ImportedConversation, ImportedMessage, Source

__all__ = ["FORMAT", "load", "parse"]

FORMAT = "open-webui"

_METADATA_KEYS = ("model", "modelName", "models", "files", "sources", "citations", "usage")


def load(path: Path, *, limits: ImportLimits = DEFAULT_LIMITS) -> Iterator[ImportedConversation]:
    """Conversations of an Open WebUI export file, decoded one chat at a time."""
    file = path.name
    with open_input(path, limits) as stream:
        doc = JsonStream(stream, file, limits)
        if doc.peek() != "[":
            yield from parse(doc.value(file, depth=0), file=file)
        else:
            for index in doc.elements(file):
                where = f"{file}[{index}]"
                yield _conversation(doc.value(where, depth=1), where, file)
        doc.end()


def parse(data: Any, *, file: str) -> Iterator[ImportedConversation]:
    """Conversations of decoded export content; ``file`` names the place in errors."""
    # A single chat exported on its own is an object, not a list.
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise InvalidInput(f"{file}: expected a list of chats")
    for index, item in enumerate(items):
        yield _conversation(item, f"{file}[{index}]", file)


def _conversation(item: Any, where: str, file: str) -> ImportedConversation:
    entry = expect_object(item, where)
    source_id = entry.get("id")
    if not isinstance(source_id, str) or not source_id:
        raise InvalidInput(f"{where}.id: expected a non-empty string")
    chat = expect_object(or_empty(entry.get("chat")), f"{where}.chat")
    title = entry.get("title") or chat.get("title")
    if title is not None and not isinstance(title, str):
        raise InvalidInput(f"{where}.title: expected a string or null")

    if chat.get("history") is not None:
        messages = _from_history(chat["history"], f"{where}.chat.history")
    else:
        flat = chat.get("messages") or []
        if not isinstance(flat, list):
            raise InvalidInput(f"{where}.chat.messages: expected a list")
        messages = [
            (expect_object(m, f"{where}.chat.messages[{i}]"), f"{where}.chat.messages[{i}]")
            for i, m in enumerate(flat)
        ]
    imported = [m for m in (_message(raw, at) for raw, at in messages) if m is not None]

    tags = chat.get("tags") or []
    context = {"models": chat["models"]} if isinstance(chat.get("models"), list) else {}
    return ImportedConversation(
        source=Source(FORMAT, file, source_id),
        title=title or None,
        messages=tuple(imported),
        created_at=unix_time(entry.get("created_at"), f"{where}.created_at"),
        updated_at=unix_time(entry.get("updated_at"), f"{where}.updated_at"),
        context={"open_webui": context} if context else {},
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
    )


def _from_history(history_raw: Any, where: str) -> list[tuple[dict[str, Any], str]]:
    """The active branch's messages, root first, each with its place for errors."""
    history = expect_object(history_raw, where)
    by_id = expect_object(or_empty(history.get("messages")), f"{where}.messages")
    current = history.get("currentId")
    if current is not None and not isinstance(current, str):
        raise InvalidInput(f"{where}.currentId: expected a string or null")
    if current is None or current not in by_id:
        current = _newest_leaf(by_id, f"{where}.messages")
    branch: list[tuple[dict[str, Any], str]] = []
    seen: set[str] = set()
    node_id: Any = current
    while isinstance(node_id, str) and node_id in by_id:
        at = f"{where}.messages.{node_id}"
        if node_id in seen:
            raise InvalidInput(f"{at}.parentId: the parents form a cycle")
        seen.add(node_id)
        message = expect_object(by_id[node_id], at)
        branch.append((message, at))
        node_id = message.get("parentId")
        if node_id is not None and not isinstance(node_id, str):
            raise InvalidInput(f"{at}.parentId: expected a string or null")
    branch.reverse()
    return branch


def _newest_leaf(by_id: dict[str, Any], where: str) -> str | None:
    """Without a currentId, the message with the latest timestamp stands in for it."""
    if not by_id:
        return None
    messages = {key: expect_object(value, f"{where}.{key}") for key, value in by_id.items()}
    leaves = [key for key, m in messages.items() if not m.get("childrenIds")]

    def when(key: str) -> float:
        value = messages[key].get("timestamp")
        return float(value) if isinstance(value, int | float) else 0.0

    return max(leaves or list(messages), key=when)


def _message(message: dict[str, Any], where: str) -> ImportedMessage | None:
    role = message.get("role")
    if role not in MESSAGE_ROLES:
        raise InvalidInput(
            f"{where}.role: expected one of {', '.join(sorted(MESSAGE_ROLES))}, got {role!r}"
        )
    content = message.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise InvalidInput(f"{where}.content: expected a string")
    extra = {key: message[key] for key in _METADATA_KEYS if message.get(key)}
    error = message.get("error")
    if error:
        extra["error"] = error
        if not content and isinstance(error, dict) and isinstance(error.get("content"), str):
            content = error["content"]
    if not content.strip() and not extra.get("files") and not error:
        return None
    message_id = message.get("id")
    return ImportedMessage(
        role=role,
        content=content,
        kind="error" if error else "text",
        status="incomplete" if message.get("done") is False else "complete",
        metadata={"open_webui": extra} if extra else None,
        created_at=unix_time(message.get("timestamp"), f"{where}.timestamp"),
        source_id=message_id if isinstance(message_id, str) else None,
    )
