"""The SQL of retention (SPEC S7.1-S7.3): the message cap, cleanup, the database's size.

**Message cap.** A conversation's seqs are contiguous — ``last_seq - message_count + 1 ..
last_seq`` — so "keep the newest ``cap``" is "delete ``seq <= last_seq - cap``": one
range delete on the ``(conversation_id, seq)`` index, run in the append's own
transaction, with ``RETURNING tokens`` so the counters are corrected without a scan.
The search index follows by itself (triggers on SQLite, generated columns on
PostgreSQL).

**Cleanup** reads *narrow* rows (id, owner, title, times): a plan of 100,000 candidates
never loads a context, a preview or a message. :func:`lock_states` re-reads the
candidates of one batch inside the applying transaction (``FOR UPDATE`` on PostgreSQL;
the write lock on SQLite), so the caller can leave alone what changed since the plan.
Purging deletes the conversation row; messages and runs go with it (``ON DELETE
CASCADE``).

**Size**: the SQLite file plus its WAL; on PostgreSQL the total size (heap, indexes,
TOAST) of threadkeep's own tables as the ``search_path`` resolves them, not the whole
database — a PostgreSQL database is often shared with other applications, whose data
is not threadkeep's to warn about.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.engine import Database
from threadkeep.db.prepared import Prepared
from threadkeep.db.schema import conversations as c
from threadkeep.db.schema import messages as m
from threadkeep.db.schema import metadata
from threadkeep.models import CleanupItem

__all__ = [
    "ConversationState",
    "database_size",
    "expired_trash",
    "inactive",
    "lock_states",
    "over_limit",
    "prune_through",
    "purge",
    "shrink_counters",
    "trash",
]

# ---------------------------------------------------------------------- message cap

_prune = Prepared(
    m.delete()
    .where(m.c.conversation_id == sa.bindparam("cid"), m.c.seq <= sa.bindparam("through"))
    .returning(m.c.tokens)
)


def prune_through(conn: Connection, conversation_id: str, seq: int) -> tuple[int, int]:
    """Delete the conversation's messages with ``seq <= seq``; return (count, tokens)."""
    rows = _prune.rows(conn, {"cid": conversation_id, "through": seq})
    return len(rows), sum(row[0] or 0 for row in rows)


def _shrink(with_preview: bool) -> Prepared:
    values: dict[str, Any] = {
        "message_count": c.c.message_count - sa.bindparam("count", type_=sa.Integer()),
        "token_count": c.c.token_count - sa.bindparam("tokens", type_=sa.BigInteger()),
    }
    if with_preview:
        values["preview"] = sa.bindparam("preview", type_=sa.Text())
    return Prepared(
        c.update()
        .where(c.c.id == sa.bindparam("cid"), c.c.owner == sa.bindparam("b_owner"))
        .values(values)
    )


_shrink_keep_preview = _shrink(False)
_shrink_set_preview = _shrink(True)


def shrink_counters(
    conn: Connection,
    owner: str,
    conversation_id: str,
    *,
    count: int,
    tokens: int,
    preview: str | None,
    set_preview: bool,
) -> None:
    """Take pruned messages off the counters; replace the preview when ``set_preview``."""
    params: dict[str, Any] = {
        "cid": conversation_id,
        "b_owner": owner,
        "count": count,
        "tokens": tokens,
    }
    if not set_preview:
        # Not even as None: SQLAlchemy reads a parameter named after a column as a
        # value to SET.
        _shrink_keep_preview.run(conn, params)
        return
    _shrink_set_preview.run(conn, {**params, "preview": preview})


# -------------------------------------------------------------------------- cleanup

_NARROW = (c.c.id, c.c.owner, c.c.title, c.c.updated_at, c.c.trashed_at, c.c.message_count)


def _items(rows: Sequence[Any], action: str, reason: str) -> list[CleanupItem]:
    return [
        CleanupItem(
            conversation_id=str(row[0]),
            owner=row[1],
            title=row[2],
            action=action,
            reason=reason,
            updated_at=row[3],
            trashed_at=row[4],
            message_count=int(row[5]),
        )
        for row in rows
    ]


def _scoped(query: sa.Select[Any], owner: str | None) -> sa.Select[Any]:
    return query if owner is None else query.where(c.c.owner == owner)


