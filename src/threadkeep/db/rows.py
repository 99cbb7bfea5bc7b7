"""Rows to models: the one place a database row becomes a ``Conversation``, ``Message``
or ``Run``.

A row whose JSON cannot be parsed or whose fields are out of their sets is *damaged*:
the mapper logs it (id and reason, never content) and returns ``None``, and callers skip
it, so one bad row never makes a listing or a conversation unreadable (SPEC S2.7).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Row

from threadkeep.db.column_types import CorruptValue
from threadkeep.models import (
    MESSAGE_KINDS,
    MESSAGE_ROLES,
    MESSAGE_STATUSES,
    Conversation,
    ForkedFrom,
    Message,
    Run,
)

__all__ = ["conversation_from_row", "message_from_row", "run_from_row"]

log = logging.getLogger("threadkeep.integrity")


def _damaged(table: str, row_id: object, reason: str) -> None:
    log.warning("skipping damaged %s row %s: %s", table, row_id, reason)


def conversation_from_row(row: Row[Any]) -> Conversation | None:
    m = row._mapping
    context, tags = m["context"], m["tags"]
    if isinstance(context, CorruptValue) or not isinstance(context, dict):
        _damaged("conversations", m["id"], "context is not a JSON object")
        return None
    if isinstance(tags, CorruptValue) or not isinstance(tags, list):
        _damaged("conversations", m["id"], "tags is not a JSON list")
        return None
    forked = m["forked_from_id"]
    return Conversation(
        id=m["id"],
        owner=m["owner"],
        title=m["title"],
        mode=m["mode"],
        provider=m["provider"],
        provider_session_id=m["provider_session_id"],
        model=m["model"],
        context=context,
        status=m["status"],
        pinned=bool(m["pinned"]),
        tags=tuple(str(t) for t in tags),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        message_count=m["message_count"],
        last_seq=m["last_seq"],
        token_count=m["token_count"],
        preview=m["preview"],
        forked_from=None if forked is None else ForkedFrom(forked, m["forked_from_seq"] or 0),
    )


def message_from_row(row: Row[Any]) -> Message | None:
    (
        pk,
        id_,
        conversation_id,
        seq,
        role,
        kind,
        content,
        status,
        metadata,
        tokens,
        run_id,
        _key,
        created_at,
        updated_at,
    ) = row
    if isinstance(metadata, CorruptValue):
        _damaged("messages", pk, f"metadata is not JSON ({metadata.error})")
        return None
    if role not in MESSAGE_ROLES or kind not in MESSAGE_KINDS or status not in MESSAGE_STATUSES:
        _damaged("messages", pk, "role, kind or status outside its set")
        return None
    return Message(
        id=id_,
        conversation_id=conversation_id,
        seq=seq,
        role=role,
        kind=kind,
        content=content,
        status=status,
        metadata=metadata,
        tokens=tokens,
        run_id=run_id,
        created_at=created_at,
        updated_at=updated_at,
    )


def run_from_row(row: Row[Any]) -> Run | None:
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
