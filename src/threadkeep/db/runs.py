"""Run rows: one agent turn each. Owner scoping goes through the conversation row."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.rows import run_from_row
from threadkeep.db.schema import conversations as c
from threadkeep.db.schema import runs as t
from threadkeep.models import Run

__all__ = ["get", "insert", "list_for", "mark_interrupted", "update"]


def insert(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(t.insert(), values)


def _owned(owner: str) -> sa.ColumnElement[bool]:
    return sa.exists(
        sa.select(sa.literal(1)).where(c.c.id == t.c.conversation_id, c.c.owner == owner)
    )


def get(conn: Connection, owner: str, run_id: str, *, for_update: bool = False) -> Run | None:
    """The run, or ``None``; ``for_update`` locks its row (PostgreSQL) until commit."""
    query = sa.select(t).where(t.c.id == run_id, _owned(owner))
    if for_update:
        query = query.with_for_update(of=t)
    row = conn.execute(query).first()
    return None if row is None else run_from_row(row)


def update(conn: Connection, run_id: str, values: dict[str, Any]) -> None:
    conn.execute(t.update().where(t.c.id == run_id).values(values))


def list_for(conn: Connection, conversation_id: str) -> list[Run]:
    rows = conn.execute(
        sa.select(t).where(t.c.conversation_id == conversation_id).order_by(t.c.created_at, t.c.id)
    )
    return [run for run in map(run_from_row, rows) if run is not None]


def mark_interrupted(
    conn: Connection, owner: str | None, values: dict[str, Any]
) -> list[tuple[str, Run]]:
    """Set every queued/running run (of ``owner``, or of everyone) to ``values``.

    Returns ``(owner, run)`` pairs as they were before the change, so the caller can
    tell each owner about their runs.
    """
    query = (
        sa.select(c.c.owner, *t.c)
        .join(c, c.c.id == t.c.conversation_id)
        .where(t.c.status.in_(("queued", "running")))
    )
    if owner is not None:
        query = query.where(c.c.owner == owner)
    found = []
    for row in conn.execute(query):
        run = run_from_row(row)
        if run is not None:
            found.append((str(row.owner), run))
    if found:
        conn.execute(t.update().where(t.c.id.in_([r.id for _, r in found])).values(values))
    return found
