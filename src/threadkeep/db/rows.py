"""Rows to models: the one place a database row becomes a ``Conversation``, ``Message``
or ``Run``.

Rows come in two shapes: SQLAlchemy-processed rows (PostgreSQL, and the less hot SQLite
paths) and raw SQLite tuples from ``prepared.py`` (``raw=True``), whose JSON is text and
whose datetimes are ISO text. Both are unpacked by position, in the table's column
order (``schema.py``).

**Damaged values are read as safe defaults** (SPEC S2.7: a corrupted row never makes a
conversation or a listing unreadable). A value is damaged when it cannot be used as
stored: JSON that does not parse (or holds NaN/Infinity, which threadkeep never writes
and an export could not write back), JSON of the wrong shape, a field outside its set,
a datetime that cannot be read. The row is still returned — so the conversation can be
listed, shown, exported and deleted — with each such value replaced by the value
``threadkeep doctor --repair`` would write (``db/quarantine.py``):

=========================  ================================================
conversation ``context``   ``{}``
conversation ``tags``      ``()`` (not a list of strings)
conversation ``status``    ``"active"`` (``"trash"`` if it has ``trashed_at``)
message ``metadata``       ``None``
message ``role``           ``"user"`` (the least authority in a prompt)
message ``kind``           ``"text"``
message ``status``         ``"complete"``
run ``usage``              ``None``
run ``status``             ``"interrupted"``
a datetime (SQLite text)   the row's other timestamp if that one reads
                           (``created_at`` <-> ``updated_at``; ``trashed_at``
                           -> ``updated_at``), else 1970-01-01 UTC; one
                           without a time zone is read as UTC
=========================  ================================================

No message is ever left out: every field either reads or has a safe default. Each
damaged row logs ONE warning per read on the ``threadkeep.integrity`` logger naming the
table, the row (a conversation's or run's id, ``<conversation id>/<seq>`` for a
message — doctor's row keys), each damaged column and why — never the value, which may
hold secrets. Nothing is written back: the row stays damaged, and doctor reports and
quarantines it.

The hot path pays nothing for this: each mapper first decodes the row the fast way
(the few checks it always made, in one ``try``), and only a row that fails them goes
through the slower column-by-column reader. :func:`damaged_values_read` counts the
defaulted values per thread, for reports (an export says how many it wrote).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, cast

from threadkeep.db.column_types import CorruptValue
from threadkeep.db.quarantine import Shape, json_problem
from threadkeep.models import (
    CONVERSATION_STATUSES,
    MESSAGE_KINDS,
    MESSAGE_ROLES,
    MESSAGE_STATUSES,
    RUN_STATUSES,
    Conversation,
    ForkedFrom,
    Message,
    Run,
    trusted_builder,
)

__all__ = [
    "conversation_from_row",
    "conversations_from_rows",
    "damaged_values_read",
    "message_from_row",
    "run_from_row",
]

log = logging.getLogger("threadkeep.integrity")

# Rows come back already checked (see the mappers): build models the fast way.
_message = trusted_builder(Message)
_conversation = trusted_builder(Conversation)

_from_iso = dt.datetime.fromisoformat
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


# json.loads' own C scanner, with NaN/Infinity refused as doctor refuses them; called
# directly it costs what json.loads costs.
_decode: Callable[[str], Any] = json.JSONDecoder(parse_constant=_reject_constant).decode


class _Damaged(ValueError):
    """Raised inside a fast path to fall back to the column-by-column reader."""


class _Tally(threading.local):
    values = 0


_tally = _Tally()


def damaged_values_read() -> int:
    """How many damaged values this thread's reads have replaced by defaults so far.

    A running count (per thread, so concurrent readers do not mix): take the difference
    around the reads of interest.
    """
    return _tally.values


class _Repair:
    """The damaged columns of one row, and the safe values read in their place."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: list[tuple[str, str, str]] = []

    def note(self, column: str, reason: str, shown: str) -> None:
        self.found.append((column, reason, shown))

    def json(self, column: str, value: Any, raw: bool, shape: Shape, safe: Any) -> Any:
        """The column's JSON value, or ``safe`` if it is damaged."""
        if isinstance(value, CorruptValue):
            return self.bad(column, f"not JSON ({value.error})", safe)
        if raw and value is not None:  # SQLite text: doctor's parser and shape rules
            problem = json_problem(value, shape)
            if problem is not None:
                return self.bad(column, problem, safe)
            value = json.loads(value)
        elif shape == "object" and type(value) is not dict:
            return self.bad(column, "not a JSON object", safe)
        elif shape == "tags" and not (
            isinstance(value, list) and all(isinstance(tag, str) for tag in value)
        ):
            return self.bad(column, "not a JSON list of strings", safe)
        return value

    def choice(self, column: str, value: Any, allowed: frozenset[str], safe: str) -> str:
        if value in allowed:
            return str(value)
        self.note(column, "not one of " + ", ".join(sorted(allowed)), repr(safe))
        return safe

    def datetime(self, column: str, value: Any, raw: bool) -> dt.datetime | None:
        """The column's datetime, ``None`` if it is damaged (the caller picks the stand-in)."""
        if not raw:  # a processed value: PostgreSQL's timestamptz always reads
            return cast(dt.datetime | None, value)
        try:
            read = _from_iso(value)
        except (TypeError, ValueError):
            return None
        if read.tzinfo is None:
            self.note(column, "a date and time without a time zone", "UTC")
            return read.replace(tzinfo=dt.UTC)
        return read

    def timestamps(self, created: Any, updated: Any, raw: bool) -> tuple[dt.datetime, dt.datetime]:
        """The row's ``created_at`` and ``updated_at``, each standing in for the other
        when it is damaged (the epoch when both are)."""
        created_at = self.datetime("created_at", created, raw)
        updated_at = self.datetime("updated_at", updated, raw)
        created_at = created_at or self.stand_in("created_at", updated_at)
        return created_at, updated_at or self.stand_in("updated_at", created_at)

    def stand_in(self, column: str, other: dt.datetime | None) -> dt.datetime:
        """A datetime for a damaged ``column``: ``other`` (the row's other timestamp) if
        it reads, else the epoch."""
        if other is not None:
            self.note(column, "not a date and time", "the row's other timestamp")
            return other
        self.note(column, "not a date and time", _EPOCH.isoformat())
        return _EPOCH

    def bad(self, column: str, reason: str, safe: Any) -> Any:
        self.note(column, reason, "None" if safe is None else json.dumps(safe))
        return safe

    def log(self, table: str, row_key: object) -> None:
        if not self.found:
            return
        _tally.values += len(self.found)
        log.warning(
            "damaged %s row %s, read with safe values (run threadkeep doctor): %s",
            table,
            row_key,
            "; ".join(f"{column} {why}, read as {shown}" for column, why, shown in self.found),
        )


