"""The SQL of a bulk import: which ids and import keys are taken, conversation rows.

An import writes many conversations in the caller's one write transaction
(``store/imports.py``). Before each conversation it asks two questions here: was its
source imported before by this owner — which conversation holds it
(``conversations.import_key``, unique per owner) — and is the id it wants taken
(conversation ids are unique across owners). Messages go in through
``messages.insert`` like any append (a re-import that appends to a grown source reserves
their seqs as an append does); the search indexes follow by trigger (SQLite) and
generated column (PostgreSQL).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.schema import conversations as t

__all__ = ["id_taken", "imported_as", "insert_conversation"]


def imported_as(conn: Connection, owner: str, import_key: str) -> str | None:
    """The id of ``owner``'s conversation imported under ``import_key``, if there is one."""
    query = sa.select(t.c.id).where(t.c.owner == owner, t.c.import_key == import_key)
    row = conn.execute(query.limit(1)).first()
    return None if row is None else str(row[0])


def id_taken(conn: Connection, conversation_id: str) -> bool:
    """Whether any owner has a conversation with this id."""
    query = sa.select(t.c.id).where(t.c.id == conversation_id)
    return conn.execute(query).first() is not None


def insert_conversation(conn: Connection, values: dict[str, Any]) -> None:
    """Insert one conversation row with its counters already set (``values`` has every
    column but none is defaulted)."""
    conn.execute(t.insert().values(values))
