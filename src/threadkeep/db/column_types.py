"""Column types shared by the schema and the migrations, one definition per engine.

* :class:`UUIDString` — native ``uuid`` on PostgreSQL, ``VARCHAR(36)`` on SQLite; always
  a canonical lowercase string in Python.
* :class:`JSONValue` — ``JSONB`` on PostgreSQL, ``TEXT`` on SQLite. Reading a SQLite value
  that is not valid JSON yields a :class:`CorruptValue` instead of raising, so one
  damaged row cannot make a whole conversation or listing unreadable (SPEC S2.7): the
  row mappers skip and log it.
* :class:`UTCDateTime` — ``timestamptz`` on PostgreSQL; on SQLite SQLAlchemy's ISO text,
  which sorts in time order; always an aware UTC ``datetime`` in Python.
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

__all__ = ["CorruptValue", "JSONValue", "UTCDateTime", "UUIDString", "dumps"]


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
    """A JSON document: JSONB on PostgreSQL, text on SQLite."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "postgresql" or value is None:
            return value
        return dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "postgresql" or value is None:
            return value
        try:
            return json.loads(value)
        except (TypeError, ValueError) as error:
            return CorruptValue(raw=str(value)[:200], error=str(error))


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """An aware UTC datetime."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise TypeError("UTCDateTime needs an aware datetime")
        value = value.astimezone(dt.UTC)
        # SQLite keeps text; drop the offset so every stored value sorts the same way.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"not a datetime: {value!r:.40}")
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
