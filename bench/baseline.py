"""The raw-SQLite baseline: what the same work costs in plain DB-API calls.

It runs on the very SQLite library threadkeep runs on (``sqlite_module()``: pysqlite3's
bundled SQLite, or the standard library's as a fallback), never on an import of its own:
two SQLite copies in one process keep separate lock tables.

It gives the same guarantees threadkeep gives, with nothing else:

* WAL, ``foreign_keys=ON``, a busy timeout, and the ``synchronous`` level under test;
* one ``BEGIN IMMEDIATE`` transaction per append, which bumps the conversation's
  counter (``UPDATE ... RETURNING last_seq``, so seqs are allocated under the write
  lock), keeps its ``message_count``, ``updated_at`` and ``preview``, and inserts the
  message;
* a minimal indexed schema: messages unique on ``(conversation_id, seq)``, conversations
  indexed on ``updated_at``, and a full-text index on message content (an FTS5 table
  with external content, kept by an ``AFTER INSERT`` trigger in the same transaction —
  threadkeep keeps its search index in the write transaction too, so appends are
  compared like for like);
* tail = ``ORDER BY seq DESC LIMIT n``, reversed; list = the most recently updated
  conversations with their ``message_count`` and ``preview`` columns.

Conversation ids are UUID strings (as in any store of this kind); message rows key on
the rowid.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

from bench.systems import ListedConversation, Role, Synchronous

__all__ = [
    "PREVIEW_CHARS",
    "SCHEMA",
    "DbConnection",
    "RawSqliteBaseline",
    "connect",
    "sqlite_library",
]

#: Same length as threadkeep's default ``preview_chars``.
PREVIEW_CHARS = 120

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0,
    preview TEXT
);
CREATE INDEX IF NOT EXISTS ix_conversations_updated_at ON conversations (updated_at);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    content, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
END;
"""

_BUMP = (
    "UPDATE conversations SET last_seq = last_seq + ?, message_count = message_count + ?,"
    " updated_at = ?, preview = ? WHERE id = ? RETURNING last_seq"
)
_INSERT = (
    "INSERT INTO messages (conversation_id, seq, role, content, created_at) VALUES (?, ?, ?, ?, ?)"
)
_TAIL = (
    "SELECT seq, role, content, created_at FROM messages"
    " WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?"
)
_LIST = (
    "SELECT id, title, updated_at, message_count, preview FROM conversations"
    " ORDER BY updated_at DESC LIMIT ?"
)


class DbCursor(Protocol):
    """The part of a DB-API cursor the baseline uses."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class DbConnection(Protocol):
    """The part of a DB-API connection the baseline and the scale fixtures use."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> DbCursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> DbCursor: ...

    def executescript(self, sql: str, /) -> DbCursor: ...

    def close(self) -> None: ...


def sqlite_library() -> tuple[Any, str]:
    """threadkeep's DB-API module and a description (``SQLite 3.x via pysqlite3``)."""
    from threadkeep.db.sqlite_driver import sqlite_module

    library = sqlite_module()
    return library.module, f"SQLite {library.version} via {library.name}"


def connect(path: Path, synchronous: str) -> DbConnection:
    """A connection in autocommit mode (explicit transactions), WAL, at ``synchronous``."""
    module, _ = sqlite_library()
    conn = cast(DbConnection, module.connect(str(path), isolation_level=None, timeout=30.0))
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class RawSqliteBaseline:
    """The baseline as a :class:`bench.systems.System`."""

    supports_list = True
    tail_reads_everything = False

    def __init__(self, path: Path, synchronous: Synchronous) -> None:
        self._synchronous: Synchronous = synchronous
        self._conn = connect(path, synchronous)
        self._conn.executescript(SCHEMA)
        _, self._library = sqlite_library()

    def describe(self) -> str:
        return f"WAL, synchronous={self._synchronous} ({self._library})"

    def effective_synchronous(self) -> Synchronous:
        return self._synchronous

    async def new_conversation(self) -> str:
        key = str(uuid.uuid4())
        now = _now()
        self._conn.execute(
            "INSERT INTO conversations (id, created_at, updated_at) VALUES (?, ?, ?)",
            (key, now, now),
        )
        return key

    async def append(self, conversation: str, role: Role, content: str) -> None:
        conn = self._conn
        now = _now()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(_BUMP, (1, 1, now, content[:PREVIEW_CHARS], conversation)).fetchone()
            if row is None:
                raise LookupError(f"no conversation {conversation}")
            conn.execute(_INSERT, (conversation, row[0], role, content, now))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def append_batch(self, conversation: str, messages: Sequence[tuple[Role, str]]) -> None:
        conn = self._conn
        now = _now()
        count = len(messages)
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                _BUMP, (count, count, now, messages[-1][1][:PREVIEW_CHARS], conversation)
            ).fetchone()
            if row is None:
                raise LookupError(f"no conversation {conversation}")
            first = int(row[0]) - count + 1
            conn.executemany(
                _INSERT,
                [
                    (conversation, first + offset, role, content, now)
                    for offset, (role, content) in enumerate(messages)
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def tail(self, conversation: str, count: int) -> list[str]:
        rows = self._conn.execute(_TAIL, (conversation, count)).fetchall()
        rows.reverse()
        return [row[2] for row in rows]

    async def list_recent(self, count: int) -> list[ListedConversation]:
        rows = self._conn.execute(_LIST, (count,)).fetchall()
        return [(row[3], row[4]) for row in rows]

    def close(self) -> None:
        self._conn.close()
