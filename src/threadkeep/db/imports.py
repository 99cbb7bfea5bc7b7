"""The SQL of a bulk import: which ids and import keys are taken, conversation rows.

An import writes many conversations in the caller's one write transaction
(``store/imports.py``). Before each conversation it asks two questions here: was its
source imported before by this owner (``conversations.import_key``, unique per owner),
and is the id it wants taken (conversation ids are unique across owners). Messages go
in through ``messages.insert`` like any append; the search indexes follow by trigger
(SQLite) and generated column (PostgreSQL).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.schema import conversations as t

__all__ = ["id_taken", "import_key_known", "insert_conversation"]


def import_key_known(conn: Connection, owner: str, import_key: str) -> bool:
    """Whether ``owner`` already has a conversation imported under ``import_key``."""
    query = sa.select(t.c.id).where(t.c.owner == owner, t.c.import_key == import_key)
    return conn.execute(query.limit(1)).first() is not None


def id_taken(conn: Connection, conversation_id: str) -> bool:
    """Whether any owner has a conversation with this id."""
    query = sa.select(t.c.id).where(t.c.id == conversation_id)
    return conn.execute(query).first() is not None


def insert_conversation(conn: Connection, values: dict[str, Any]) -> None:
    """Insert one conversation row with its counters already set (``values`` has every
    column but none is defaulted)."""
    conn.execute(t.insert().values(values))
