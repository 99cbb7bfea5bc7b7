"""The SQL behind ``threadkeep doctor`` (SPEC S2.7): facts, storage, search index.

Each function takes the connection first and reads what the database itself says, not
what the settings ask for:

* :func:`read_facts` — the engine and library, the settings in force read back from a
  live connection (``PRAGMA`` on SQLite, ``SHOW`` on PostgreSQL), the schema revision and
  the counts of threadkeep's rows.
* :func:`storage_problems` — SQLite's ``PRAGMA integrity_check``, which reads every page,
  index entry and (since 3.44) built-in virtual table; ``quick_check`` would skip the
  index contents. PostgreSQL guards its own pages; when the ``amcheck`` extension is
  installed its ``bt_index_check`` verifies threadkeep's B-tree indexes.
* :func:`search_index_problems` / :func:`rebuild_search_index` — the full-text index of
  revision 0002. On SQLite the FTS5 tables keep *external content*, so FTS5's plain
  ``integrity-check`` only checks the index against itself (a message missing from the
  index passes it); with rank 1 it compares the index with the content table, which is
  what matters here. The triggers that keep the index in sync must exist, and
  ``conversation_titles`` must mirror ``conversations``. On PostgreSQL the tsvectors
  are generated columns (they cannot drift); their GIN indexes must be present and valid.

Damaged values (JSON that does not read, fields outside their sets) are found and
quarantined by ``quarantine.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError as AlembicError
from sqlalchemy import exc
from sqlalchemy.engine import Connection

from threadkeep.db.engine import Database
from threadkeep.db.migrate import alembic_config

__all__ = [
    "DatabaseFacts",
    "StorageReport",
    "read_facts",
    "rebuild_search_index",
    "search_index_problems",
    "storage_problems",
]

# What revision 0002 builds (kept by the lead in its module docstring); named here so a
# missing piece is reported by name. The DDL itself lives only in the revision.
_SQLITE_FTS_TABLES = ("messages_fts", "conversation_titles", "conversation_titles_fts")
_SQLITE_FTS_TRIGGERS = (
    "messages_fts_insert",
    "messages_fts_delete",
    "messages_fts_update",
    "conversation_titles_insert",
    "conversation_titles_update",
    "conversation_titles_delete",
    "conversation_titles_fts_insert",
    "conversation_titles_fts_delete",
    "conversation_titles_fts_update",
)
_POSTGRES_SEARCH_INDEXES = {
    "ix_messages_search_vector": ("messages", "search_vector"),
    "ix_conversations_title_vector": ("conversations", "title_vector"),
}
_THREADKEEP_TABLES = ("conversations", "messages", "runs", "audit_log", "quarantine")
_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
_MAX_STORAGE_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    """What the database is and how it is set up, as read back from a live connection.

    ``settings`` maps each setting that matters to its value in force: on SQLite
    ``journal_mode``, ``synchronous``, ``foreign_keys``, ``busy_timeout`` (ms); on
    PostgreSQL ``fsync``, ``synchronous_commit``, ``full_page_writes``,
    ``data_checksums``. ``reclaimable_bytes`` is SQLite's free pages (``VACUUM`` returns
    them); the size itself is ``ConversationStore.database_size()``.
    ``schema_revision_known`` is false for a revision this version of threadkeep does
    not ship (a newer threadkeep wrote it). ``row_counts`` counts conversations,
    messages and runs; ``quarantined_values`` the values kept in ``quarantine``.
    """

    dialect: str
    location: str
    library: str
    version: str
    wal_reset_fix: bool | None
    settings: dict[str, str]
    reclaimable_bytes: int | None
    schema_revision: str | None
    schema_revision_known: bool
    row_counts: dict[str, int]
    quarantined_values: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "location": self.location,
            "library": self.library,
            "version": self.version,
            "wal_reset_fix": self.wal_reset_fix,
            "settings": dict(self.settings),
            "reclaimable_bytes": self.reclaimable_bytes,
            "schema_revision": self.schema_revision,
            "schema_revision_known": self.schema_revision_known,
            "row_counts": dict(self.row_counts),
            "quarantined_values": self.quarantined_values,
        }


@dataclass(frozen=True, slots=True)
class StorageReport:
    """The outcome of the engine's own storage check.

    ``method`` says what ran (``PRAGMA integrity_check``, ``amcheck``) or is ``None``
    when nothing could (PostgreSQL without amcheck); ``problems`` is empty when the
    check passed; ``note`` says anything else worth knowing (checksums, permissions).
    """

    method: str | None
    problems: list[str] = field(default_factory=list)
    note: str = ""


def _scalar(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> Any:
    return conn.execute(sa.text(sql), params or {}).scalar()


def _has_table(conn: Connection, name: str) -> bool:
    if conn.dialect.name == "sqlite":
        found = _scalar(
            conn,
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = :n",
            {"n": name},
        )
        return bool(found)
    return _scalar(conn, "SELECT to_regclass(:n)", {"n": name}) is not None


def _known(revision: str | None) -> bool:
    if revision is None:
        return True
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except AlembicError:
        return False


def _common(conn: Connection) -> dict[str, Any]:
    revision = MigrationContext.configure(conn).get_current_revision()
    counts = {
        table: int(_scalar(conn, f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed names
        for table in ("conversations", "messages", "runs", "quarantine")
        if _has_table(conn, table)
    }
    return {
        "schema_revision": revision,
        "schema_revision_known": _known(revision),
        "quarantined_values": counts.pop("quarantine", 0),
        "row_counts": counts,
    }


def read_facts(conn: Connection, database: Database) -> DatabaseFacts:
    """The facts of the database behind ``conn`` (a connection of ``database``)."""
    if database.sqlite is not None and database.sqlite_path is not None:
        return _sqlite_facts(conn, database)
    return _postgres_facts(conn, database)


def _sqlite_facts(conn: Connection, database: Database) -> DatabaseFacts:
    assert database.sqlite is not None and database.sqlite_path is not None  # noqa: S101
    synchronous = int(_scalar(conn, "PRAGMA synchronous"))
    settings = {
        "journal_mode": str(_scalar(conn, "PRAGMA journal_mode")).lower(),
        "synchronous": _SYNCHRONOUS.get(synchronous, str(synchronous)),
        "foreign_keys": "on" if _scalar(conn, "PRAGMA foreign_keys") else "off",
        "busy_timeout": str(_scalar(conn, "PRAGMA busy_timeout")),
    }
    page_size = int(_scalar(conn, "PRAGMA page_size"))
    free = int(_scalar(conn, "PRAGMA freelist_count"))
    return DatabaseFacts(
        dialect="sqlite",
        location=database.describe(),
        library=database.sqlite.describe(),
        version=database.sqlite.version,
        wal_reset_fix=database.sqlite.has_wal_reset_fix,
        settings=settings,
        reclaimable_bytes=free * page_size,
        **_common(conn),
    )


def _postgres_facts(conn: Connection, database: Database) -> DatabaseFacts:
    version = str(_scalar(conn, "SHOW server_version"))
    settings = {
        name: str(_scalar(conn, f"SHOW {name}"))
        for name in ("fsync", "synchronous_commit", "full_page_writes", "data_checksums")
    }
    dbapi = conn.dialect.loaded_dbapi
    driver = f"{conn.dialect.driver} {getattr(dbapi, '__version__', '')}".strip()
    return DatabaseFacts(
        dialect="postgresql",
        location=database.describe(),
        library=f"PostgreSQL {version} via {driver}",
        version=version,
        wal_reset_fix=None,
        settings=settings,
        reclaimable_bytes=None,
        **_common(conn),
    )


def storage_problems(conn: Connection) -> StorageReport:
    """Run the engine's own check of its storage (read-only)."""
    if conn.dialect.name == "sqlite":
        _refresh_fts5(conn)
        rows = conn.exec_driver_sql(f"PRAGMA integrity_check({_MAX_STORAGE_PROBLEMS})").all()
        problems = [str(row[0]) for row in rows if str(row[0]) != "ok"]
        return StorageReport(method="PRAGMA integrity_check", problems=problems)
    return _amcheck(conn)


