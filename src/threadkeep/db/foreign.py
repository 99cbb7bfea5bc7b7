"""Reading other programs' SQLite databases, for import: read-only, all rows at once.

The OpenAI Agents SDK ``SQLiteSession`` and LangChain ``SQLChatMessageHistory`` keep
their history in SQLite files of their own. Their queries live here, with the rest of
threadkeep's SQL: each file is opened read-only (``mode=ro``) through the process's one
SQLite library (``sqlite_driver.py``), checked for the tables its format needs, read
whole, and closed before the rows are returned, so no connection outlives the call. A
file that is missing, not SQLite, or lacks the tables is an ``InvalidInput`` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from threadkeep.db.sqlite_driver import sqlite_module
from threadkeep.errors import InvalidInput

__all__ = ["LANGCHAIN_TABLE", "Row", "agents_session_rows", "langchain_message_rows"]

Row = tuple[Any, ...]

LANGCHAIN_TABLE = "message_store"


def _read(path: Path, what: str, tables: Sequence[str], queries: Sequence[str]) -> list[list[Row]]:
    """The rows of each query, after checking that ``tables`` exist in the file."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    module = sqlite_module().module
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        with closing(module.connect(uri, uri=True)) as conn:
            present = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            missing = sorted(set(tables) - present)
            if missing:
                raise InvalidInput(f"{path.name}: not {what} (no {', '.join(missing)} table)")
            return [list(conn.execute(query).fetchall()) for query in queries]
    except module.DatabaseError as exc:
        raise InvalidInput(f"{path.name}: not a readable SQLite database ({exc})") from exc


def agents_session_rows(path: Path) -> tuple[list[Row], list[Row]]:
    """``(session_id, created_at, updated_at)`` and ``(id, session_id, message_data,
    created_at)`` rows of an Agents SDK session database, in creation order."""
    sessions, messages = _read(
        path,
        "an Agents SDK session database",
        ("agent_sessions", "agent_messages"),
        (
            "SELECT session_id, created_at, updated_at FROM agent_sessions"
            " ORDER BY created_at, rowid",
            "SELECT id, session_id, message_data, created_at FROM agent_messages ORDER BY id",
        ),
    )
    return sessions, messages


def langchain_message_rows(path: Path) -> list[Row]:
    """``(id, session_id, message)`` rows of a LangChain chat history database, by id."""
    (rows,) = _read(
        path,
        "a LangChain chat history database",
        (LANGCHAIN_TABLE,),
        (f"SELECT id, session_id, message FROM {LANGCHAIN_TABLE} ORDER BY id",),  # noqa: S608
    )
    return rows
