"""Damaged values: finding them in batches and moving them to the quarantine.

A value is *damaged* when the readers in ``rows.py`` cannot use it — JSON that does not
parse (or parses only with NaN/Infinity, which threadkeep never writes and exports could
not write back), JSON of the wrong shape (context not an object, tags not a list of
strings), a field outside its set (role, kind, status), an empty or overlong mode; and
on SQLite, which does not check the bytes of text on write, a title, preview, content
or run error that is not UTF-8 (the driver then fails the whole read). The readers
skip the rows they can and log them; this module finds them and repairs them.

**Finding** (:func:`scan`) walks one table in keyset batches of its primary key and
never loads a whole table: set membership is decided in SQL (the values are never
fetched, so none is shown), JSON columns are fetched as raw text (bytes on SQLite, so
text that is not UTF-8 is caught rather than raised) and parsed with the same
``json.loads`` the readers use — PostgreSQL validates JSON on write, yet it accepts
documents Python cannot read (nesting deeper than Python's recursion limit, integers
past 4,300 digits). Values above 64 KiB are fetched one at a time, so a batch holds at
most a batch of small values.

**Quarantine** (:func:`quarantine`) re-checks each value inside the caller's write
transaction (it may have been fixed since), copies the raw value into ``quarantine``
(table, row key, column, raw value, reason, time) and replaces it with a safe value:
``metadata``/``usage`` → NULL, ``context`` → ``{}``, ``tags`` → ``[]``, a role →
``user`` (the role with least authority in a prompt), kind → ``text``, message status →
``complete``, run status → ``interrupted``, conversation status → ``active`` (``trash``
when it has ``trashed_at``), mode → ``chat``, text that is not UTF-8 → the same text
with each bad byte replaced by U+FFFD. Rows are never deleted, so a conversation's seqs
stay contiguous and its counters right.

Row keys: a conversation's or run's id; ``<conversation id>/<seq>`` for a message (the
form the readers' log lines use).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db import schema
from threadkeep.models import (
    CONVERSATION_STATUSES,
    MESSAGE_KINDS,
    MESSAGE_ROLES,
    MESSAGE_STATUSES,
    RUN_STATUSES,
)

__all__ = [
    "SCANNED_TABLES",
    "DamagedValue",
    "QuarantinedValue",
    "json_problem",
    "quarantine",
    "scan",
    "scanned_columns",
]

SCANNED_TABLES = ("conversations", "messages", "runs")

# A JSON value up to this size comes back with its batch; a larger one is fetched alone.
_INLINE_BYTES = 65_536

# What a fetched value must be: any JSON, a JSON object, a JSON list of strings, or
# (SQLite only, where the bytes of a text column are not checked on write) UTF-8 text.
Shape = Literal["any", "object", "tags", "text"]


@dataclass(frozen=True, slots=True)
class DamagedValue:
    """One column of one row that the readers cannot use. Never carries the value."""

    table: str
    row_key: str
    column: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {
            "table": self.table,
            "row_key": self.row_key,
            "column": self.column,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class QuarantinedValue:
    """A damaged value copied to the ``quarantine`` table and replaced in its row.

    ``owner``, ``conversation_id`` and ``message_id`` say whose data changed (the store
    publishes its events from them).
    """

    table: str
    row_key: str
    column: str
    reason: str
    replacement: str
    owner: str
    conversation_id: str
    message_id: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {
            "table": self.table,
            "row_key": self.row_key,
            "column": self.column,
            "reason": self.reason,
            "replacement": self.replacement,
        }


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A column whose stored value is fetched and checked in Python."""

    name: str
    shape: Shape
    safe: Any  # None -> SQL NULL (for "text": the text with bad bytes replaced)

    def applies(self, conn: Connection) -> bool:
        return self.shape != "text" or conn.dialect.name == "sqlite"