def _refresh_fts5(conn: Connection) -> None:
    """Make this connection's FTS5 tables reload their index structure.

    FTS5 caches an index's structure per connection. Measured on SQLite 3.53.4: after
    another connection rebuilds or optimizes the index, ``PRAGMA integrity_check`` on a
    connection that had cached it reports "fts5: corruption found reading blob" although
    the file is sound (a fresh connection says ok); any MATCH query refreshes the cache
    first. Pooled connections make that the normal case, so query each table once.
    """
    tables = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' "
        "AND lower(sql) LIKE 'create virtual table%using fts5%'"
    ).scalars()
    for table in list(tables):
        # Names from sqlite_master; a token no text holds, so nothing is read.
        conn.exec_driver_sql(
            f'SELECT rowid FROM "{table}" WHERE "{table}" MATCH \'"tkdoctorprobe"\' LIMIT 1'  # noqa: S608
        ).all()


def _amcheck(conn: Connection) -> StorageReport:
    checksums = str(_scalar(conn, "SHOW data_checksums"))
    note = f"data checksums {checksums}"
    schema = _scalar(
        conn,
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'amcheck'",
    )
    if schema is None:
        return StorageReport(method=None, note=note)
    indexes = conn.execute(
        sa.text(
            "SELECT c.oid, c.relname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_am am ON am.oid = c.relam "
            "WHERE am.amname = 'btree' AND t.relnamespace = current_schema()::regnamespace "
            "AND t.relname IN :tables ORDER BY c.relname"
        ).bindparams(sa.bindparam("tables", expanding=True)),
        {"tables": list(_THREADKEEP_TABLES)},
    ).all()
    check = sa.text(f'SELECT "{schema}".bt_index_check(CAST(:oid AS oid))')
    problems: list[str] = []
    for oid, name in indexes:
        try:
            with conn.begin_nested():
                conn.execute(check, {"oid": oid})
        except exc.DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == "42501":  # insufficient_privilege
                return StorageReport(
                    method=None, note=f"{note}; amcheck is installed but this user may not run it"
                )
            problems.append(f"index {name}: {str(error.orig).strip().splitlines()[0]}")
    return StorageReport(
        method="amcheck", problems=problems, note=f"{note}; {len(indexes)} B-tree indexes checked"
    )


