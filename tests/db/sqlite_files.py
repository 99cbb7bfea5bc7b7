"""Looking inside SQLite files the way an operator would, for assertions.

Every connection goes through the store's own SQLite library
(``sqlite_driver.sqlite_module``), never the standard library's ``sqlite3``: two SQLite
copies in one process keep separate lock tables and can corrupt a shared file.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from threadkeep.db.sqlite_driver import sqlite_module

__all__ = ["conversation_titles", "integrity", "raw_sqlite", "revision_of", "table_names"]


@contextlib.contextmanager
def raw_sqlite(path: Path, *, create: bool = False) -> Iterator[Any]:
    """A plain DB-API connection to ``path``, which must exist unless ``create``."""
    assert create or path.is_file(), f"{path} does not exist"
    conn = sqlite_module().module.connect(str(path))
    try:
        yield conn
    finally:
        conn.close()


def integrity(path: Path) -> str:
    """SQLite's ``PRAGMA integrity_check`` verdict ("ok" when sound)."""
    with raw_sqlite(path) as conn:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(row[0]) for row in rows)


def table_names(path: Path) -> set[str]:
    with raw_sqlite(path) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    return {str(row[0]) for row in rows}


def revision_of(path: Path) -> str | None:
    """The Alembic revision stamped in the file (``None`` when unstamped)."""
    with raw_sqlite(path) as conn:
        if "alembic_version" not in {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master").fetchall()
        }:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def conversation_titles(path: Path) -> list[str | None]:
    with raw_sqlite(path) as conn:
        rows = conn.execute("SELECT title FROM conversations ORDER BY title").fetchall()
    return [row[0] for row in rows]
