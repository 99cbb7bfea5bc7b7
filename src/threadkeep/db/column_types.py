"""Column types shared by the schema and the migrations, one definition per engine.

* :class:`UUIDString` — native ``uuid`` on PostgreSQL, ``VARCHAR(36)`` on SQLite; always
  a canonical lowercase string in Python.
* :class:`JSONValue` — ``JSONB`` on PostgreSQL, ``TEXT`` on SQLite. Reading a SQLite value
  that is not valid JSON yields a :class:`CorruptValue` instead of raising, so one
  damaged row cannot make a whole conversation or listing unreadable (SPEC S2.7): the
  row mappers skip and log it.
* :class:`UTCDateTime` — ``timestamptz`` on PostgreSQL; on SQLite fixed-width ISO text
  with ``+00:00`` (:func:`sqlite_datetime`), which sorts in time order; always an aware
  UTC ``datetime`` in Python.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

__all__ = [
    "CorruptValue",
    "JSONValue",
    "UTCDateTime",
    "UUIDString",
    "dumps",
    "load_json",
    "sqlite_datetime",
]


def dumps(value: Any) -> str:
    """JSON text as threadkeep stores it: compact, UTF-8, no NaN."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, slots=True)
class CorruptValue:
    """A stored JSON value that could not be parsed; carries the raw text."""

    raw: str
    error: str


class UUIDString(sa.types.TypeDecorator[str]):
    """A UUID kept as a canonical string in Python."""

    impl = sa.String(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=False))
        return dialect.type_descriptor(sa.String(36))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)


class JSONValue(sa.types.TypeDecorator[Any]):
    """A JSON document: JSONB on PostgreSQL, text on SQLite.

    ``exact=True`` keeps PostgreSQL's plain ``json`` type instead: the text as written,
    so a framework's raw item round-trips exactly (JSONB stores numbers as ``numeric``
    and gives ``1e16`` back as the integer ``10000000000000000``). Used for message
    metadata and run usage; JSONB is kept where the database queries into the value
    (conversation context and tags).
    """

    impl = sa.Text
    cache_ok = True

    def __init__(self, exact: bool = False) -> None:
        super().__init__()
        self.exact = exact

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSON() if self.exact else postgresql.JSONB())
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "postgresql" or value is None:
            return value
        return dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "postgresql" or value is None:
            return value
        return load_json(value)


def load_json(text: str | bytes) -> Any:
    """Parse stored JSON, or return a :class:`CorruptValue` instead of raising.

    Also PostgreSQL's driver loader (``engine.py``): PostgreSQL validates JSON on write
    but accepts documents Python cannot read — nesting past the recursion limit,
    integers over 4,300 digits — which would otherwise fail a whole page of rows.
    """
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as error:
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return CorruptValue(raw=raw[:200], error=str(error)[:200])


def sqlite_datetime(value: dt.datetime) -> str:
    """How SQLite stores a datetime: ISO 8601 in UTC with microseconds and ``+00:00``.

    Fixed width, so text order is time order (keyset cursors, ``ORDER BY``), and
    ``datetime.fromisoformat`` reads it back aware in a fraction of a microsecond.
    """
    last = _last_datetime[0]
    if last[0] is value:  # one write stamps several columns with the same instant
        return last[1]
    text = value.astimezone(dt.UTC).isoformat(sep=" ", timespec="microseconds")
    _last_datetime[0] = (value, text)  # one slot, replaced whole: safe across threads
    return text


_last_datetime: list[tuple[dt.datetime | None, str]] = [(None, "")]


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """An aware UTC datetime: ``timestamptz`` on PostgreSQL, fixed-width text on SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise TypeError("UTCDateTime needs an aware datetime")
        return sqlite_datetime(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if not isinstance(value, dt.datetime):
            raise TypeError(f"not a datetime: {value!r:.40}")
        return value.astimezone(dt.UTC)
