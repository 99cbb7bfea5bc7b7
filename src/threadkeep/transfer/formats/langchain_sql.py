"""LangChain ``SQLChatMessageHistory`` SQLite databases as records.

``langchain_community.chat_message_histories.SQLChatMessageHistory`` keeps one table,
``message_store(id INTEGER PRIMARY KEY, session_id TEXT, message TEXT)``, where
``message`` is ``json.dumps(message_to_dict(msg))``: ``{"type", "data"}`` with ``data``
holding ``content`` (a string or a list of parts), ``additional_kwargs``, ``name``,
``id`` and per-type fields (``tool_calls``, ``tool_call_id``, ``role``, ...).

Each ``session_id`` is one conversation (:class:`Source` id), sessions in order of
their first row, messages in ``id`` order:

* ``human`` → ``user``, ``system`` → ``system``, ``ai`` → ``assistant`` text; the AI
  message's ``tool_calls`` (or, for old rows, OpenAI-style
  ``additional_kwargs.tool_calls``) each follow it as a ``tool_call`` message whose
  content is JSON ``{"name", "arguments"}``; an AI message with calls and no text yields
  only the calls.
* ``tool`` and ``function`` → role ``tool``, kind ``tool_result``.
* ``chat`` messages carry their own ``role``; a role threadkeep does not know is read
  as ``user``. ``*Chunk`` types are read as their full counterparts.

Text parts of list content are joined; every message keeps the raw stored message in
``metadata["message"]`` (tool calls keep their call in ``metadata["tool_call"]``). The
table has no times. The file is opened read-only through threadkeep's SQLite library; a
file that is not such a database raises :class:`~threadkeep.errors.InvalidInput`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from threadkeep.db.foreign import LANGCHAIN_TABLE, langchain_message_rows
from threadkeep.errors import InvalidInput
from threadkeep.transfer.formats.json_fields import (
    decode_arguments,
    expect_object,
    or_empty,
)
from threadkeep.transfer.limits import DEFAULT_LIMITS, ImportLimits, check_file, load_json
from threadkeep.transfer.records import ImportedConversation, ImportedMessage, Source

__all__ = ["CHAT_ROLES", "FORMAT", "content_text", "load"]

FORMAT = "langchain-sql"

_TYPES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
}
#: A ChatMessage's free-form role -> threadkeep's (the ``langchain`` adapter maps with it too).
CHAT_ROLES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}
_CHUNKS = {
    "HumanMessageChunk": "human",
    "AIMessageChunk": "ai",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
    "FunctionMessageChunk": "function",
    "ChatMessageChunk": "chat",
}


def load(path: Path, *, limits: ImportLimits = DEFAULT_LIMITS) -> Iterator[ImportedConversation]:
    """The conversations, one per session, of a SQLChatMessageHistory SQLite file."""
    by_session: dict[str, list[ImportedMessage]] = {}
    check_file(path, limits)
    for row_id, session_id, raw in langchain_message_rows(path):
        where = f"{path.name}: {LANGCHAIN_TABLE} id {row_id}"
        messages = by_session.setdefault(str(session_id), [])
        messages.extend(_messages(raw, row_id, where, limits))
    for session_id, messages in by_session.items():
        yield ImportedConversation(
            source=Source(FORMAT, path.name, session_id),
            title=None,
            messages=tuple(messages),
        )


def _messages(raw: Any, row_id: Any, where: str, limits: ImportLimits) -> list[ImportedMessage]:
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, bytes):
        raise InvalidInput(f"{where}: message is not JSON text")
    stored = expect_object(load_json(raw, where, limits), f"{where} message")
    data = expect_object(or_empty(stored.get("data")), f"{where} message.data")
    kind = stored.get("type")
    kind = _CHUNKS.get(kind, kind) if isinstance(kind, str) else kind
    if kind == "chat":
        chat_role = data.get("role")
        role = CHAT_ROLES.get(chat_role, "user") if isinstance(chat_role, str) else "user"
    elif kind in _TYPES:
        role = _TYPES[kind]
    else:
        known = ", ".join(sorted([*_TYPES, "chat"]))
        raise InvalidInput(f"{where}: message type must be one of {known}, got {kind!r}")
    text = _text(data.get("content"), f"{where} message.data.content")
    metadata: dict[str, Any] = {"message": stored}
    raw_id = data.get("id")
    source_id = raw_id if isinstance(raw_id, str) and raw_id else f"row:{row_id}"
    if role == "tool":
        call_id = data.get("tool_call_id")
        return [
            ImportedMessage(
                role="tool",
                content=text,
                kind="tool_result",
                metadata=metadata,
                source_id=f"result:{call_id}" if isinstance(call_id, str) else source_id,
            )
        ]
    calls = _calls(data, where) if role == "assistant" else []
    out: list[ImportedMessage] = []
    if text or not calls:
        out.append(ImportedMessage(role=role, content=text, metadata=metadata, source_id=source_id))
    for index, (call, body, call_id) in enumerate(calls):
        call_metadata = {"tool_call": call}
        if not out and index == 0:
            # The message itself yields no text message; its first call carries it.
            call_metadata["message"] = stored
        out.append(
            ImportedMessage(
                role="assistant",
                content=json.dumps(body, ensure_ascii=False),
                kind="tool_call",
                metadata=call_metadata,
                source_id=call_id or f"{source_id}:call:{index}",
            )
        )
    return out


def content_text(content: Any) -> str | None:
    """Message content as text: a string, or the text parts of a list joined; ``None``
    when it is neither. The ``langchain`` adapter reads live messages with it too."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = [
        part if isinstance(part, str) else part["text"]
        for part in content
        if isinstance(part, str)
        or (
            isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    ]
    return "\n\n".join(t for t in texts if t)


def _text(content: Any, where: str) -> str:
    text = content_text(content)
    if text is None:
        raise InvalidInput(f"{where}: expected a string or a list of parts")
    return text


def _calls(data: dict[str, Any], where: str) -> list[tuple[dict[str, Any], Any, str | None]]:
    """An AI message's tool calls as (raw call, ``{"name", "arguments"}``, call id)."""
    calls = data.get("tool_calls")
    openai_style = False
    if not calls:
        kwargs = data.get("additional_kwargs")
        calls = kwargs.get("tool_calls") if isinstance(kwargs, dict) else None
        openai_style = True
    if not calls:
        return []
    if not isinstance(calls, list):
        raise InvalidInput(f"{where}: tool_calls must be a list")
    out: list[tuple[dict[str, Any], Any, str | None]] = []
    for index, raw_call in enumerate(calls):
        call = expect_object(raw_call, f"{where} tool_calls[{index}]")
        if openai_style:
            function = expect_object(or_empty(call.get("function")), f"{where} tool_calls[{index}]")
            name, arguments = function.get("name"), decode_arguments(function.get("arguments"))
        else:
            name, arguments = call.get("name"), call.get("args")
        call_id = call.get("id")
        body = {"name": name, "arguments": arguments}
        out.append((call, body, call_id if isinstance(call_id, str) and call_id else None))
    return out
