"""Opening a database: URL handling, SQLite pragmas and locking, file modes, errors.

:class:`Database` wraps one SQLAlchemy engine and hands out connections inside a
transaction: :meth:`Database.write` for a write, :meth:`Database.read` for a
consistent read, and :meth:`Database.write_grouped` for appends, which on SQLite with
``group_commit`` share one transaction and one sync with the appends queued beside
them (``group_commit.py``); :meth:`Database.write_grouped_async` is the same for a
coroutine, which there waits for the commit without taking a thread of its own.

SQLite specifics, and why:

* The DB-API connection runs in autocommit mode and SQLAlchemy's ``begin`` event emits
  the ``BEGIN`` itself, so a write transaction starts with ``BEGIN IMMEDIATE``: the
  write lock is taken up front, and several writers (threads or processes) queue on the
  busy timeout instead of failing with "database is locked" when a read transaction
  tries to upgrade. Reads use a plain deferred ``BEGIN`` (a WAL snapshot).
* ``journal_mode=WAL``, ``foreign_keys=ON``, ``busy_timeout``, and
  ``synchronous=FULL`` by default so an acknowledged append survives power loss.
* New database files are created 0600 in a 0700 directory before SQLite touches them;
  SQLite gives its ``-wal`` and ``-shm`` files the database file's mode.
* On a SQLite without the WAL-reset fix (see ``sqlite_driver.py``) the engine keeps a
  single connection and takes ``locking_mode=EXCLUSIVE``: another process opening the
  file gets a clear ``StoreUnavailable`` instead of a chance of corruption.

Every driver error that escapes a ``read``/``write`` block is translated once, here, into
``StoreUnavailable`` naming the database (a missing directory, a file that is not a
database, a server that does not answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import QueuePool

from threadkeep.db.column_types import load_json
from threadkeep.db.group_commit import GroupCommit, GroupCommitStats
from threadkeep.db.prepared import Queryable, SQLiteReader
from threadkeep.db.sqlite_driver import SqliteLibrary, sqlite_module
from threadkeep.errors import InvalidInput, StoreUnavailable, ThreadkeepError
from threadkeep.redact import redact_text
from threadkeep.settings import Settings

__all__ = ["Connection", "Database", "GroupCommitStats", "normalize_url", "open_database"]

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

_WRITE = "threadkeep_write"
_SINGLE = "threadkeep_single_statement"


def normalize_url(url: str) -> str:
    """Turn a plain filesystem path into a ``sqlite:///`` URL; check other URLs."""
    if "://" not in url:
        return "sqlite:///" + str(Path(url).expanduser().resolve())
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        # The URL may hold a password: mask it in what the error repeats.
        shown, _ = redact_text(f"database URL {url!r} is not a valid URL: {error}")
        raise InvalidInput(shown) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise InvalidInput(
                "in-memory SQLite is not supported (every connection would see another "
                "database); give a file path, e.g. a temporary directory's test.db"
            )
        return str(
            parsed.set(
                drivername="sqlite", database=str(Path(parsed.database).expanduser().resolve())
            )
        )
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed.render_as_string(hide_password=False)
    raise InvalidInput(
        f"database URL {parsed.render_as_string()!r}: threadkeep runs on SQLite "
        "(sqlite:///path or a file path) or PostgreSQL (postgresql+psycopg://...)"
    )


def _create_private_file(path: Path) -> None:
    """Create ``path`` readable by the owner only, and missing directories 0700.

    Safe when several processes open a new database at once: whoever loses the race to
    create a directory or the file simply uses what the winner made.
    """
    if path.exists():
        return
    missing = []
    directory = path.parent
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:
                continue
            os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as error:
        raise StoreUnavailable(f"cannot create the database file {path}: {error}") from None
    os.close(fd)
    os.chmod(path, 0o600)


