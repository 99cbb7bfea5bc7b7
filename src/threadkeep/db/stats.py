"""Totals over an owner's conversations, read from the counters kept on each row.

``message_count`` and ``token_count`` are maintained by every write, so an owner's
totals are one aggregate over their conversation rows (the ``owner``-leading listing
index narrows it to them) — no message is read. With no owner (the server's metrics)
the aggregate runs over every conversation row.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.schema import conversations as t

__all__ = ["owner_totals"]


def owner_totals(conn: Connection, owner: str | None) -> dict[str, tuple[int, int, int]]:
    """``status -> (conversations, messages, tokens)`` for the owner's conversations
    (``None``: every owner's)."""
    statement = sa.select(
        t.c.status,
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(t.c.message_count), 0),
        sa.func.coalesce(sa.func.sum(t.c.token_count), 0),
    ).group_by(t.c.status)
    if owner is not None:
        statement = statement.where(t.c.owner == owner)
    return {
        str(status): (int(count), int(messages), int(tokens))
        for status, count, messages, tokens in conn.execute(statement)
    }
