"""Rows to models: the one place a database row becomes a ``Conversation``, ``Message``
or ``Run``.

Rows come in two shapes: SQLAlchemy-processed rows (PostgreSQL, and the less hot SQLite
paths) and raw SQLite tuples from ``prepared.py`` (``raw=True``), whose JSON is text and
whose datetimes are ISO text. Both are unpacked by position, in the table's column
order (``schema.py``).

A row whose JSON cannot be parsed or whose fields are out of their sets is *damaged*:
the mapper logs it (id and reason, never content) and returns ``None``, and callers skip
it, so one bad row never makes a listing or a conversation unreadable (SPEC S2.7).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from typing import Any

from threadkeep.db.column_types import CorruptValue
from threadkeep.models import (
    MESSAGE_KINDS,
    MESSAGE_ROLES,
    MESSAGE_STATUSES,
    Conversation,
    ForkedFrom,
    Message,
    Run,
    trusted_builder,
)

__all__ = [
    "conversation_from_row",
    "conversations_from_rows",
    "message_from_row",
    "run_from_row",
]

log = logging.getLogger("threadkeep.integrity")

# Rows come back already checked (see the mappers): build models the fast way.
_message = trusted_builder(Message)
_conversation = trusted_builder(Conversation)

_from_iso = dt.datetime.fromisoformat


class _Damaged(ValueError):
    pass


def _damaged(table: str, row_id: object, reason: str) -> None:
    log.warning("skipping damaged %s row %s: %s", table, row_id, reason)


def _json(value: Any, raw: bool) -> Any:
    if isinstance(value, CorruptValue):
        raise _Damaged(value.error)
    if raw and value is not None:
        try:
            return json.loads(value)
        except (TypeError, ValueError, RecursionError) as error:
            raise _Damaged(f"not JSON ({error})") from None
    return value


def conversation_from_row(row: Any, raw: bool = False) -> Conversation | None:
    """A ``Conversation`` from a row in ``conversations`` column order, or ``None``."""
    (
        id_,
        owner,
        title,
        mode,
        provider,
        provider_session_id,
        model,
        context,
        status,
        pinned,
        tags,
        created_at,
        updated_at,
        message_count,
        last_seq,
        token_count,
        preview,
        forked_from_id,
        forked_from_seq,
        trashed_at,
        _import_key,
    ) = row
    try:
        if raw:
            # Most conversations have no context and no tags: skip the JSON parser.
            context = {} if context == "{}" else json.loads(context)
            tags = () if tags == "[]" else json.loads(tags)
            created_at, updated_at = _from_iso(created_at), _from_iso(updated_at)
        else:
            id_, context, tags = str(id_), _json(context, raw), _json(tags, raw)
        if type(context) is not dict or not isinstance(tags, list | tuple):
            raise _Damaged("context is not a JSON object or tags not a JSON list")
    except (TypeError, ValueError, RecursionError) as error:
        _damaged("conversations", id_, str(error))
        return None
    return _conversation(
        id_,
        owner,
        title,
        mode,
        provider,
        provider_session_id,
        model,
        context,
        status,
        bool(pinned),
        tuple(tags) if tags else (),
        created_at,
        updated_at,
        message_count,
        last_seq,
        token_count,
        preview,
        None if forked_from_id is None else ForkedFrom(str(forked_from_id), forked_from_seq or 0),
        None if trashed_at is None else _from_iso(trashed_at) if raw else trashed_at,
    )


def conversations_from_rows(rows: Sequence[Any], raw: bool) -> list[Conversation]:
    """The rows' conversations, damaged rows left out (and logged)."""
    return [item for item in (conversation_from_row(row, raw) for row in rows) if item is not None]


def message_from_row(row: Any, raw: bool = False) -> Message | None:
    """A ``Message`` from a row of ``messages.MESSAGE_COLUMNS``, or ``None`` if damaged.

    The columns are selected in ``Message``'s field order, so the row is passed through
    positionally once the raw SQLite text (JSON, datetimes) is decoded: the tail and
    page reads spend their time in SQLite, not here.
    """
    (id_, cid, seq, role, kind, content, status, metadata, tokens, run_id, created, updated) = row
    try:
        if raw:
            if metadata is not None:
                metadata = json.loads(metadata)
            created, updated = _from_iso(created), _from_iso(updated)
        elif isinstance(metadata, CorruptValue):
            raise _Damaged(metadata.error)
        if role not in MESSAGE_ROLES or kind not in MESSAGE_KINDS or status not in MESSAGE_STATUSES:
            raise _Damaged("role, kind or status outside its set")
    except (TypeError, ValueError, RecursionError) as error:
        _damaged("messages", f"{cid}/{seq}", str(error))
        return None
    if not raw:  # PostgreSQL's driver may hand back uuid.UUID objects
        cid, run_id = str(cid), None if run_id is None else str(run_id)
    return _message(
        id_, cid, seq, role, kind, content, status, metadata, tokens, run_id, created, updated
    )


def run_from_row(row: Any) -> Run | None:
    m = row._mapping
    usage = m["usage"]
    if isinstance(usage, CorruptValue):
        _damaged("runs", m["id"], "usage is not JSON")
        return None
    return Run(
        id=m["id"],
        conversation_id=m["conversation_id"],
        provider=m["provider"],
        model=m["model"],
        status=m["status"],
        resumed_session_id=m["resumed_session_id"],
        provider_session_id=m["provider_session_id"],
        retried_without_resume=bool(m["retried_without_resume"]),
        error=m["error"],
        usage=usage,
        created_at=m["created_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
    )
