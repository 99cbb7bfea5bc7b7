"""Run rows: one agent turn each. Owner scoping goes through the conversation row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.rows import run_from_row
from threadkeep.db.schema import conversations as c
from threadkeep.db.schema import runs as t
from threadkeep.models import Run

__all__ = ["get", "insert", "list_for", "set_many", "unfinished", "update"]


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


def unfinished(
    conn: Connection, owner: str | None, run_ids: Sequence[str] | None = None
) -> list[tuple[str, Run]]:
    """``(owner, run)`` of every queued/running run — of ``owner`` (``None``: everyone's),
    among ``run_ids`` when given."""
    if run_ids is not None and not run_ids:
        return []
    query = (
        sa.select(c.c.owner, *t.c)
        .join(c, c.c.id == t.c.conversation_id)
        .where(t.c.status.in_(("queued", "running")))
    )
    if owner is not None:
        query = query.where(c.c.owner == owner)
    if run_ids is not None:
        query = query.where(t.c.id.in_(list(run_ids)))
    found = []
    for row in conn.execute(query):
        run = run_from_row(row)
        if run is not None:
            found.append((str(row.owner), run))
    return found


def set_many(conn: Connection, run_ids: Sequence[str], values: dict[str, Any]) -> None:
    if run_ids:
        conn.execute(t.update().where(t.c.id.in_(list(run_ids))).values(values))