def inactive(conn: Connection, owner: str | None, cutoff: dt.datetime) -> list[CleanupItem]:
    """Active, unpinned conversations last updated at or before ``cutoff``, oldest first."""
    query = sa.select(*_NARROW).where(
        c.c.status == "active", c.c.pinned == sa.false(), c.c.updated_at <= cutoff
    )
    query = _scoped(query, owner).order_by(c.c.owner, c.c.updated_at, c.c.id)
    return _items(conn.execute(query).all(), "trash", "inactive")


def over_limit(
    conn: Connection, owner: str | None, limit: int, inactive_cutoff: dt.datetime | None
) -> list[CleanupItem]:
    """Each owner's active conversations past the newest ``limit``, oldest first.

    Pinned conversations stay and count toward ``limit``; conversations that the
    inactivity rule takes (updated at or before ``inactive_cutoff``) are already going
    and count for nothing. The unpinned rest are kept newest first until the owner has
    ``limit``; the others are returned.
    """
    active = c.c.status == "active"
    crowded = _scoped(sa.select(c.c.owner).where(active).group_by(c.c.owner), owner).having(
        sa.func.count() > limit
    )
    found: list[CleanupItem] = []
    for (who,) in conn.execute(crowded.order_by(c.c.owner)).all():
        pinned = conn.execute(
            sa.select(sa.func.count()).where(c.c.owner == who, active, c.c.pinned == sa.true())
        ).scalar_one()
        query = sa.select(*_NARROW).where(c.c.owner == who, active, c.c.pinned == sa.false())
        if inactive_cutoff is not None:
            query = query.where(c.c.updated_at > inactive_cutoff)
        query = query.order_by(c.c.updated_at.desc(), c.c.id.desc()).offset(
            max(0, limit - int(pinned))
        )
        found.extend(reversed(_items(conn.execute(query).all(), "trash", "over_limit")))
    return found


def expired_trash(conn: Connection, owner: str | None, cutoff: dt.datetime) -> list[CleanupItem]:
    """Unpinned conversations in the trash since ``cutoff`` or earlier, oldest first."""
    query = sa.select(*_NARROW).where(
        c.c.status == "trash", c.c.pinned == sa.false(), c.c.trashed_at <= cutoff
    )
    query = _scoped(query, owner).order_by(c.c.owner, c.c.trashed_at, c.c.id)
    return _items(conn.execute(query).all(), "purge", "expired_trash")


@dataclass(frozen=True, slots=True)
class ConversationState:
    """What decides whether a planned cleanup item still applies."""

    owner: str
    status: str
    pinned: bool
    updated_at: dt.datetime
    trashed_at: dt.datetime | None


def lock_states(conn: Connection, ids: Sequence[str]) -> dict[str, ConversationState]:
    """The current state of these conversations, locked until the transaction ends.

    Looked up by primary key alone; the caller compares the owner. (With ``owner = ?``
    in the query, SQLite's planner may walk the owner's listing index instead: a scan
    of every conversation the owner has, per batch.)
    """
    query = (
        sa.select(c.c.id, c.c.owner, c.c.status, c.c.pinned, c.c.updated_at, c.c.trashed_at)
        .where(c.c.id.in_(ids))
        .with_for_update()
    )
    return {
        str(row[0]): ConversationState(row[1], row[2], bool(row[3]), row[4], row[5])
        for row in conn.execute(query).all()
    }


def trash(conn: Connection, ids: Sequence[str], at: dt.datetime) -> None:
    """Move these conversations to the trash at ``at`` (``updated_at`` stays)."""
    conn.execute(c.update().where(c.c.id.in_(ids)).values(status="trash", trashed_at=at))


def purge(conn: Connection, ids: Sequence[str]) -> None:
    """Delete these conversations for good; their messages and runs cascade."""
    conn.execute(c.delete().where(c.c.id.in_(ids)))


# ----------------------------------------------------------------------------- size


def database_size(db: Database) -> int:
    """Bytes the data takes: see the module docstring for what each engine counts."""
    if db.sqlite_path is not None:
        total = 0
        for path in (db.sqlite_path, db.sqlite_path.with_name(db.sqlite_path.name + "-wal")):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total
    names = [table.name for table in metadata.sorted_tables] + ["alembic_version"]
    with db.read() as conn:
        return int(conn.execute(_PG_SIZE, {"names": names}).scalar_one())


# to_regclass resolves each name through the search_path (NULL when absent, which sum
# skips); pg_total_relation_size counts the heap, its indexes and its TOAST.
_PG_SIZE = sa.text(
    "SELECT coalesce(sum(pg_total_relation_size(to_regclass(name))), 0) "
    "FROM unnest(CAST(:names AS text[])) AS name"
)
