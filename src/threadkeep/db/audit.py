"""Audit log rows (SPEC S7.5): written in the caller's transaction, read newest first.

An entry is inserted by the store inside the same transaction as the change it records,
so an entry exists exactly when the change committed. Reads are scoped to the actor
(the owner who acted) and keyset-paginated on ``(at, id)`` descending, walking the
``(actor, at)`` index; the cursor is that key, base64-encoded JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.column_types import CorruptValue
from threadkeep.db.conversations import pack_cursor, unpack_cursor
from threadkeep.db.schema import audit_log as t
from threadkeep.errors import InvalidInput
from threadkeep.models import AuditEntry

__all__ = ["decode_cursor", "encode_cursor", "expire", "insert", "page"]


_insert = t.insert()


def insert(conn: Connection, entries: Sequence[dict[str, Any]]) -> None:
    """Insert entries (dicts of ``at``, ``actor``, ``action``, ``conversation_id``,
    ``detail``) with one executemany."""
    if entries:
        conn.execute(_insert, list(entries))


def page(
    conn: Connection,
    actor: str,
    *,
    since: dt.datetime | None,
    action: str | None,
    limit: int,
    after: tuple[dt.datetime, int] | None,
) -> tuple[list[AuditEntry], tuple[dt.datetime, int] | None]:
    """Up to ``limit`` entries of ``actor`` after the keyset position ``after``.

    Returns the entries and the key to continue from (``None`` on the last page).
    """
    query = sa.select(t).where(t.c.actor == actor)
    if since is not None:
        query = query.where(t.c.at >= since)
    if action is not None:
        query = query.where(t.c.action == action)
    if after is not None:
        key = sa.tuple_(
            sa.bindparam("after_at", after[0], type_=t.c.at.type),
            sa.bindparam("after_id", after[1], type_=t.c.id.type),
        )
        query = query.where(sa.tuple_(t.c.at, t.c.id) < key)
    query = query.order_by(t.c.at.desc(), t.c.id.desc()).limit(limit + 1)
    rows = conn.execute(query).all()
    entries = []
    for row in rows[:limit]:
        detail = row.detail
        if isinstance(detail, CorruptValue):
            # An unreadable detail does not hide the entry: who did what, when stays.
            detail = {"unreadable": detail.error}
        entries.append(
            AuditEntry(
                id=int(row.id),
                at=row.at,
                actor=row.actor,
                action=row.action,
                conversation_id=None if row.conversation_id is None else str(row.conversation_id),
                detail=detail,
            )
        )
    more = len(rows) > limit and entries
    return entries, (entries[-1].at, entries[-1].id) if more else None


def expire(conn: Connection, actor: str | None, before: dt.datetime) -> int:
    """Delete entries (of ``actor``, or everyone's) dated before ``before``; return how many."""
    query = t.delete().where(t.c.at < before)
    if actor is not None:
        query = query.where(t.c.actor == actor)
    return int(conn.execute(query).rowcount)


def encode_cursor(key: tuple[dt.datetime, int]) -> str:
    return pack_cursor([key[0].astimezone(dt.UTC).isoformat(), key[1]])


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    """Parse a cursor made by :func:`encode_cursor`; anything else is ``InvalidInput``."""
    problem = "cursor is not one this audit listing handed out; start again without a cursor"
    try:
        at, entry_id = unpack_cursor(cursor)
        parsed = dt.datetime.fromisoformat(at)
        if parsed.tzinfo is None or type(entry_id) is not int:
            raise ValueError
    except (ValueError, TypeError):  # binascii.Error, UnicodeDecodeError are ValueErrors
        raise InvalidInput(problem) from None
    return parsed, entry_id
