"""Run-turn rows: the cross-process queue of sends per conversation (SPEC S4.5).

A ticket is a row; its autoincrement id is its place in the queue. Owner scoping goes
through the conversation row, as for runs. Every function takes the connection; the
store opens the transaction and decides what a lapsed lease or a dead holder means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.schema import conversations as c
from threadkeep.db.schema import run_turns as t

__all__ = [
    "Ticket",
    "ahead_of",
    "attach_run",
    "delete",
    "delete_owned",
    "held_runs",
    "insert",
    "lapsed",
    "renew",
    "request_cancel",
]


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket as the queue reads it."""

    id: int
    conversation_id: str
    holder: str
    run_id: str | None
    lease_until: dt.datetime
    cancel_requested: bool


_COLUMNS = (
    t.c.id,
    t.c.conversation_id,
    t.c.holder,
    t.c.run_id,
    t.c.lease_until,
    t.c.cancel_requested,
)


def _ticket(row: Any) -> Ticket:
    return Ticket(
        id=int(row.id),
        conversation_id=str(row.conversation_id),
        holder=str(row.holder),
        run_id=None if row.run_id is None else str(row.run_id),
        lease_until=row.lease_until,
        cancel_requested=bool(row.cancel_requested),
    )


def _owned(owner: str) -> sa.ColumnElement[bool]:
    return sa.exists(
        sa.select(sa.literal(1)).where(c.c.id == t.c.conversation_id, c.c.owner == owner)
    )


def insert(
    conn: Connection, conversation_id: str, holder: str, lease_until: dt.datetime, at: dt.datetime
) -> int:
    """A new ticket at the end of the conversation's queue; its id."""
    result = conn.execute(
        t.insert()
        .values(
            conversation_id=conversation_id,
            holder=holder,
            run_id=None,
            lease_until=lease_until,
            cancel_requested=False,
            created_at=at,
        )
        .returning(t.c.id)
    )
    return int(result.scalar_one())


def ahead_of(conn: Connection, owner: str, conversation_id: str, ticket: int) -> list[Ticket]:
    """The conversation's tickets before ``ticket``, first first (lapsed ones too)."""
    rows = conn.execute(
        sa.select(*_COLUMNS)
        .where(t.c.conversation_id == conversation_id, t.c.id < ticket, _owned(owner))
        .order_by(t.c.id)
    )
    return [_ticket(row) for row in rows]


def lapsed(conn: Connection, conversation_id: str | None, now: dt.datetime) -> list[Ticket]:
    """Tickets whose lease ran out before ``now`` (of one conversation, or all)."""
    query = sa.select(*_COLUMNS).where(t.c.lease_until < now)
    if conversation_id is not None:
        query = query.where(t.c.conversation_id == conversation_id)
    return [_ticket(row) for row in conn.execute(query)]


def held_runs(conn: Connection) -> list[Ticket]:
    """Every ticket whose run has started (the runs some process says it runs)."""
    return [
        _ticket(row) for row in conn.execute(sa.select(*_COLUMNS).where(t.c.run_id.isnot(None)))
    ]


def renew(conn: Connection, owner: str, ticket: int, lease_until: dt.datetime) -> bool | None:
    """Extend the lease; the ticket's ``cancel_requested``, or ``None`` if it is gone."""
    found = conn.execute(
        t.update()
        .where(t.c.id == ticket, _owned(owner))
        .values(lease_until=lease_until)
        .returning(t.c.cancel_requested)
    ).first()
    return None if found is None else bool(found.cancel_requested)


def attach_run(conn: Connection, owner: str, ticket: int, run_id: str) -> bool:
    """Record the run the ticket's send started; ``False`` if the ticket is gone."""
    done = conn.execute(t.update().where(t.c.id == ticket, _owned(owner)).values(run_id=run_id))
    return done.rowcount == 1


def request_cancel(conn: Connection, run_id: str) -> bool:
    """Flag the ticket running ``run_id`` to cancel; ``False`` if no ticket holds it."""
    done = conn.execute(t.update().where(t.c.run_id == run_id).values(cancel_requested=True))
    return done.rowcount > 0


def delete_owned(conn: Connection, owner: str, ticket: int) -> None:
    conn.execute(t.delete().where(t.c.id == ticket, _owned(owner)))


def delete(conn: Connection, tickets: list[int]) -> None:
    if tickets:
        conn.execute(t.delete().where(t.c.id.in_(tickets)))
