"""Maintenance of the database as a whole: the checks and repairs ``doctor`` composes.

Unlike the rest of the store these methods are **database-wide**, not scoped to the
store's owner — like :meth:`backup`, they are for whoever operates the database (the
``threadkeep doctor`` command, a server's health check), and they never return content:
damaged values are named by table, row key, column and reason only.

Each method is still one transaction. :meth:`find_damaged_values` reads one batch per
call, so a caller walks a table of any size with a flat memory; :meth:`quarantine_values`
re-checks every value under the write lock before it moves it, and publishes
``conversation.updated`` / ``message.updated`` for the rows it changed, to their owners.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadkeep.db import integrity
from threadkeep.db import quarantine as quarantine_rows
from threadkeep.db.integrity import DatabaseFacts, StorageReport
from threadkeep.db.quarantine import DamagedValue, QuarantinedValue
from threadkeep.errors import InvalidInput
from threadkeep.events import Event
from threadkeep.ids import check_uuid
from threadkeep.inputs import check_limit
from threadkeep.models import Page
from threadkeep.store._base import StoreBase, _now

__all__ = ["MaintenanceMixin"]

_MAX_BATCH = 10_000


class MaintenanceMixin(StoreBase):
    """The maintenance part of :class:`~threadkeep.store.ConversationStore`."""

    def database_facts(self) -> DatabaseFacts:
        """The engine, library, settings in force, schema revision and size, read back
        from a live connection."""
        with self._db.read() as conn:
            return integrity.read_facts(conn, self._db)

    def check_storage(self) -> StorageReport:
        """The engine's own storage check: SQLite's ``PRAGMA integrity_check`` (reads the
        whole file), or amcheck on PostgreSQL when that extension is installed."""
        with self._db.read() as conn:
            return integrity.storage_problems(conn)

    def search_index_problems(self) -> list[str]:
        """What is wrong with the full-text index (empty when it matches the data).

        On SQLite it holds the write lock while FTS5 compares the index with the
        messages (seconds on millions of messages); writers wait meanwhile.
        """
        with self._db.write() as conn:
            return integrity.search_index_problems(conn)

    def rebuild_search_index(self) -> list[str]:
        """Rebuild the full-text index from the data in one transaction; returns the
        indexes rebuilt. Missing triggers or indexes are not recreated."""
        with self._db.write() as conn:
            return integrity.rebuild_search_index(conn)

    def find_damaged_values(
        self, table: str, *, cursor: str | None = None, batch_size: int = 500
    ) -> Page[DamagedValue]:
        """The damaged values in one batch of ``table`` (``conversations``, ``messages``
        or ``runs``), and the cursor of the next batch (``None`` at the end).

        A page may be empty while ``next_cursor`` is set: keep going until it is
        ``None``.
        """
        if table not in quarantine_rows.SCANNED_TABLES:
            raise InvalidInput(
                f"table must be one of {', '.join(quarantine_rows.SCANNED_TABLES)}, got {table!r}"
            )
        batch_size = check_limit(batch_size, what="batch_size", maximum=_MAX_BATCH)
        if cursor is not None and (
            not isinstance(cursor, str) or (table == "messages" and not cursor.isdigit())
        ):
            raise InvalidInput(f"cursor {cursor!r:.60} is not a cursor of {table}")
        with self._db.read() as conn:
            found, after = quarantine_rows.scan(conn, table, after=cursor, batch_size=batch_size)
        return Page(items=found, next_cursor=after)

    def quarantine_values(self, values: Sequence[DamagedValue]) -> list[QuarantinedValue]:
        """Move damaged values to the ``quarantine`` table, in one transaction.

        Each value is re-checked first and skipped if it was fixed or its row deleted
        since it was found. The raw value is kept with its reason and time; the column
        gets a safe value (see ``db/quarantine.py``), so the row reads again. Rows are
        never deleted.
        """
        columns = quarantine_rows.scanned_columns()
        for value in values:
            if not isinstance(value, DamagedValue):
                raise InvalidInput(f"expected DamagedValue items, got {type(value).__name__}")
            if value.column not in columns.get(value.table, ()):
                allowed = "; ".join(f"{t}: {', '.join(c)}" for t, c in columns.items())
                raise InvalidInput(
                    f"cannot quarantine {value.table}.{value.column}; the columns doctor "
                    f"checks are {allowed}"
                )
            _check_row_key(value)
        if not values:
            return []
        with self._db.write() as conn:
            done = quarantine_rows.quarantine(conn, values, _now())
        self._publish(_events(done))
        return done


def _check_row_key(value: DamagedValue) -> None:
    key = value.row_key
    if value.table == "messages":
        conversation_id, _, seq = key.rpartition("/")
        if not seq.isdigit():
            raise InvalidInput(f"a message's row key is <conversation id>/<seq>, got {key!r:.80}")
        check_uuid(conversation_id, what="the conversation id of a message's row key")
    else:
        check_uuid(key, what=f"the row key of {value.table}")


def _events(done: Sequence[QuarantinedValue]) -> list[Event]:
    events = []
    data: dict[str, Any]
    for value in done:
        if value.table == "messages":
            seq = int(value.row_key.rpartition("/")[2])
            data = {"message_id": value.message_id, "seq": seq}
            events.append(Event("message.updated", value.owner, value.conversation_id, data))
        elif value.table == "conversations":
            data = {"fields": [value.column]}
            events.append(Event("conversation.updated", value.owner, value.conversation_id, data))
        # A run's status or usage has no event of its own (SPEC S3.6 lists none).
    return events
