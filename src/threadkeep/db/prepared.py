"""Prepared statements for the hot paths (append, tail, list) on SQLite.

A Core statement executed through SQLAlchemy costs tens of microseconds of Python per
call on top of SQLite's own few microseconds (execution context, events, type
processors per value): most of an append or a tail. :class:`Prepared` keeps the query
written once in Core, against the one schema, but on SQLite compiles it once and runs
it on the DB-API cursor of the *same* connection, inside the same transaction, with
parameters converted by :func:`sqlite_param` and rows left raw for the fast mappers in
``rows.py``. On PostgreSQL it is an ordinary ``conn.execute`` (the server round trip
dominates there, and SQLAlchemy's psycopg type handling is worth keeping).

Driver errors from the raw path are wrapped into SQLAlchemy's ``DBAPIError`` so that
``Database.translate_errors`` and ``IntegrityError`` handling see one kind of error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from threadkeep.db.column_types import dumps, sqlite_datetime

__all__ = ["Prepared", "Queryable", "SQLiteReader", "is_raw"]


@dataclass(eq=False)
class SQLiteReader:
    """A pooled SQLite DB-API connection lent out for one read statement.

    ``Database.query`` keeps a few of these checked out and hands them to the hot
    single-statement reads (tail, page, listing, get) without building an SQLAlchemy
    ``Connection`` around them each time.
    """

    dialect: Dialect
    driver: Any


Queryable = Connection | SQLiteReader


def is_raw(conn: Queryable) -> bool:
    """Whether :class:`Prepared` returns raw DB-API rows on this connection (SQLite)."""
    return conn.dialect.name == "sqlite"


def _driver(conn: Queryable) -> Any:
    if isinstance(conn, SQLiteReader):
        return conn.driver
    return conn.connection.driver_connection


class Prepared:
    """One Core statement, compiled once for SQLite and run on the raw cursor there."""

    def __init__(
        self,
        statement: sa.ClauseElement,
        *,
        json_params: Sequence[str] = (),
        column_keys: Sequence[str] | None = None,
    ) -> None:
        self.statement = statement
        self._json = frozenset(json_params)
        self._column_keys = None if column_keys is None else list(column_keys)
        self._sqlite: tuple[str, tuple[str, ...]] | None = None
        self._defaults: dict[str, Any] = {}

    def _compiled(self, conn: Queryable) -> tuple[str, tuple[str, ...]]:
        if self._sqlite is None:
            compiled = cast(
                SQLCompiler,
                self.statement.compile(dialect=conn.dialect, column_keys=self._column_keys),
            )
            names = tuple(compiled.positiontup or ())
            # Literals the statement binds itself (e.g. SQLite's "OFFSET ?") keep their value.
            self._defaults = {
                name: bind.effective_value
                for name, bind in compiled.binds.items()
                if not bind.required and bind.effective_value is not None
            }
            self._sqlite = (compiled.string, names)
        return self._sqlite

    def _args(self, names: tuple[str, ...], params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        defaults, json_names = self._defaults, self._json
        for name in names:
            value = params[name] if name in params else defaults[name]
            if value is None:
                pass
            elif name in json_names:
                value = dumps(value)
            elif type(value) is dt.datetime:
                value = sqlite_datetime(value)
            elif type(value) is bool:
                value = int(value)
            values.append(value)
        return tuple(values)

    def rows(self, conn: Queryable, params: Mapping[str, Any]) -> Sequence[Any]:
        """All result rows: raw tuples on SQLite, processed ``Row``s elsewhere."""
        if not isinstance(conn, SQLiteReader) and not is_raw(conn):
            result = conn.execute(self.statement, dict(params))  # type: ignore[call-overload]
            return cast(Sequence[Any], result.all())
        sql, names = self._compiled(conn)
        cursor = _driver(conn).cursor()
        try:
            return list(cursor.execute(sql, self._args(names, params)).fetchall())
        except conn.dialect.loaded_dbapi.Error as error:
            raise _wrap(error, sql) from error
        finally:
            cursor.close()

    def run(
        self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        """Execute a write (one parameter set, or many with executemany)."""
        if not is_raw(conn):
            conn.execute(self.statement, params if isinstance(params, Mapping) else list(params))  # type: ignore[call-overload]
            return
        sql, names = self._compiled(conn)
        cursor = _driver(conn).cursor()
        try:
            if isinstance(params, Mapping):
                cursor.execute(sql, self._args(names, params))
            else:
                cursor.executemany(sql, [self._args(names, p) for p in params])
        except conn.dialect.loaded_dbapi.Error as error:
            raise _wrap(error, sql) from error
        finally:
            cursor.close()


def sqlite_param(value: Any) -> Any:
    """A parameter as SQLite stores it (datetimes as fixed-width UTC text)."""
    if isinstance(value, dt.datetime):
        return sqlite_datetime(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _wrap(error: Exception, sql: str) -> exc.StatementError:
    return exc.DBAPIError.instance(sql, None, error, Exception)
