"""OpenAI chat-completions message lists (``[{"role", "content", ...}, ...]``) as records.

One file is one conversation: either a bare JSON list of messages, or an object
``{"messages": [...], "id": ..., "title": ...}`` (``id`` and ``title`` optional). The
:class:`Source` id is the object's ``id``, else the file's stem.

Each message is ``{"role", "content", "name", "tool_calls", "tool_call_id"}``:

* ``content`` is a string, ``null``, or a list of parts. ``text`` (and ``refusal``)
  parts are joined into the message text; any other part (``image_url``,
  ``input_audio``, ``file``, ...) is kept in ``metadata["blocks"]``.
* Roles ``user``/``assistant``/``system`` map to themselves; ``developer`` becomes
  ``system`` (the original role in ``metadata["role"]``).
* An assistant message's ``tool_calls`` each become a ``tool_call`` message after the
  assistant's text (an assistant message with calls and no text yields only the calls).
  The content is JSON ``{"name", "arguments"}`` (arguments decoded when they are a JSON
  string), the raw call is ``metadata["tool_call"]``, the source id the call's ``id``.
  The legacy ``function_call`` field is read the same way.
* ``tool`` (and legacy ``function``) messages become ``tool_result`` messages with role
  ``tool``; ``tool_call_id`` and ``name`` go to metadata.

Other message fields (``name``, ``refusal``, ``audio``, ...) are kept in metadata. A
wrong shape raises :class:`~threadkeep.errors.InvalidInput` naming the place, e.g.
``chat.json.messages[3].role``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any

from threadkeep.errors import InvalidInput
from threadkeep.transfer.formats.json_fields import (
    decode_arguments,
    expect_object,
    read_json_file,
    type_name,
)
from threadkeep.transfer.limits import DEFAULT_LIMITS, ImportLimits
from threadkeep.transfer.records import ImportedConversation, ImportedMessage, Source

__all__ = ["FORMAT", "load", "parse"]

FORMAT = "openai-messages"

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
_RESULT_ROLES = frozenset({"tool", "function"})
# Fields that are read into columns or messages of their own; the rest go to metadata.
_HANDLED_KEYS = frozenset({"role", "content", "tool_calls", "function_call", "tool_call_id"})


def load(path: Path, *, limits: ImportLimits = DEFAULT_LIMITS) -> Iterator[ImportedConversation]:
    """The conversation of one OpenAI messages JSON file."""
    data = read_json_file(path, limits)
    yield from parse(data, file=path.name)


def parse(data: Any, *, file: str) -> Iterator[ImportedConversation]:
    """The conversation of decoded file content; ``file`` names the place in errors."""
    where = file
    source_id: Any = PurePath(file).stem or file
    title: Any = None
    if isinstance(data, dict):
        messages = data.get("messages")
        where = f"{file}.messages"
        if data.get("id") is not None:
            source_id = data["id"]
            if isinstance(source_id, int) and not isinstance(source_id, bool):
                source_id = str(source_id)
            if not isinstance(source_id, str) or not source_id:
                raise InvalidInput(f"{file}.id: expected a non-empty string")
        title = data.get("title")
        if title is not None and not isinstance(title, str):
            raise InvalidInput(f"{file}.title: expected a string or null")
    else:
        messages = data
    if not isinstance(messages, list):
        raise InvalidInput(
            f"{where}: expected a list of messages or an object with 'messages', "
            f"got {type_name(messages)}"
        )
    imported: list[ImportedMessage] = []
    for index, raw in enumerate(messages):
        imported.extend(_messages(raw, f"{where}[{index}]"))
    yield ImportedConversation(
        source=Source(FORMAT, file, source_id),
        title=title or None,
        messages=tuple(imported),
    )


def _messages(raw: Any, where: str) -> list[ImportedMessage]:
    message = expect_object(raw, where)
    role = message.get("role")
    if not isinstance(role, str) or (role not in _ROLES and role not in _RESULT_ROLES):
        known = ", ".join(sorted({*_ROLES, *_RESULT_ROLES}))
        raise InvalidInput(f"{where}.role: expected one of {known}, got {role!r}")
    text, blocks = _content(message.get("content"), f"{where}.content")
    metadata: dict[str, Any] = {
        key: value
        for key, value in message.items()
        if key not in _HANDLED_KEYS and value is not None
    }
    if blocks:
        metadata["blocks"] = blocks
    if role in _RESULT_ROLES:
        call_id = message.get("tool_call_id")
        if call_id is not None and not isinstance(call_id, str):
            raise InvalidInput(f"{where}.tool_call_id: expected a string or null")
        if call_id is not None:
            metadata["tool_call_id"] = call_id
        if role != "tool":
            metadata["role"] = role
        return [
            ImportedMessage(
                role="tool",
                content=text,
                kind="tool_result",
                metadata=metadata or None,
                source_id=f"result:{call_id}" if call_id else None,
            )
        ]
    if role != _ROLES[role]:
        metadata["role"] = role
    calls = _calls(message, where) if role == "assistant" else []
    if not text and isinstance(message.get("refusal"), str):
        text = message["refusal"]
    out: list[ImportedMessage] = []
    if text or metadata or not calls:
        out.append(ImportedMessage(role=_ROLES[role], content=text, metadata=metadata or None))
    out.extend(calls)
    return out


def _content(content: Any, where: str) -> tuple[str, list[Any]]:
    """The text of a message's content, and the parts that are not text."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise InvalidInput(f"{where}: expected a string, null or a list of parts")
    texts: list[str] = []
    blocks: list[Any] = []
    for index, raw_part in enumerate(content):
        part = expect_object(raw_part, f"{where}[{index}]")
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        else:
            blocks.append(part)
    return "\n\n".join(t for t in texts if t), blocks


def _calls(message: dict[str, Any], where: str) -> list[ImportedMessage]:
    """An assistant message's tool calls (or legacy function call) as messages."""
    raw_calls = message.get("tool_calls")
    if raw_calls is None:
        raw_calls = []
    if not isinstance(raw_calls, list):
        raise InvalidInput(f"{where}.tool_calls: expected a list or null")
    calls = [
        (expect_object(call, f"{where}.tool_calls[{i}]"), f"{where}.tool_calls[{i}]")
        for i, call in enumerate(raw_calls)
    ]
    if message.get("function_call") is not None:
        legacy = expect_object(message["function_call"], f"{where}.function_call")
        calls.append(({"type": "function", "function": legacy}, f"{where}.function_call"))
    out: list[ImportedMessage] = []
    for call, at in calls:
        function = expect_object(call.get("function", call), f"{at}.function")
        name = function.get("name")
        if not isinstance(name, str):
            raise InvalidInput(f"{at}.function.name: expected a string")
        call_id = call.get("id")
        body = {"name": name, "arguments": decode_arguments(function.get("arguments"))}
        out.append(
            ImportedMessage(
                role="assistant",
                content=json.dumps(body, ensure_ascii=False),
                kind="tool_call",
                metadata={"tool_call": call},
                source_id=call_id if isinstance(call_id, str) else None,
            )
        )
    return out