def search_index_problems(conn: Connection) -> list[str]:
    """What is wrong with the full-text index; empty when it matches the data.

    On SQLite this takes the write lock (FTS5's check is an ``INSERT`` command), so run
    it in a write transaction.
    """
    if conn.dialect.name == "sqlite":
        return _sqlite_search_problems(conn)
    return _postgres_search_problems(conn)


def _fts_check(conn: Connection, table: str) -> str | None:
    """FTS5's integrity-check with rank 1: the index against its content table."""
    try:
        # Names from this module's constants, never from input.
        conn.exec_driver_sql(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")  # noqa: S608
    except exc.DBAPIError as error:
        detail = str(error.orig).strip()
        if "malformed" in detail:  # how FTS5 says "index and content disagree"
            return f"{table} does not match the rows it indexes"
        return f"{table} could not be checked against the rows it indexes ({detail})"
    return None


def _sqlite_search_problems(conn: Connection) -> list[str]:
    present = {
        row[0]
        for row in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"
        )
    }
    missing_tables = [name for name in _SQLITE_FTS_TABLES if name not in present]
    if missing_tables:
        return [f"search table {name} is missing" for name in missing_tables]
    problems = [
        f"trigger {name} is missing: writes no longer update the search index"
        for name in _SQLITE_FTS_TRIGGERS
        if name not in present
    ]
    messages = int(_scalar(conn, "SELECT count(*) FROM messages"))
    indexed = int(_scalar(conn, "SELECT count(*) FROM messages_fts_docsize"))
    if indexed != messages:
        problems.append(f"{messages} messages but {indexed} in the search index")
    titles = int(
        _scalar(
            conn,
            "SELECT (SELECT count(*) FROM conversations c WHERE NOT EXISTS ("
            "  SELECT 1 FROM conversation_titles t"
            "  WHERE t.conversation_id = c.id AND t.title IS c.title))"
            " + (SELECT count(*) FROM conversation_titles t WHERE NOT EXISTS ("
            "  SELECT 1 FROM conversations c WHERE c.id = t.conversation_id))",
        )
    )
    if titles:
        differ = "title differs" if titles == 1 else "titles differ"
        problems.append(f"{titles} conversation {differ} from the title search table")
    for table in ("messages_fts", "conversation_titles_fts"):
        problem = _fts_check(conn, table)
        if problem is not None:
            problems.append(problem)
    return problems


