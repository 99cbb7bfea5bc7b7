"""Online backup and restore of a SQLite database, through SQLite's backup API.

The backup API copies a consistent snapshot page by page while other connections keep
reading and writing (it restarts the copy if the source changes underneath), and it
understands WAL, so a copy never misses committed data still in the ``-wal`` file —
unlike copying the file. Both ends are opened through the same SQLite library as the
store (``sqlite_driver.py``). Backup files are created 0600.

Restore copies a backup *into* the live database the same way, under the write lock,
so other connections see either the old or the restored data, never a torn file.
"""

from __future__ import annotations

import os
from pathlib import Path

from threadkeep.db.engine import Database
from threadkeep.errors import InvalidInput, StoreUnavailable

__all__ = ["backup_sqlite", "restore_sqlite"]


def _require_sqlite(db: Database) -> Path:
    if db.sqlite_path is None or db.sqlite is None:
        raise InvalidInput(
            "online backup and restore are for SQLite databases; back up PostgreSQL with "
            "pg_dump / pg_restore"
        )
    return db.sqlite_path


def _private_target(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def backup_sqlite(db: Database, target: str | os.PathLike[str]) -> Path:
    """Copy the live database to ``target`` (overwritten); return the path."""
    source_path = _require_sqlite(db)
    target_path = Path(target).expanduser().resolve()
    if target_path == source_path:
        raise InvalidInput(f"backup target {target_path} is the database itself")
    assert db.sqlite is not None  # noqa: S101 - narrowed by _require_sqlite
    _private_target(target_path)
    module = db.sqlite.module
    try:
        with db.driver_connection() as source:
            dest = module.connect(str(target_path))
            try:
                source.backup(dest)
            finally:
                dest.close()
    except module.Error as error:
        raise StoreUnavailable(
            f"backup of {source_path} to {target_path} failed: {error}"
        ) from None
    return target_path


def restore_sqlite(db: Database, source: str | os.PathLike[str]) -> None:
    """Replace the live database's content with the backup at ``source``."""
    target_path = _require_sqlite(db)
    source_path = Path(source).expanduser().resolve()
    if not source_path.is_file():
        raise InvalidInput(f"backup file {source_path} does not exist")
    assert db.sqlite is not None  # noqa: S101 - narrowed by _require_sqlite
    module = db.sqlite.module
    # Pooled connections may cache the old schema; start them afresh after the copy.
    db.engine.dispose()
    try:
        src = module.connect(f"file:{source_path}?mode=ro", uri=True)
        try:
            quick = src.execute("PRAGMA quick_check").fetchone()
            if quick is None or quick[0] != "ok":
                raise StoreUnavailable(f"backup file {source_path} fails SQLite's check: {quick}")
            dest = module.connect(str(target_path))
            try:
                src.backup(dest)
            finally:
                dest.close()
        finally:
            src.close()
    except module.Error as error:
        raise StoreUnavailable(
            f"restore of {target_path} from {source_path} failed: {error}"
        ) from None
    finally:
        db.engine.dispose()