def conversation_from_row(row: Any, raw: bool = False) -> Conversation:
    """A ``Conversation`` from a row in ``conversations`` column order.

    Damaged values are read as safe defaults and logged (see the module docstring).
    """
    (
        id_,
        owner,
        title,
        mode,
        provider,
        provider_session_id,
        model,
        context,
        status,
        pinned,
        tags,
        created,
        updated,
        message_count,
        last_seq,
        token_count,
        preview,
        forked_from_id,
        forked_from_seq,
        trashed,
        _import_key,
    ) = row
    try:
        if raw:
            # Most conversations have no context and no tags: skip the JSON parser.
            context_v = {} if context == "{}" else _decode(context)
            tags_v = () if tags == "[]" else _decode(tags)
            created_at, updated_at = _from_iso(created), _from_iso(updated)
            if created_at.tzinfo is None or updated_at.tzinfo is None:
                raise _Damaged
            trashed_at = trashed
            if trashed is not None:
                trashed_at = _from_iso(trashed)
                if trashed_at.tzinfo is None:
                    raise _Damaged
        else:
            id_ = str(id_)
            context_v, tags_v = context, tags
            created_at, updated_at, trashed_at = created, updated, trashed
        if type(context_v) is not dict or status not in CONVERSATION_STATUSES:
            raise _Damaged
        # () is the raw fast path's "[]"; anything else must be a list of strings.
        if tags_v != () and (type(tags_v) is not list or not all(type(t) is str for t in tags_v)):
            raise _Damaged
    except (TypeError, ValueError, RecursionError):  # _Damaged is a ValueError
        id_ = str(id_)
        context_v, tags_v, status, created_at, updated_at, trashed_at = _repair_conversation(
            id_, raw, context, tags, status, created, updated, trashed
        )
    return _conversation(
        id_,
        owner,
        title,
        mode,
        provider,
        provider_session_id,
        model,
        context_v,
        status,
        bool(pinned),
        tuple(tags_v) if tags_v else (),
        created_at,
        updated_at,
        message_count,
        last_seq,
        token_count,
        preview,
        None if forked_from_id is None else ForkedFrom(str(forked_from_id), forked_from_seq or 0),
        trashed_at,
    )


