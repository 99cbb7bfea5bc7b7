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
import tempfile
from pathlib import Path
from typing import Any

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


def backup_sqlite(db: Database, target: str | os.PathLike[str]) -> Path:
    """Copy the live database to ``target`` (replaced whole); return the path.

    The copy is written to a temporary file beside ``target`` and renamed over it only
    once complete, so a failed backup never leaves a truncated file where a good one
    was expected. The copy is switched to rollback-journal mode: one self-contained
    file, with no ``-wal``/``-shm`` companions to lose when it is moved.
    """
    source_path = _require_sqlite(db)
    target_path = Path(target).expanduser().resolve()
    if target_path == source_path:
        raise InvalidInput(f"backup target {target_path} is the database itself")
    module = _module(db)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target_path.name}.", dir=target_path.parent)
    os.close(fd)
    os.chmod(temporary, 0o600)
    try:
        with db.driver_connection() as source:
            dest = module.connect(temporary)
            try:
                source.backup(dest)
                dest.execute("PRAGMA journal_mode=DELETE")
            finally:
                dest.close()
        os.replace(temporary, target_path)
    except module.Error as error:
        raise StoreUnavailable(
            f"backup of {source_path} to {target_path} failed: {error}"
        ) from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target_path


def _module(db: Database) -> Any:
    if db.sqlite is None:  # pragma: no cover - _require_sqlite ran first
        raise InvalidInput("not a SQLite database")
    return db.sqlite.module


def _check_backup(src: Any, source_path: Path) -> None:
    """Refuse anything but a sound threadkeep database: restoring it replaces everything."""
    quick = src.execute("PRAGMA quick_check").fetchone()
    if quick is None or quick[0] != "ok":
        raise StoreUnavailable(f"backup file {source_path} fails SQLite's check: {quick}")
    tables = {row[0] for row in src.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not {"alembic_version", "conversations", "messages"} <= tables:
        raise InvalidInput(
            f"{source_path} is not a threadkeep database (no threadkeep tables); "
            "nothing was restored"
        )


def restore_sqlite(db: Database, source: str | os.PathLike[str]) -> None:
    """Replace the live database's content with the backup at ``source``.

    The backup is checked first (SQLite's quick check, threadkeep's tables); an empty
    file, a damaged one or another program's database is refused and the live data is
    left untouched.
    """
    target_path = _require_sqlite(db)
    source_path = Path(source).expanduser().resolve()
    if not source_path.is_file():
        raise InvalidInput(f"backup file {source_path} does not exist")
    if source_path == target_path:
        raise InvalidInput(f"{source_path} is the live database itself")
    module = _module(db)
    try:
        src = module.connect(f"file:{source_path}?mode=ro", uri=True)
    except module.Error as error:
        raise StoreUnavailable(f"cannot open backup file {source_path}: {error}") from None
    try:
        try:
            _check_backup(src, source_path)
        except module.Error as error:
            raise StoreUnavailable(
                f"backup file {source_path} is not a SQLite database: {error}"
            ) from None
        # Close every connection of ours (the held writer too) so none keeps stale pages.
        db.dispose()
        dest = module.connect(str(target_path))
        try:
            src.backup(dest)
            dest.execute("PRAGMA journal_mode=WAL")
        except module.Error as error:
            raise StoreUnavailable(
                f"restore of {target_path} from {source_path} failed: {error}"
            ) from None
        finally:
            dest.close()
    finally:
        src.close()
        db.dispose()
