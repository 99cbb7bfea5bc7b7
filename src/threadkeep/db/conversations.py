"""Conversation rows: insert, read, list by keyset, update, delete.

Every function takes the owner, and every query filters on it, so another owner's
conversation is simply not found (SPEC S8.2: never a 403, never data).

Listing is keyset-paginated on ``(updated_at, id)`` descending — ``(pinned, updated_at,
id)`` when pinned come first — and walks the matching index backwards, so a page costs
its own size; oldest first is the same key ascending, the index walked forwards (pinned
first then means the pinned ones oldest first, then the rest oldest first). The cursor
is the sort key of the last item, base64-encoded JSON, led by ``"asc"`` when oldest
first: a cursor names its direction, so one used with the other order is refused
rather than read as a position in it (newest-first cursors keep their old form, so
those handed out before oldest-first existed still work). A cursor stays valid under
concurrent writes: newest first, a conversation that moves to the top is seen on the
first page, not twice; oldest first, a conversation updated while paging moves to the
end and is seen there (again, if its page was read already) — never skipped.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from threadkeep.db.prepared import Prepared, Queryable, is_raw
from threadkeep.db.rows import conversation_from_row, conversations_from_rows
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
    "pack_cursor",
    "unpack_cursor",
    "update",
]


def insert(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert a new conversation; ``False`` when its id is already taken (by anyone)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(t).values(values).on_conflict_do_nothing().returning(t.c.id)
    return conn.execute(statement).first() is not None


_mine = sa.and_(t.c.id == sa.bindparam("cid"), t.c.owner == sa.bindparam("owner"))
_get = Prepared(sa.select(t).where(_mine))
_get_for_update = Prepared(sa.select(t).where(_mine).with_for_update())
_exists = Prepared(sa.select(t.c.id).where(_mine))


def get(
    conn: Queryable, owner: str, conversation_id: str, *, for_update: bool = False
) -> Conversation | None:
    """The conversation, or ``None``; ``for_update`` takes its row lock (PostgreSQL)."""
    query = _get_for_update if for_update else _get
    rows = query.rows(conn, {"cid": conversation_id, "owner": owner})
    return conversation_from_row(rows[0], is_raw(conn)) if rows else None


def exists(conn: Queryable, owner: str, conversation_id: str) -> bool:
    return bool(_exists.rows(conn, {"cid": conversation_id, "owner": owner}))


def update(conn: Connection, owner: str, conversation_id: str, values: dict[str, Any]) -> bool:
    result = conn.execute(
        t.update().where(t.c.id == conversation_id, t.c.owner == owner).values(values)
    )
    return result.rowcount > 0


def delete(conn: Connection, owner: str, conversation_id: str) -> bool:
    result = conn.execute(t.delete().where(t.c.id == conversation_id, t.c.owner == owner))
    return result.rowcount > 0


def pack_cursor(values: list[Any]) -> str:
    """A keyset cursor: ``values`` as unpadded base64url JSON (every listing's codec)."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def unpack_cursor(cursor: str) -> Any:
    """The JSON value in a :func:`pack_cursor` cursor; ``ValueError`` if it holds none."""
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


# Leads an oldest-first cursor; newest-first cursors have no marker (their old form).
_ASCENDING = "asc"


def encode_cursor(key: list[Any], *, oldest_first: bool = False) -> str:
    """Encode a sort key (as :func:`list_page` returns it) into an opaque cursor."""
    values = [k.astimezone(dt.UTC).isoformat() if isinstance(k, dt.datetime) else k for k in key]
    return pack_cursor([_ASCENDING, *values] if oldest_first else values)


def decode_cursor(cursor: str, pinned_first: bool, *, oldest_first: bool = False) -> list[Any]:
    """Parse a cursor made by :func:`encode_cursor` for the same ordering.

    A well-formed cursor of the other direction gets its own message (it is an easy
    mistake to make, and the fix is to pass the same ``oldest_first``); anything else
    that is not a cursor of this ordering is the generic "not one this listing handed
    out".
    """
    problem = "cursor is not one this listing handed out; start again without a cursor"
    try:
        key = unpack_cursor(cursor)
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        raise InvalidInput(problem) from None
    if not isinstance(key, list):
        raise InvalidInput(problem)
    ascending = bool(key) and key[0] == _ASCENDING
    if ascending:
        key = key[1:]
    size = 3 if pinned_first else 2
    if len(key) != size:
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
    if ascending != oldest_first:
        made, asked = ("oldest", "newest") if ascending else ("newest", "oldest")
        raise InvalidInput(
            f"cursor is from the {made}-first order and cannot continue the {asked}-first "
            f"one: pass oldest_first={ascending} with it, or start again without a cursor"
        )
    return list(key)


def _tag_condition(dialect: str) -> sa.ColumnElement[bool]:
    if dialect == "postgresql":
        return t.c.tags.op("@>")(sa.func.jsonb_build_array(sa.bindparam("tag", type_=sa.Text())))
    # A damaged tags value (not JSON) must not fail the listing: it has no tags.
    tags = sa.case((sa.func.json_valid(t.c.tags) == 1, t.c.tags), else_=sa.literal("[]"))
    each = sa.func.json_each(tags).table_valued("value")
    return sa.exists(
        sa.select(sa.literal_column("1"))
        .select_from(each)
        .where(each.c.value == sa.bindparam("tag"))
    )


_FILTERS: tuple[tuple[str, Callable[[], sa.ColumnElement[bool]]], ...] = (
    ("status", lambda: t.c.status == sa.bindparam("status")),
    ("provider", lambda: t.c.provider == sa.bindparam("provider")),
    ("model", lambda: t.c.model == sa.bindparam("model")),
    ("mode", lambda: t.c.mode == sa.bindparam("mode")),
    (
        "updated_after",
        lambda: t.c.updated_at > sa.bindparam("updated_after", type_=t.c.updated_at.type),
    ),
    (
        "updated_before",
        lambda: t.c.updated_at < sa.bindparam("updated_before", type_=t.c.updated_at.type),
    ),
    (
        "created_after",
        lambda: t.c.created_at > sa.bindparam("created_after", type_=t.c.created_at.type),
    ),
    (
        "created_before",
        lambda: t.c.created_at < sa.bindparam("created_before", type_=t.c.created_at.type),
    ),
)

_FILTER_NAMES = tuple(field.name for field in dataclasses.fields(ConversationFilter))

_listings: dict[tuple[Any, ...], Prepared] = {}


def _listing(
    dialect: str, present: tuple[str, ...], pinned: bool | None, keyset: bool, ascending: bool
) -> Prepared:
    """The listing query for this set of filters, built once per shape.

    ``pinned`` narrows to pinned (``True``) or unpinned (``False``) rows for the two
    phases of a pinned-first listing. The keyset condition is a row-value comparison
    ``(updated_at, id) < (:u, :i)`` (``>`` oldest first), which both engines answer
    from the index, walked backwards or forwards.
    """
    key = (dialect, present, pinned, keyset, ascending)
    if key not in _listings:
        query = sa.select(t).where(t.c.owner == sa.bindparam("owner"))
        for name, condition in _FILTERS:
            if name in present:
                query = query.where(condition())
        if "tag" in present:
            query = query.where(_tag_condition(dialect))
        if pinned is not None:
            query = query.where(t.c.pinned == sa.true() if pinned else t.c.pinned == sa.false())
        if keyset:
            sort_key = sa.tuple_(t.c.updated_at, t.c.id)
            position = sa.tuple_(
                sa.bindparam("after_updated_at", type_=t.c.updated_at.type),
                sa.bindparam("after_id", type_=t.c.id.type),
            )
            query = query.where(sort_key > position if ascending else sort_key < position)
        if ascending:
            query = query.order_by(t.c.updated_at.asc(), t.c.id.asc())
        else:
            query = query.order_by(t.c.updated_at.desc(), t.c.id.desc())
        query = query.limit(sa.bindparam("n"))
        _listings[key] = Prepared(query)
    return _listings[key]


def _page(
    conn: Queryable,
    params: dict[str, Any],
    present: tuple[str, ...],
    pinned: bool | None,
    after: list[Any] | None,
    limit: int,
    ascending: bool,
) -> tuple[list[Conversation], list[Any] | None, int]:
    """One phase: items, the key after the last returned row, and the raw row count."""
    statement = _listing(conn.dialect.name, present, pinned, after is not None, ascending)
    run = dict(params, n=limit + 1)
    if after is not None:
        run["after_updated_at"], run["after_id"] = after
    rows = statement.rows(conn, run)
    items = conversations_from_rows(rows[:limit], is_raw(conn))
    last = rows[min(len(rows), limit) - 1] if rows and limit else None
    key = None if last is None else [_as_datetime(last[12]), str(last[0])]
    return items, key, len(rows)


def _as_datetime(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def list_page(
    conn: Queryable,
    owner: str,
    where: ConversationFilter,
    *,
    limit: int,
    pinned_first: bool,
    after: list[Any] | None,
    oldest_first: bool = False,
) -> tuple[list[Conversation], list[Any] | None]:
    """Up to ``limit`` conversations after the keyset position ``after``, most recently
    updated first (least recently, ``oldest_first``).

    Returns the items and the sort key to continue from (``None`` on the last page).
    Damaged rows are skipped but still advance the key, so paging never stalls.

    Pinned first is two phases: pinned conversations through the partial index
    ``ix_conversations_pinned`` (only pinned rows are in it, so appends to the others
    never touch it), then the unpinned ones through ``ix_conversations_listing``.
    """
    params: dict[str, Any] = {"owner": owner}
    present = []
    for name in _FILTER_NAMES:
        value = getattr(where, name)
        if value is not None:
            params[name] = value
            present.append(name)
    shape = tuple(present)
    if not pinned_first:
        items, key, count = _page(conn, params, shape, None, after, limit, oldest_first)
        return items, key if count > limit else None
    items = []
    if after is None or after[0] is True:
        items, key, count = _page(
            conn, params, shape, True, None if after is None else after[1:], limit, oldest_first
        )
        if count > limit:
            return items, [True, *key] if key else None
        after = None
    remaining = limit - len(items)
    more, key, count = _page(
        conn, params, shape, False, None if after is None else after[1:], remaining, oldest_first
    )
    if count > remaining:
        # The page is full: continue after its last row (which may be a pinned one).
        if not more and items:
            last = items[-1]
            return items, [True, last.updated_at, last.id]
        return items + more, [False, *key] if key else None
    return items + more, None
