"""Share link rows (SPEC S6.5): insert, list an owner's, delete, read a snapshot by token.

Owner scoping is on the row (``owner``, written from the store's owner after the
conversation was found to be theirs), so another owner's share is not found, exactly
like an id that does not exist. Public reads go by ``token_hash`` (the SHA-256 of the
token, unique) and return only the snapshot. Listings are keyset pages on the share id
(a UUIDv7, so newest first), walking ``(owner, id)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.conversations import pack_cursor, unpack_cursor
from threadkeep.db.schema import shares as t
from threadkeep.errors import InvalidInput
from threadkeep.ids import check_uuid

__all__ = ["Share", "decode_cursor", "delete", "encode_cursor", "insert", "page", "snapshot"]


@dataclass(frozen=True, slots=True)
class Share:
    """One share link as its owner sees it: what it shows, never its token.

    ``title`` is the snapshot's (redacted) title; ``message_count`` how many messages
    the snapshot holds.
    """

    id: str
    conversation_id: str
    title: str | None
    message_count: int
    created_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        """The share as JSON-ready values (datetimes in ISO 8601)."""
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "title": self.title,
            "message_count": self.message_count,
            "created_at": self.created_at.isoformat(),
        }


_SUMMARY = (t.c.id, t.c.conversation_id, t.c.title, t.c.message_count, t.c.created_at)


def _share(row: Any) -> Share:
    return Share(
        id=str(row.id),
        conversation_id=str(row.conversation_id),
        title=row.title,
        message_count=int(row.message_count),
        created_at=row.created_at,
    )


def insert(conn: Connection, values: dict[str, Any]) -> None:
    """Insert a share (``id``, ``owner``, ``conversation_id``, ``token_hash``, ``title``,
    ``message_count``, ``snapshot``, ``created_at``)."""
    conn.execute(t.insert(), values)


def page(
    conn: Connection,
    owner: str,
    *,
    conversation_id: str | None,
    limit: int,
    before_id: str | None,
) -> tuple[list[Share], str | None]:
    """Up to ``limit`` of ``owner``'s shares, newest first, after the keyset position
    ``before_id``; returns them and the id to continue from (``None`` on the last page)."""
    query = sa.select(*_SUMMARY).where(t.c.owner == owner)
    if conversation_id is not None:
        query = query.where(t.c.conversation_id == conversation_id)
    if before_id is not None:
        query = query.where(t.c.id < before_id)
    rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit + 1)).all()
    items = [_share(row) for row in rows[:limit]]
    return items, items[-1].id if len(rows) > limit and items else None


def delete(conn: Connection, owner: str, share_id: str) -> Share | None:
    """Delete ``owner``'s share ``share_id``; the share as it was, or ``None``."""
    mine = sa.and_(t.c.id == share_id, t.c.owner == owner)
    row = conn.execute(sa.select(*_SUMMARY).where(mine)).first()
    if row is None:
        return None
    conn.execute(t.delete().where(mine))
    return _share(row)


def snapshot(conn: Connection, token_hash: str) -> tuple[str, Any] | None:
    """The id and stored snapshot of the share with this token hash, or ``None``.

    A snapshot that no longer parses comes back as a
    :class:`~threadkeep.db.column_types.CorruptValue`."""
    row = conn.execute(sa.select(t.c.id, t.c.snapshot).where(t.c.token_hash == token_hash)).first()
    if row is None:
        return None
    return str(row.id), row.snapshot


def encode_cursor(share_id: str) -> str:
    return pack_cursor([share_id])


def decode_cursor(cursor: str) -> str:
    """The share id a cursor made by :func:`encode_cursor` holds; else ``InvalidInput``."""
    problem = "cursor is not one this share listing handed out; start again without a cursor"
    try:
        [share_id] = unpack_cursor(cursor)
        return check_uuid(share_id, what="cursor")
    except (ValueError, TypeError, InvalidInput):
        raise InvalidInput(problem) from None