def _repair_conversation(
    id_: str,
    raw: bool,
    context: Any,
    tags: Any,
    status: Any,
    created: Any,
    updated: Any,
    trashed: Any,
) -> tuple[Any, Any, str, dt.datetime, dt.datetime, dt.datetime | None]:
    """A conversation row with damage: the checked columns read one by one, defaults for
    the bad (logged); returns context, tags, status and the three datetimes."""
    repair = _Repair()
    context = repair.json("context", context, raw, "object", {})
    tags = repair.json("tags", tags, raw, "tags", [])
    created_at, updated_at = repair.timestamps(created, updated, raw)
    trashed_at = None
    if trashed is not None:
        trashed_at = repair.datetime("trashed_at", trashed, raw)
        trashed_at = trashed_at or repair.stand_in("trashed_at", updated_at)
    status = repair.choice(
        "status", status, CONVERSATION_STATUSES, "active" if trashed_at is None else "trash"
    )
    repair.log("conversations", id_)
    return context, tags, status, created_at, updated_at, trashed_at


def conversations_from_rows(rows: Sequence[Any], raw: bool) -> list[Conversation]:
    """The rows' conversations, damaged values read as defaults (and logged)."""
    return [conversation_from_row(row, raw) for row in rows]


def message_from_row(row: Any, raw: bool = False) -> Message:
    """A ``Message`` from a row of ``messages.MESSAGE_COLUMNS``.

    The columns are selected in ``Message``'s field order, so the row is passed through
    positionally once the raw SQLite text (JSON, datetimes) is decoded: the tail and
    page reads spend their time in SQLite, not here. Damaged values are read as safe
    defaults and logged (see the module docstring).
    """
    (id_, cid, seq, role, kind, content, status, metadata, tokens, run_id, created, updated) = row
    try:
        if raw:
            metadata_v = metadata
            if metadata is not None:
                metadata_v = _decode(metadata)
            created_at, updated_at = _from_iso(created), _from_iso(updated)
            if created_at.tzinfo is None or updated_at.tzinfo is None:
                raise _Damaged
        else:
            if type(metadata) is CorruptValue:
                raise _Damaged
            # PostgreSQL's driver may hand back uuid.UUID objects
            cid, run_id = str(cid), None if run_id is None else str(run_id)
            metadata_v, created_at, updated_at = metadata, created, updated
        if role not in MESSAGE_ROLES or kind not in MESSAGE_KINDS or status not in MESSAGE_STATUSES:
            raise _Damaged
    except (TypeError, ValueError, RecursionError):  # _Damaged is a ValueError
        cid, run_id = str(cid), None if run_id is None else str(run_id)
        repair = _Repair()
        role = repair.choice("role", role, MESSAGE_ROLES, "user")
        kind = repair.choice("kind", kind, MESSAGE_KINDS, "text")
        status = repair.choice("status", status, MESSAGE_STATUSES, "complete")
        metadata_v = repair.json("metadata", metadata, raw, "any", None)
        created_at, updated_at = repair.timestamps(created, updated, raw)
        repair.log("messages", f"{cid}/{seq}")
    return _message(
        id_,
        cid,
        seq,
        role,
        kind,
        content,
        status,
        metadata_v,
        tokens,
        run_id,
        created_at,
        updated_at,
    )


def run_from_row(row: Any) -> Run:
    """A ``Run`` from a processed row of ``runs``; damaged values read as defaults."""
    m = row._mapping
    usage, status = m["usage"], m["status"]
    if isinstance(usage, CorruptValue) or status not in RUN_STATUSES:
        repair = _Repair()
        usage = repair.json("usage", usage, False, "any", None)
        status = repair.choice("status", status, RUN_STATUSES, "interrupted")
        repair.log("runs", m["id"])
    return Run(
        id=m["id"],
        conversation_id=m["conversation_id"],
        provider=m["provider"],
        model=m["model"],
        status=status,
        resumed_session_id=m["resumed_session_id"],
        provider_session_id=m["provider_session_id"],
        retried_without_resume=bool(m["retried_without_resume"]),
        error=m["error"],
        usage=usage,
        created_at=m["created_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
    )
