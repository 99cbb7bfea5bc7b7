"""Conversation rows: insert, read, list by keyset, update, delete.

Every function takes the owner, and every query filters on it, so another owner's
conversation is simply not found (SPEC S8.2: never a 403, never data).

Listing is keyset-paginated on ``(updated_at, id)`` descending — ``(pinned, updated_at,
id)`` when pinned come first — and walks the matching index backwards, so a page costs
its own size. The cursor is the sort key of the last item, base64-encoded JSON; it stays
valid under concurrent writes (a conversation that moves to the top is seen on the
first page, not twice).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from threadkeep.db.rows import conversation_from_row
from threadkeep.db.schema import conversations as t
from threadkeep.errors import InvalidInput
from threadkeep.ids import check_uuid
from threadkeep.models import Conversation, ConversationFilter

__all__ = [
    "decode_cursor",
    "delete",
    "encode_cursor",
    "exists",
    "get",
    "insert",
    "list_page",
    "update",
]


def insert(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert a new conversation; ``False`` when its id is already taken (by anyone)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(t).values(values).on_conflict_do_nothing().returning(t.c.id)
    return conn.execute(statement).first() is not None


def get(
    conn: Connection, owner: str, conversation_id: str, *, for_update: bool = False
) -> Conversation | None:
    query = sa.select(t).where(t.c.id == conversation_id, t.c.owner == owner)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else conversation_from_row(row)


def exists(conn: Connection, owner: str, conversation_id: str) -> bool:
    query = sa.select(t.c.id).where(t.c.id == conversation_id, t.c.owner == owner)
    return conn.execute(query).first() is not None


def update(conn: Connection, owner: str, conversation_id: str, values: dict[str, Any]) -> bool:
    result = conn.execute(
        t.update().where(t.c.id == conversation_id, t.c.owner == owner).values(values)
    )
    return result.rowcount > 0


def delete(conn: Connection, owner: str, conversation_id: str) -> bool:
    result = conn.execute(t.delete().where(t.c.id == conversation_id, t.c.owner == owner))
    return result.rowcount > 0


def encode_cursor(key: list[Any]) -> str:
    """Encode a sort key (as :func:`list_page` returns it) into an opaque cursor."""
    key = [k.isoformat() if isinstance(k, dt.datetime) else k for k in key]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, pinned_first: bool) -> list[Any]:
    """Parse a cursor made by :func:`encode_cursor` for the same ordering."""
    problem = "cursor is not one this listing handed out; start again without a cursor"
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput(problem) from None
    size = 3 if pinned_first else 2
    if not isinstance(key, list) or len(key) != size:
        raise InvalidInput(problem)
    try:
        if pinned_first and not isinstance(key[0], bool):
            raise ValueError
        key[-2] = dt.datetime.fromisoformat(key[-2])
        if key[-2].tzinfo is None or not isinstance(key[-1], str):
            raise ValueError
        key[-1] = check_uuid(key[-1])
    except (ValueError, TypeError, InvalidInput):
        raise InvalidInput(problem) from None
    return list(key)


def _tag_condition(conn: Connection, tag: str) -> sa.ColumnElement[bool]:
    if conn.dialect.name == "postgresql":
        return t.c.tags.op("@>")(sa.func.jsonb_build_array(tag))
    each = sa.func.json_each(t.c.tags).table_valued("value")
    return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == tag))


def list_page(
    conn: Connection,
    owner: str,
    where: ConversationFilter,
    *,
    limit: int,
    pinned_first: bool,
    after: list[Any] | None,
) -> tuple[list[Conversation], list[Any] | None]:
    """Up to ``limit`` conversations after the keyset position ``after``.

    Returns the items and the sort key to continue from (``None`` on the last page).
    Damaged rows are skipped but still advance the key, so paging never stalls.
    """
    query = sa.select(t).where(t.c.owner == owner)
    if where.status is not None:
        query = query.where(t.c.status == where.status)
    for column, value in (
        (t.c.provider, where.provider),
        (t.c.model, where.model),
        (t.c.mode, where.mode),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.tag is not None:
        query = query.where(_tag_condition(conn, where.tag))
    if where.updated_after is not None:
        query = query.where(t.c.updated_at > where.updated_after)
    if where.updated_before is not None:
        query = query.where(t.c.updated_at < where.updated_before)
    if where.created_after is not None:
        query = query.where(t.c.created_at > where.created_after)
    if where.created_before is not None:
        query = query.where(t.c.created_at < where.created_before)
    key_columns = [t.c.pinned, t.c.updated_at, t.c.id] if pinned_first else [t.c.updated_at, t.c.id]
    if after is not None:
        bound = [
            sa.bindparam(None, v, type_=c.type) for c, v in zip(key_columns, after, strict=True)
        ]
        query = query.where(sa.tuple_(*key_columns) < sa.tuple_(*bound))
    query = query.order_by(*(c.desc() for c in key_columns)).limit(limit + 1)
    rows = conn.execute(query).all()
    items = []
    for row in rows[:limit]:
        item = conversation_from_row(row)
        if item is not None:
            items.append(item)
    if len(rows) <= limit:
        return items, None
    last = rows[limit - 1]._mapping
    return items, [last[c.name] for c in key_columns]