def _postgres_search_problems(conn: Connection) -> list[str]:
    problems: list[str] = []
    for index, (table, column) in _POSTGRES_SEARCH_INDEXES.items():
        has_column = _scalar(
            conn,
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = :t AND column_name = :c",
            {"t": table, "c": column},
        )
        if not has_column:
            problems.append(f"search column {table}.{column} is missing")
            continue
        state = conn.execute(
            sa.text(
                "SELECT i.indisvalid AND i.indisready FROM pg_index i "
                "WHERE i.indexrelid = to_regclass(:n)"
            ),
            {"n": index},
        ).first()
        if state is None:
            problems.append(f"search index {index} is missing")
        elif not state[0]:
            problems.append(f"search index {index} is not valid (an interrupted build?)")
    if not problems:
        # Generated columns cannot drift; a NULL vector means the column was tampered with.
        unindexed = _scalar(
            conn, "SELECT count(*) FROM messages WHERE search_vector IS NULL AND content <> ''"
        )
        if unindexed:
            problems.append(f"{unindexed} messages have no search vector")
    return problems


def rebuild_search_index(conn: Connection) -> list[str]:
    """Rebuild the full-text index from the data, in the caller's write transaction.

    Returns what was rebuilt. Missing tables, triggers or indexes are not recreated
    (their definitions live in the migration); :func:`search_index_problems` still
    reports them afterwards.
    """
    if conn.dialect.name != "sqlite":
        done = []
        for index in _POSTGRES_SEARCH_INDEXES:
            if _scalar(conn, "SELECT to_regclass(:n)", {"n": index}) is not None:
                conn.exec_driver_sql(f"REINDEX INDEX {index}")
                done.append(index)
        return done
    present = {
        row[0]
        for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if any(name not in present for name in _SQLITE_FTS_TABLES):
        return []
    # The titles table mirrors conversations (kept by triggers): put it right first.
    conn.exec_driver_sql(
        "DELETE FROM conversation_titles WHERE NOT EXISTS ("
        " SELECT 1 FROM conversations c WHERE c.id = conversation_titles.conversation_id)"
    )
    conn.exec_driver_sql(
        "INSERT INTO conversation_titles(conversation_id, title) "
        "SELECT c.id, c.title FROM conversations c WHERE NOT EXISTS ("
        " SELECT 1 FROM conversation_titles t WHERE t.conversation_id = c.id)"
    )
    conn.exec_driver_sql(
        "UPDATE conversation_titles SET title = ("
        " SELECT c.title FROM conversations c WHERE c.id = conversation_titles.conversation_id)"
        " WHERE title IS NOT ("
        " SELECT c.title FROM conversations c WHERE c.id = conversation_titles.conversation_id)"
    )
    for table in ("messages_fts", "conversation_titles_fts"):
        conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('rebuild')")  # noqa: S608
    return ["messages_fts", "conversation_titles_fts"]
