"""Message rows and the seq allocator.

Seq allocation (SPEC S2.4): inside the caller's write transaction,
``UPDATE conversations SET last_seq = last_seq + n ... RETURNING last_seq`` both takes the
lock and reserves ``n`` seqs — the row lock on PostgreSQL, and on SQLite the database
write lock that ``BEGIN IMMEDIATE`` already holds — then the messages are inserted with
those seqs before the lock is released at commit. Two writers therefore can never read
the same counter, and a rolled-back append gives its seqs back. ``max(seq)+1`` is never
used.

Pop and clear give seqs back too (``last_seq`` goes down with ``message_count``), so
the seqs of a conversation are always contiguous: ``1..message_count`` unless the
message cap pruned the oldest (``retention.py``), which leaves ``last_seq -
message_count + 1 .. last_seq``.

Reads take the owner and filter on it through the conversation row, so a message of
another owner's conversation is not found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection

from threadkeep.db.prepared import Prepared, Queryable, is_raw
from threadkeep.db.rows import message_from_row
from threadkeep.db.schema import conversations as c
from threadkeep.db.schema import messages as t
from threadkeep.errors import Conflict
from threadkeep.models import Message

__all__ = [
    "by_idempotency_keys",
    "clear",
    "copy_prefix",
    "delete_last",
    "delete_one",
    "first_and_last_created",
    "get_one",
    "get_page",
    "insert",
    "latest_text",
    "mark_incomplete",
    "reserve_seqs",
    "tail",
    "update_one",
]

# The columns of a Message, in its field order (see rows.message_from_row).
MESSAGE_COLUMNS = [
    t.c.id,
    t.c.conversation_id,
    t.c.seq,
    t.c.role,
    t.c.kind,
    t.c.content,
    t.c.status,
    t.c["metadata"],
    t.c.tokens,
    t.c.run_id,
    t.c.created_at,
    t.c.updated_at,
]

_owned = sa.exists(
    sa.select(sa.literal_column("1")).where(
        c.c.id == sa.bindparam("cid"), c.c.owner == sa.bindparam("owner")
    )
)


# Hot-path statements are built once: SQLAlchemy memoises a statement's cache key on the
# object, so executing a prebuilt statement skips rebuilding and re-keying it per call.
_reserve = (
    c.update()
    .where(c.c.id == sa.bindparam("cid"), c.c.owner == sa.bindparam("b_owner"))
    .values(
        last_seq=c.c.last_seq + sa.bindparam("count", type_=sa.Integer()),
        message_count=c.c.message_count + sa.bindparam("count", type_=sa.Integer()),
        token_count=c.c.token_count + sa.bindparam("tokens", type_=sa.BigInteger()),
        updated_at=sa.bindparam("at", type_=c.c.updated_at.type),
        preview=sa.func.coalesce(sa.bindparam("preview", type_=sa.Text()), c.c.preview),
    )
    .returning(c.c.last_seq)
)
_reserve_prepared = Prepared(_reserve)
_insert = Prepared(
    t.insert(),
    json_params=["metadata"],
    column_keys=[col.name for col in t.c if col.name != "pk"],
)


def reserve_seqs(
    conn: Connection,
    owner: str,
    conversation_id: str,
    count: int,
    *,
    tokens: int,
    at: dt.datetime,
    preview: str | None,
) -> int | None:
    """Reserve ``count`` seqs and bump the counters; return the new ``last_seq``.

    ``preview=None`` keeps the current preview. ``None`` is returned when the
    conversation does not exist for this owner.
    """
    found = _reserve_prepared.rows(
        conn,
        {
            "cid": conversation_id,
            "b_owner": owner,
            "count": count,
            "tokens": tokens,
            "at": at,
            "preview": preview,
        },
    )
    return int(found[0][0]) if found else None


def insert(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert prepared rows; a message id already used in the conversation is ``Conflict``."""
    try:
        _insert.run(conn, rows[0] if len(rows) == 1 else rows)
    except exc.IntegrityError as error:
        ids = [r["id"] for r in rows]
        raise Conflict(
            f"a message with id {ids[0] if len(ids) == 1 else ids} already exists in this "
            "conversation; message ids are unique per conversation"
        ) from error


def mark_incomplete(conn: Connection, conversation_id: str, run_id: str, at: dt.datetime) -> None:
    """Streaming messages of a run that ended without completing become ``incomplete``.

    Scoped to the run's own conversation: a run id copied onto someone else's message
    does not reach it.
    """
    conn.execute(
        t.update()
        .where(
            t.c.conversation_id == conversation_id,
            t.c.run_id == run_id,
            t.c.status == "streaming",
        )
        .values(status="incomplete", updated_at=at)
    )


def by_idempotency_keys(
    conn: Connection, conversation_id: str, keys: Sequence[str]
) -> dict[str, Message]:
    """The messages already stored under these keys, by key (caller checked the owner)."""
    rows = conn.execute(
        sa.select(t.c.idempotency_key, *MESSAGE_COLUMNS).where(
            t.c.conversation_id == conversation_id, t.c.idempotency_key.in_(keys)
        )
    ).all()
    return {row[0]: message_from_row(tuple(row)[1:], False) for row in rows}