@dataclass(frozen=True, slots=True)
class _Choice:
    name: str
    allowed: frozenset[str] | None  # None: any non-empty string up to max_length
    safe: str
    max_length: int = 64

    def bad(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        if self.allowed is None:
            length = sa.func.length(column)
            return sa.or_(length < 1, length > self.max_length)
        return sa.not_(column.in_(sorted(self.allowed)))

    @property
    def reason(self) -> str:
        if self.allowed is None:
            return f"{self.name} is empty or longer than {self.max_length} characters"
        return f"{self.name} is not one of {', '.join(sorted(self.allowed))}"


@dataclass(frozen=True, slots=True)
class _Spec:
    table: sa.Table
    key: str
    fetched: tuple[_Fetched, ...]
    choices: tuple[_Choice, ...]


_SPECS = {
    "conversations": _Spec(
        schema.conversations,
        "id",
        fetched=(
            _Fetched("context", "object", {}),
            _Fetched("tags", "tags", []),
            _Fetched("title", "text", None),
            _Fetched("preview", "text", None),
        ),
        choices=(
            _Choice("status", CONVERSATION_STATUSES, "active"),
            _Choice("mode", None, "chat"),
        ),
    ),
    "messages": _Spec(
        schema.messages,
        "pk",
        fetched=(_Fetched("metadata", "any", None), _Fetched("content", "text", None)),
        choices=(
            _Choice("role", MESSAGE_ROLES, "user"),
            _Choice("kind", MESSAGE_KINDS, "text"),
            _Choice("status", MESSAGE_STATUSES, "complete"),
        ),
    ),
    "runs": _Spec(
        schema.runs,
        "id",
        fetched=(_Fetched("usage", "any", None), _Fetched("error", "text", None)),
        choices=(_Choice("status", RUN_STATUSES, "interrupted"),),
    ),
}


def scanned_columns() -> dict[str, tuple[str, ...]]:
    """The columns :func:`scan` checks (and :func:`quarantine` can repair), per table."""
    return {
        name: tuple(item.name for item in spec.fetched) + tuple(c.name for c in spec.choices)
        for name, spec in _SPECS.items()
    }


def _raw(conn: Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The stored value as the driver would see it before any JSON decoding."""
    if conn.dialect.name == "sqlite":
        return sa.cast(column, sa.LargeBinary())
    return sa.cast(column, sa.Text())


def _raw_value(
    conn: Connection, spec: _Spec, column: str, where: sa.ColumnElement[bool]
) -> bytes | str | None:
    """The raw stored value (see :func:`_raw`) of ``column`` in the row ``where`` picks."""
    raw: bytes | str | None = conn.execute(
        sa.select(_raw(conn, spec.table.c[column])).where(where)
    ).scalar()
    return raw


def _size(conn: Connection, raw: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    return sa.func.length(raw) if conn.dialect.name == "sqlite" else sa.func.octet_length(raw)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_problem(raw: bytes | str | None, shape: Shape) -> str | None:
    """Why the raw stored value is not usable JSON of ``shape`` (or, for ``"text"``, not
    UTF-8), or ``None`` if it is fine."""
    if raw is None:
        return None
    if isinstance(raw, bytes | memoryview):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return "not UTF-8 text"
    if shape == "text":
        return None
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        return "JSON nested too deeply to read"
    except json.JSONDecodeError as error:
        return f"not valid JSON ({error.msg} at character {error.pos})"
    except ValueError as error:
        text = str(error)
        if "is not JSON" in text:
            return f"holds {text.split(' is not')[0]}, which is not JSON"
        return "holds a number too long to read"
    if shape == "object" and type(value) is not dict:
        return "not a JSON object"
    if shape == "tags":
        if not isinstance(value, list):
            return "not a JSON list"
        if not all(isinstance(tag, str) for tag in value):
            return "holds a tag that is not a string"
    return None


def _select(conn: Connection, spec: _Spec) -> sa.Select[Any]:
    t = spec.table
    columns: list[sa.ColumnElement[Any]] = [t.c[spec.key]]
    if spec.key == "pk":
        columns += [t.c.conversation_id, t.c.seq]
    columns += [choice.bad(t.c[choice.name]).label(f"bad_{choice.name}") for choice in spec.choices]
    for item in spec.fetched:
        if not item.applies(conn):
            continue
        raw = _raw(conn, t.c[item.name])
        size = _size(conn, raw)
        columns += [
            size.label(f"size_{item.name}"),
            sa.case((size <= _INLINE_BYTES, raw), else_=sa.null()).label(f"raw_{item.name}"),
        ]
    return sa.select(*columns)


def _row_key(spec: _Spec, row: Any) -> str:
    m = row._mapping
    if spec.key == "pk":
        return f"{m['conversation_id']}/{m['seq']}"
    return str(m[spec.key])


def _problems(conn: Connection, spec: _Spec, row: Any) -> list[tuple[str, str]]:
    """(column, reason) for each damaged value of a row from :func:`_select`."""
    m = row._mapping
    found = [(c.name, c.reason) for c in spec.choices if m[f"bad_{c.name}"]]
    for item in spec.fetched:
        if not item.applies(conn) or m[f"size_{item.name}"] is None:
            continue  # SQL NULL: allowed where the schema allows it
        raw = m[f"raw_{item.name}"]
        if raw is None:  # too large to come with the batch
            raw = _raw_value(conn, spec, item.name, spec.table.c[spec.key] == m[spec.key])
        problem = json_problem(raw, item.shape)
        if problem is not None:
            found.append((item.name, problem))
    return found


def scan(
    conn: Connection, table: str, *, after: str | None, batch_size: int
) -> tuple[list[DamagedValue], str | None]:
    """One batch of ``table`` after the cursor ``after``: its damaged values, next cursor.

    The cursor is ``None`` once the table is exhausted.
    """
    spec = _SPECS[table]
    key = spec.table.c[spec.key]
    statement = _select(conn, spec).order_by(key).limit(batch_size)
    if after is not None:
        statement = statement.where(key > (int(after) if spec.key == "pk" else after))
    rows = conn.execute(statement).all()
    damaged = [
        DamagedValue(table, _row_key(spec, row), column, reason)
        for row in rows
        for column, reason in _problems(conn, spec, row)
    ]
    cursor = str(rows[-1]._mapping[spec.key]) if len(rows) == batch_size else None
    return damaged, cursor


def _where(spec: _Spec, row_key: str) -> sa.ColumnElement[bool]:
    t = spec.table
    if spec.key == "pk":
        conversation_id, _, seq = row_key.rpartition("/")
        return sa.and_(t.c.conversation_id == conversation_id, t.c.seq == int(seq))
    return t.c[spec.key] == row_key


def _text(raw: bytes | str | None) -> str | None:
    if isinstance(raw, bytes | memoryview):
        return bytes(raw).decode("utf-8", "backslashreplace")
    return raw


def _owner_of(conn: Connection, spec: _Spec, where: sa.ColumnElement[bool]) -> Any:
    c = schema.conversations
    t = spec.table
    if t is c:
        return conn.execute(sa.select(c.c.owner, c.c.id, sa.null()).where(where)).first()
    message_id = t.c.id if t is schema.messages else sa.null()
    return conn.execute(
        sa.select(c.c.owner, c.c.id, message_id)
        .join_from(t, c, t.c.conversation_id == c.c.id)
        .where(where)
    ).first()


def _replace(
    conn: Connection, spec: _Spec, where: sa.ColumnElement[bool], column: str, raw: Any
) -> str:
    """Put the safe value into ``column``; return how it reads in a report."""
    t = spec.table
    value: Any
    for item in spec.fetched:
        if item.name == column and item.shape == "text":
            value = bytes(raw).decode("utf-8", "replace")
            shown = "the text, each byte that is not UTF-8 replaced by U+FFFD"
            break
        if item.name == column:
            value = sa.null() if item.safe is None else item.safe
            shown = "NULL" if item.safe is None else json.dumps(item.safe)
            break
    else:
        choice = next(c for c in spec.choices if c.name == column)
        value, shown = choice.safe, repr(choice.safe)
        if t is schema.conversations and column == "status":
            value = sa.case((t.c.trashed_at.is_not(None), "trash"), else_="active")
            shown = "'active' ('trash' if trashed)"
    conn.execute(sa.update(t).where(where).values({column: value}))
    return shown


def quarantine(
    conn: Connection,
    damaged: Sequence[DamagedValue],
    at: dt.datetime,
) -> list[QuarantinedValue]:
    """Quarantine each value that is still damaged, in the caller's write transaction."""
    done: list[QuarantinedValue] = []
    for item in damaged:
        spec = _SPECS[item.table]
        where = _where(spec, item.row_key)
        row = conn.execute(_select(conn, spec).where(where)).first()
        if row is None:
            continue  # deleted since it was found
        reasons = dict(_problems(conn, spec, row))
        if item.column not in reasons:
            continue  # fixed since it was found
        raw = _raw_value(conn, spec, item.column, where)
        owner = _owner_of(conn, spec, where)
        conn.execute(
            sa.insert(schema.quarantine).values(
                table_name=item.table,
                row_key=item.row_key,
                column_name=item.column,
                raw_value=_text(raw),
                reason=reasons[item.column],
                quarantined_at=at,
            )
        )
        shown = _replace(conn, spec, where, item.column, raw)
        done.append(
            QuarantinedValue(
                table=item.table,
                row_key=item.row_key,
                column=item.column,
                reason=reasons[item.column],
                replacement=shown,
                owner=str(owner[0]),
                conversation_id=str(owner[1]),
                message_id=None if owner[2] is None else str(owner[2]),
            )
        )
    return done