def _enable_wal(cursor: Any, busy_timeout_ms: int, module: Any) -> None:
    """Switch the file to WAL, waiting out other processes doing the same.

    Changing the journal mode needs an exclusive lock, and SQLite reports "database is
    locked" at once instead of calling the busy handler; when several processes open a
    new file together, all but one would fail. So retry until the busy timeout.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.001
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except module.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


@dataclass(eq=False)
class Database:
    """One engine, its dialect, and the transaction helpers the store uses."""

    engine: Engine
    url: str
    sqlite_path: Path | None
    sqlite: SqliteLibrary | None
    group_commit: bool = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def describe(self) -> str:
        """Where the data is, without a password."""
        if self.sqlite_path is not None:
            return str(self.sqlite_path)
        return make_url(self.url).render_as_string(hide_password=True)

    def __post_init__(self) -> None:
        # Option-carrying views of the engine, made once (not per call): connections
        # from them tell the ``begin`` handler which BEGIN to send.
        self._writer = self.engine.execution_options(**{_WRITE: True})
        self._single = self.engine.execution_options(**{_SINGLE: True})
        self._held_lock = threading.Lock()
        self._held: Connection | None = None
        # The writer connection ``foreign_data_version`` last read (kept, so a new one
        # is never taken for it), and how many it has seen.
        self._versioned: Any = None
        self._versioned_count = 0
        # Idle pooled connections lent to single-statement reads (list pop/append are
        # atomic, so no lock): no SQLAlchemy Connection is built per read.
        self._readers: list[tuple[SQLiteReader, Any]] = []
        # SQLite only: PostgreSQL commits concurrent transactions together itself.
        self._group = (
            GroupCommit(self.write, self.translated)
            if self.group_commit and self.sqlite_path is not None
            else None
        )

    @property
    def safe_mode(self) -> bool:
        """SQLite without the WAL-reset fix: one connection, one process (see module doc)."""
        return self.sqlite is not None and not self.sqlite.has_wal_reset_fix

    @contextlib.contextmanager
    def _held_connection(self) -> Iterator[Connection]:
        """The one SQLite connection that writes, kept checked out, one user at a time.

        SQLite admits one writer at a time anyway; queueing writers of this process
        on a lock here (instead of on SQLite's busy handler, which sleeps and polls)
        keeps the order fair and skips a pool checkout and return per write.
        """
        with self._held_lock:
            if self._held is None or self._held.closed or self._held.invalidated:
                self._held = self._writer.connect()
            yield self._held

    def foreign_data_version(self) -> tuple[int, int]:
        """A value that changes when another process commits to this SQLite file, and
        stays the same when this ``Database`` writes.

        SQLite's ``PRAGMA data_version`` changes whenever a connection other than the
        one it is read on commits, never for that connection's own commits. Read on the
        held connection that every write of this ``Database`` goes through
        (:meth:`write`, group commit, the accounts), it moves only for other processes'
        commits. The first item counts the writer connections read so far: a new one
        (after :meth:`dispose` or a failure) counts from its own start, so it always
        compares as a change. Blocking; waits for a write in progress. SQLite only.
        """
        if self.sqlite_path is None:
            raise InvalidInput("data_version is SQLite's; PostgreSQL has LISTEN/NOTIFY")
        with self.translate_errors(), self._held_connection() as conn:
            raw = conn.connection.driver_connection
            if raw is not self._versioned:
                self._versioned = raw
                self._versioned_count += 1
            version = raw.execute("PRAGMA data_version").fetchone()[0]  # type: ignore[union-attr]
            return self._versioned_count, int(version)

    def write(self) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        if self.sqlite_path is None:
            return self._server_write()
        return _SQLiteWrite(self)

    def write_grouped(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in a write transaction that concurrent callers may share.

        With group commit (SQLite, ``group_commit`` on) calls that queue behind the
        writer run in one transaction, each in its own savepoint, and commit once (see
        ``group_commit.py``); otherwise this is ``with write() as conn: work(conn)``.
        ``work`` must not commit or roll back and raises only for its own failure;
        the call returns only after the transaction holding its work committed.
        """
        if self._group is not None:
            return self._group.run(work)
        with self.write() as conn:
            return work(conn)

    async def write_grouped_async(
        self, work: Callable[[Connection], T], then: Callable[[T], R]
    ) -> R:
        """``then(work(conn))`` for a coroutine: :meth:`write_grouped` plus the step
        after the commit, which runs even if the awaiting task is cancelled meanwhile
        (an append that was written still publishes its events).

        With group commit the append joins the SQLite writer's queue and the event loop
        awaits its commit (no worker thread: ``group_commit.py``); otherwise both steps
        run in a worker thread.
        """
        if self._group is not None:
            return await self._group.run_async(work, then)
        return await asyncio.to_thread(lambda: then(self.write_grouped(work)))

    @property
    def reads_are_local(self) -> bool:
        """Whether a read is a few microseconds against a local file that never waits
        for the writer (SQLite in WAL mode with the WAL-reset fix): cheaper to run on an
        event loop than to send to a worker thread. PostgreSQL's reads travel a socket,
        and SQLite's safe mode reads through the writer."""
        return self.sqlite_path is not None and not self.safe_mode

    def group_commit_stats(self) -> GroupCommitStats | None:
        """Transactions vs appends written by group commit so far; ``None`` when off."""
        return None if self._group is None else self._group.stats()

    @contextlib.contextmanager
    def _server_write(self) -> Iterator[Connection]:
        with self.translate_errors(), self._writer.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot, rolled back at the end."""
        if self.safe_mode:
            with self.write() as conn:
                yield conn
            return
        with self.translate_errors(), self.engine.connect() as conn, conn.begin() as txn:
            yield conn
            txn.rollback()

    @contextlib.contextmanager
    def query(self) -> Iterator[Queryable]:
        """A connection for one read statement, which is atomic on its own.

        On SQLite no ``BEGIN`` is sent (the statement runs in its own implicit
        transaction), which saves two round trips on the hot read paths (tail, list).
        """
        if self.safe_mode:
            with self.write() as conn:
                yield conn
            return
        if self.sqlite_path is None:
            with self.translate_errors(), self._single.connect() as conn:
                yield conn
            return
        try:
            reader = self._readers.pop()
        except IndexError:
            with self.translate_errors():
                fairy = self.engine.raw_connection()
            reader = (SQLiteReader(self.engine.dialect, fairy.driver_connection), fairy)
        healthy = False
        try:
            with self.translate_errors():
                yield reader[0]
            healthy = True
        finally:
            if healthy:
                self._readers.append(reader)
            else:
                reader[1].invalidate()

    @contextlib.contextmanager
    def driver_connection(self) -> Iterator[Any]:
        """A DB-API connection of this database (for SQLite's backup API)."""
        if self.safe_mode:
            with self._held_connection() as conn:
                yield conn.connection.driver_connection
            return
        raw = self.engine.raw_connection()
        try:
            yield raw.driver_connection
        finally:
            raw.close()

    @contextlib.contextmanager
    def translate_errors(self) -> Iterator[None]:
        """Turn driver errors into ``StoreUnavailable`` that names this database."""
        try:
            yield
        except Exception as error:
            self._raise_translated(error)

    def _raise_translated(self, error: BaseException) -> NoReturn:
        """Raise ``error`` as the ``StoreUnavailable`` it means, or as it is."""
        translated = self.translated(error)
        if translated is None:
            raise error
        raise translated from error

    def translated(self, error: BaseException) -> StoreUnavailable | None:
        """The ``StoreUnavailable`` a driver error becomes; ``None`` for any other error."""
        if isinstance(error, ThreadkeepError):
            return None
        if isinstance(error, exc.DBAPIError):
            return self.unavailable(error.orig if error.orig is not None else error)
        if self.sqlite is not None and isinstance(error, self.sqlite.module.Error):
            return self.unavailable(error)
        return None

    def unavailable(self, error: BaseException) -> StoreUnavailable:
        original = str(error).strip()
        where = self.describe()
        if "file is not a database" in original or "malformed" in original:
            hint = "the file is corrupt or not a threadkeep database; run `threadkeep doctor`"
        elif "locked" in original:
            hint = (
                "another process holds the lock; on a SQLite without the WAL-reset fix only "
                "one process may open the database (pip install pysqlite3)"
                if self.sqlite is not None and not self.sqlite.has_wal_reset_fix
                else "another writer held the lock longer than the busy timeout"
            )
        elif "unable to open" in original:
            hint = "the file or its directory is missing or not writable"
        else:
            hint = "the database cannot be used"
        return StoreUnavailable(f"database {where}: {hint} ({original})")

    def dispose(self) -> None:
        """Close every connection (the held writer too); the next use reconnects."""
        if self._group is not None:
            self._group.close()
        with self._held_lock:
            if self._held is not None:
                self._held.close()
                self._held = None
        while self._readers:
            self._readers.pop()[1].close()
        self.engine.dispose()


class _SQLiteWrite:
    """A SQLite write transaction on the held connection (:meth:`Database.write`).

    The transaction is run on the driver: the hot writes (append) use only prepared
    statements, so SQLAlchemy's transaction bookkeeping would be pure overhead. If a
    Core statement runs inside, SQLAlchemy autobegins on top (the ``begin`` handler sees
    the open transaction) and commits it with ours. A class rather than a generator
    context manager: an append is a few tens of microseconds of Python, and nested
    generator context managers were a measurable share of it.
    """

    __slots__ = ("_conn", "_db")

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Connection | None = None

    def __enter__(self) -> Connection:
        db = self._db
        db._held_lock.acquire()
        try:
            conn = db._held
            if conn is None or conn.closed or conn.invalidated:
                conn = db._held = db._writer.connect()
            conn.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
        except BaseException as error:
            db._held_lock.release()
            db._raise_translated(error)
        self._conn = conn
        return conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        db, conn = self._db, self._conn
        if conn is None:  # __enter__ failed (and released the lock)
            return
        self._conn = None
        try:
            raw = conn.connection.driver_connection
            if exc_value is None:
                if conn.in_transaction():
                    conn.commit()
                else:
                    # A statement, not ``commit()``: the driver's method prepares the
                    # COMMIT anew each time, the statement cache keeps it prepared.
                    raw.execute("COMMIT")  # type: ignore[union-attr]
            elif conn.in_transaction():
                conn.rollback()
            elif raw.in_transaction:  # type: ignore[union-attr]
                raw.rollback()  # type: ignore[union-attr]
        except BaseException as error:
            _abandon(conn)
            db._raise_translated(error)
        finally:
            db._held_lock.release()
        if exc_value is not None:
            translated = db.translated(exc_value)
            if translated is not None:
                raise translated from exc_value


def _abandon(conn: Connection) -> None:
    """After a failed commit or rollback: leave no transaction open on the held
    connection (the next write would fail to begin), or drop the connection.

    SQLAlchemy keeps a transaction whose commit failed as "inactive" and refuses every
    statement until it is rolled back, so that is rolled back too.
    """
    try:
        if conn.get_transaction() is not None:
            conn.rollback()
        raw = conn.connection.driver_connection
        if raw.in_transaction:  # type: ignore[union-attr]
            raw.rollback()  # type: ignore[union-attr]
    except Exception:
        conn.invalidate()


def _sqlite_engine(url: str, path: Path, settings: Settings) -> Database:
    library = sqlite_module(settings.sqlite_driver)
    safe_mode = not library.has_wal_reset_fix
    _create_private_file(path)
    engine = sa.create_engine(
        url,
        module=library.module,
        poolclass=QueuePool,
        # Statement parameters are message content: never in an error's text or a log.
        hide_parameters=True,
        pool_size=1 if safe_mode else settings.pool_size,
        # Unbounded overflow: SQLite connections are file handles, and readers stay
        # checked out between reads (see Database.query).
        max_overflow=0 if safe_mode else -1,
        pool_timeout=max(30.0, settings.sqlite_busy_timeout_ms / 1000),
        connect_args={
            "check_same_thread": False,
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
            "isolation_level": None,
        },
    )
    synchronous = settings.sqlite_synchronous
    busy = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            if safe_mode:
                cursor.execute("PRAGMA locking_mode=EXCLUSIVE")
            cursor.execute(f"PRAGMA busy_timeout={int(busy)}")
            _enable_wal(cursor, busy, library.module)
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            if safe_mode:
                # Take the exclusive lock now, so a second process fails at open time.
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("COMMIT")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(_SINGLE, False):
            return
        # Straight to the driver: an SQLAlchemy execute here would cost more than BEGIN.
        raw = conn.connection.driver_connection
        if raw.in_transaction:  # type: ignore[union-attr]
            return  # Database.write began it already
        raw.execute("BEGIN IMMEDIATE" if options.get(_WRITE, False) else "BEGIN")  # type: ignore[union-attr]

    return Database(
        engine=engine,
        url=url,
        sqlite_path=path,
        sqlite=library,
        group_commit=settings.group_commit,
    )


def _postgres_engine(url: str, settings: Settings) -> Database:
    try:
        engine = sa.create_engine(
            url,
            pool_size=settings.pool_size,
            max_overflow=10,
            hide_parameters=True,  # parameters are message content (see the SQLite engine)
            pool_pre_ping=True,
            # A stored JSON value Python cannot read becomes a CorruptValue (skipped by
            # the row mappers) instead of failing the whole read (SPEC S2.7).
            json_deserializer=load_json,
        )
    except ModuleNotFoundError as error:
        raise InvalidInput(
            f"PostgreSQL needs its driver ({error.name} is missing): "
            "pip install 'threadkeep[postgres]'"
        ) from None
    return Database(engine=engine, url=url, sqlite_path=None, sqlite=None)


def open_database(url: str, settings: Settings) -> Database:
    """Create the engine for ``url`` (a URL or a SQLite file path); does not migrate."""
    normalized = normalize_url(url)
    parsed = make_url(normalized)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(normalized, Path(str(parsed.database)), settings)
    return _postgres_engine(normalized, settings)