def _messages(rows: Sequence[Any], raw: bool) -> list[Message]:
    return [message_from_row(row, raw) for row in rows]


_pages: dict[tuple[bool, bool, bool, bool, bool], Prepared] = {}


def _page_statement(
    after: bool, before: bool, limit: bool, descending: bool, one: bool
) -> Prepared:
    """The page query for this combination of bounds, built once."""
    key = (after, before, limit, descending, one)
    if key not in _pages:
        query = sa.select(*MESSAGE_COLUMNS).where(
            t.c.conversation_id == sa.bindparam("cid"), _owned
        )
        if one:
            query = query.where(t.c.id == sa.bindparam("mid"))
        if after:
            query = query.where(t.c.seq > sa.bindparam("after_seq"))
        if before:
            query = query.where(t.c.seq < sa.bindparam("before_seq"))
        query = query.order_by(t.c.seq.desc() if descending else t.c.seq)
        if limit:
            query = query.limit(sa.bindparam("n"))
        _pages[key] = Prepared(query)
    return _pages[key]


def tail(conn: Queryable, owner: str, conversation_id: str, n: int) -> list[Message]:
    """The last ``n`` messages, oldest first, reading only those rows (index walk)."""
    rows = _page_statement(False, False, True, True, False).rows(
        conn, {"owner": owner, "cid": conversation_id, "n": n}
    )
    return _messages(rows[::-1], is_raw(conn))


def get_page(
    conn: Queryable,
    owner: str,
    conversation_id: str,
    *,
    after_seq: int | None,
    before_seq: int | None,
    limit: int | None,
    descending: bool,
) -> list[Message]:
    statement = _page_statement(
        after_seq is not None, before_seq is not None, limit is not None, descending, False
    )
    params = {
        "owner": owner,
        "cid": conversation_id,
        "after_seq": after_seq,
        "before_seq": before_seq,
        "n": limit,
    }
    return _messages(statement.rows(conn, params), is_raw(conn))


def get_one(conn: Connection, owner: str, conversation_id: str, message_id: str) -> Message | None:
    statement = _page_statement(False, False, False, False, True)
    params = {"owner": owner, "cid": conversation_id, "mid": message_id}
    found = _messages(statement.rows(conn, params), is_raw(conn))
    return found[0] if found else None


def update_one(
    conn: Connection, conversation_id: str, message_id: str, values: dict[str, Any]
) -> None:
    conn.execute(
        t.update()
        .where(t.c.conversation_id == conversation_id, t.c.id == message_id)
        .values(values)
    )


def latest_text(conn: Connection, conversation_id: str) -> str | None:
    """Content of the latest user/assistant text message (for the listing preview)."""
    query = sa.select(t.c.content).where(
        t.c.conversation_id == conversation_id,
        t.c.kind == "text",
        t.c.role.in_(("user", "assistant")),
    )
    row = conn.execute(query.order_by(t.c.seq.desc()).limit(1)).first()
    return None if row is None else str(row[0])


def delete_last(conn: Connection, conversation_id: str, last_seq: int) -> None:
    conn.execute(t.delete().where(t.c.conversation_id == conversation_id, t.c.seq == last_seq))


def delete_one(conn: Connection, conversation_id: str, seq: int) -> None:
    conn.execute(t.delete().where(t.c.conversation_id == conversation_id, t.c.seq == seq))


def clear(conn: Connection, conversation_id: str) -> None:
    conn.execute(t.delete().where(t.c.conversation_id == conversation_id))


def first_and_last_created(
    conn: Connection, conversation_id: str, last_seq: int
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Created times of the first and last message, by two index lookups."""
    first = conn.execute(
        sa.select(t.c.created_at)
        .where(t.c.conversation_id == conversation_id)
        .order_by(t.c.seq)
        .limit(1)
    ).scalar()
    last = conn.execute(
        sa.select(t.c.created_at).where(t.c.conversation_id == conversation_id, t.c.seq == last_seq)
    ).scalar()
    return first, last


def copy_prefix(
    conn: Connection, source_id: str, target_id: str, up_to_seq: int, at: dt.datetime
) -> tuple[int, int]:
    """Copy the messages up to ``up_to_seq`` into ``target_id``; return (count, tokens)."""
    columns = [
        col
        for col in t.c
        if col.name not in ("pk", "conversation_id", "idempotency_key", "created_at", "updated_at")
    ]
    select = sa.select(
        *columns,
        sa.literal(target_id, type_=t.c.conversation_id.type).label("conversation_id"),
        sa.literal(at, type_=t.c.created_at.type).label("created_at"),
        sa.literal(at, type_=t.c.updated_at.type).label("updated_at"),
    ).where(t.c.conversation_id == source_id, t.c.seq <= up_to_seq)
    names = [col.name for col in columns] + ["conversation_id", "created_at", "updated_at"]
    conn.execute(t.insert().from_select(names, select))
    count, tokens = conn.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(t.c.tokens), 0)).where(
            t.c.conversation_id == target_id
        )
    ).one()
    return int(count), int(tokens)
