"""OpenAI Agents SDK ``SQLiteSession`` databases as records.

``agents.SQLiteSession(session_id, db_path)`` keeps two tables:

* ``agent_sessions(session_id TEXT PRIMARY KEY, created_at, updated_at)``
* ``agent_messages(id INTEGER PRIMARY KEY AUTOINCREMENT, session_id, message_data TEXT,
  created_at)`` — one Responses API input item per row, JSON in ``message_data``.

Each session is one conversation (:class:`Source` id = ``session_id``), its items in
``id`` order; sessions are read in order of creation. Every item becomes one message
and the raw item is always ``metadata["item"]``, so nothing is lost:

* a message item (``{"role", "content"}``, with or without ``"type": "message"``):
  ``user``/``assistant``/``system`` keep their role, ``developer`` becomes ``system``;
  text parts (``input_text``, ``output_text``, ``text``, ``refusal``) are joined into the
  content. An item ``status`` of ``in_progress``/``incomplete`` marks it incomplete.
* ``*_call`` items (``function_call``, ``custom_tool_call``, ``computer_call``,
  ``web_search_call``, ...) become assistant ``tool_call`` messages whose content is
  JSON ``{"name", "arguments"}`` (arguments decoded when they are a JSON string).
* ``*_call_output`` items become ``tool_result`` messages with role ``tool``.
* ``reasoning`` becomes an assistant ``system_artifact`` holding the readable summary.
* anything else is a ``system_artifact`` with role ``system`` and empty content.

Times are the rows' ``created_at`` (SQLite ``CURRENT_TIMESTAMP``, UTC). The file is
opened read-only through threadkeep's SQLite library; a file that is not such a
database raises :class:`~threadkeep.errors.InvalidInput` naming it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from threadkeep.db.foreign import Row, agents_session_rows
from threadkeep.errors import InvalidInput
from threadkeep.transfer.formats.json_fields import (
    decode_arguments,
    expect_object,
    iso_time,
)
from threadkeep.transfer.limits import DEFAULT_LIMITS, ImportLimits, check_file, load_json
from threadkeep.transfer.records import ImportedConversation, ImportedMessage, Source

__all__ = ["FORMAT", "content_text", "load", "output_text"]

FORMAT = "agents-sqlite"

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
_TEXT_PARTS = {"input_text": "text", "output_text": "text", "text": "text", "refusal": "refusal"}
_INCOMPLETE = frozenset({"in_progress", "incomplete"})


def load(path: Path, *, limits: ImportLimits = DEFAULT_LIMITS) -> Iterator[ImportedConversation]:
    """The conversations, one per session, of an Agents SDK SQLite session file."""
    check_file(path, limits)
    sessions, messages = agents_session_rows(path)
    by_session: dict[str, list[Row]] = {}
    for row in messages:
        by_session.setdefault(str(row[1]), []).append(row)
    # Sessions with messages but no session row (a hand-made file) are still read.
    order = [str(row[0]) for row in sessions]
    known = set(order)
    order += [key for key in by_session if key not in known]
    times = {str(row[0]): (row[1], row[2]) for row in sessions}
    for session_id in order:
        where = f"{path.name}: session {session_id!r}"
        created, updated = times.get(session_id, (None, None))
        imported = [
            _message(row, f"{path.name}: agent_messages id {row[0]}", limits)
            for row in by_session.get(session_id, [])
        ]
        yield ImportedConversation(
            source=Source(FORMAT, path.name, session_id),
            title=None,
            messages=tuple(imported),
            created_at=_time(created, f"{where} created_at"),
            updated_at=_time(updated, f"{where} updated_at"),
        )


def _time(value: Any, where: str) -> dt.datetime | None:
    if value is None or isinstance(value, str):
        return iso_time(value, where)
    raise InvalidInput(f"{where}: expected a timestamp string, got {value!r}")


def _message(row: Row, where: str, limits: ImportLimits) -> ImportedMessage:
    row_id, _, data, created = row
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes):
        raise InvalidInput(f"{where}: message_data is not JSON text")
    item = expect_object(load_json(data, where, limits), f"{where} message_data")
    at = _time(created, f"{where} created_at")
    raw_id = item.get("id")
    source_id = raw_id if isinstance(raw_id, str) and raw_id else f"row:{row_id}"
    metadata: dict[str, Any] = {"item": item}
    item_type = item.get("type")
    if item_type is None or item_type == "message":
        role = item.get("role")
        if role not in _ROLES:
            known = ", ".join(sorted(_ROLES))
            raise InvalidInput(f"{where}: message role must be one of {known}, got {role!r}")
        return ImportedMessage(
            role=_ROLES[role],
            content=_text(item.get("content"), where),
            status="incomplete" if item.get("status") in _INCOMPLETE else "complete",
            metadata=metadata,
            created_at=at,
            source_id=source_id,
        )
    if not isinstance(item_type, str):
        raise InvalidInput(f"{where}: item 'type' must be a string")
    call_id = item.get("call_id")
    call_id = call_id if isinstance(call_id, str) and call_id else None
    if item_type.endswith("_call_output"):
        output = item.get("output")
        return ImportedMessage(
            role="tool",
            content=output_text(output),
            kind="tool_result",
            metadata=metadata,
            created_at=at,
            source_id=f"result:{call_id}" if call_id else source_id,
        )
    if item_type.endswith("_call"):
        name = item.get("name", item_type.removesuffix("_call"))
        raw = item.get("arguments", item.get("input", item.get("action")))
        body = {"name": name, "arguments": decode_arguments(raw)}
        return ImportedMessage(
            role="assistant",
            content=json.dumps(body, ensure_ascii=False),
            kind="tool_call",
            status="incomplete" if item.get("status") in _INCOMPLETE else "complete",
            metadata=metadata,
            created_at=at,
            source_id=call_id or source_id,
        )
    if item_type == "reasoning":
        summary = item.get("summary")
        texts = [
            part["text"]
            for part in (summary if isinstance(summary, list) else [])
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return ImportedMessage(
            role="assistant",
            content="\n\n".join(texts),
            kind="system_artifact",
            metadata=metadata,
            created_at=at,
            source_id=source_id,
        )
    return ImportedMessage(
        role="system",
        content="",
        kind="system_artifact",
        metadata=metadata,
        created_at=at,
        source_id=source_id,
    )


def content_text(content: Any) -> str | None:
    """A message item's content as text (its text parts joined; images and files stay
    in the raw item); ``None`` when it is neither text nor a list of parts. The
    ``openai_agents`` adapter reads live items with it too."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = []
    for part in content:
        if isinstance(part, dict):
            key = _TEXT_PARTS.get(part.get("type", ""))
            if key and isinstance(part.get(key), str):
                texts.append(part[key])
    return "\n\n".join(t for t in texts if t)


def _text(content: Any, where: str) -> str:
    text = content_text(content)
    if text is None:
        raise InvalidInput(f"{where}: message content must be a string or a list of parts")
    return text


def output_text(output: Any) -> str:
    """A call output as text: a string as is, text parts joined, anything else as JSON
    (``default=str``: a live item may hold values JSON has no type for)."""
    if isinstance(output, str):
        return output
    if isinstance(output, list) and all(
        isinstance(p, dict) and isinstance(p.get("text"), str) for p in output
    ):
        return "\n\n".join(p["text"] for p in output)
    return json.dumps(output, ensure_ascii=False, default=str)
