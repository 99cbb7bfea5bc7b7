"""Totals over an owner's conversations, read from the counters kept on each row.

``message_count`` and ``token_count`` are maintained by every write, so an owner's
totals are one aggregate over their conversation rows (the ``owner``-leading listing
index narrows it to them) — no message is read.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.schema import conversations as t

__all__ = ["owner_totals"]


def owner_totals(conn: Connection, owner: str) -> dict[str, tuple[int, int, int]]:
    """``status -> (conversations, messages, tokens)`` for the owner's conversations."""
    statement = (
        sa.select(
            t.c.status,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(t.c.message_count), 0),
            sa.func.coalesce(sa.func.sum(t.c.token_count), 0),
        )
        .where(t.c.owner == owner)
        .group_by(t.c.status)
    )
    return {
        str(status): (int(count), int(messages), int(tokens))
        for status, count, messages, tokens in conn.execute(statement)
    }
