"""Which SQLite library threadkeep runs on, chosen once per process.

SQLite 3.7.0-3.51.2 can corrupt a WAL database when two connections (threads or
processes) write or checkpoint at the same moment (the WAL-reset bug, fixed in 3.51.3).
Python's own ``sqlite3`` often links an affected version, so threadkeep prefers the
``pysqlite3`` package, a drop-in DB-API module bundling a fixed SQLite with FTS5.

The choice is made once per process and every SQLite file threadkeep opens — the store,
backups, the benchmark's raw baseline — goes through the same module: two SQLite copies
in one process keep separate POSIX lock tables, and a file opened through both can lose
its locks (and its data). :func:`sqlite_module` is the only way in.

On an affected SQLite the engine falls back to a safe mode (one connection per process
with an exclusive lock on the file, see ``engine.py``), so a second process sharing the
database is refused with a clear error instead of risking corruption.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from types import ModuleType

from threadkeep.errors import InvalidInput

__all__ = ["FIXED_VERSION", "SqliteLibrary", "sqlite_module"]

log = logging.getLogger(__name__)

FIXED_VERSION = (3, 51, 3)

_lock = threading.Lock()
_chosen: SqliteLibrary | None = None


@dataclass(frozen=True, slots=True)
class SqliteLibrary:
    """The DB-API module in use and the SQLite version it links."""

    module: ModuleType
    name: str
    version: str

    @property
    def version_info(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.version.split("."))

    @property
    def has_wal_reset_fix(self) -> bool:
        return self.version_info >= FIXED_VERSION

    def describe(self) -> str:
        fixed = (
            "includes the WAL-reset fix"
            if self.has_wal_reset_fix
            else (
                "AFFECTED by the WAL-reset bug: single-process safe mode; "
                "pip install pysqlite3 to fix"
            )
        )
        return f"SQLite {self.version} via {self.name} ({fixed})"


def _load(name: str) -> SqliteLibrary:
    module = importlib.import_module("pysqlite3.dbapi2" if name == "pysqlite3" else "sqlite3")
    return SqliteLibrary(module=module, name=name, version=str(module.sqlite_version))


def sqlite_module(preference: str = "auto") -> SqliteLibrary:
    """Return the process's SQLite library, choosing it on first call.

    ``preference`` is the ``sqlite_driver`` setting. Once chosen, asking for another
    library in the same process raises ``InvalidInput``: mixing them is what corrupts.
    """
    global _chosen
    with _lock:
        if _chosen is None:
            if preference == "sqlite3":
                _chosen = _load("sqlite3")
            else:
                try:
                    _chosen = _load("pysqlite3")
                except ImportError:
                    if preference == "pysqlite3":
                        raise InvalidInput(
                            "sqlite_driver is 'pysqlite3' but it is not installed: "
                            "pip install pysqlite3"
                        ) from None
                    _chosen = _load("sqlite3")
            if not _chosen.has_wal_reset_fix:
                log.warning("threadkeep: %s", _chosen.describe())
        elif preference not in ("auto", _chosen.name):
            raise InvalidInput(
                f"this process already uses SQLite via {_chosen.name}; it cannot also open "
                f"databases via {preference} (two SQLite copies in one process break file "
                "locking). Use one sqlite_driver setting per process."
            )
        return _chosen
