"""Stores with settings of the test's choosing, for the retention and audit tests.

:class:`Stores` opens stores on one database (the test's ``db_url``) with whatever
settings a test needs — a message cap, cleanup rules, the audit log — through the sync
class or through the async facade, and can move a conversation's clock
(:meth:`Stores.set_columns`) so tests of "not updated for 30 days" need not wait.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Self, cast

import sqlalchemy as sa

from tests.conftest import SyncOverAsync, _Loop
from threadkeep import AsyncConversationStore, ConversationStore, Settings, open_store
from threadkeep.db.schema import conversations, metadata
from threadkeep.events import Event

DAY = dt.timedelta(days=1)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Stores:
    """Opens stores on one database; closes them all at the end of the test (``close``,
    or leaving a ``with`` block)."""

    def __init__(self, db_url: str, mode: str) -> None:
        self.db_url = db_url
        self.mode = mode
        self.events: list[Event] = []
        self._opened: list[ConversationStore] = []
        self._loop: _Loop | None = None

    def open(self, *, owner: str = "local", **settings: Any) -> ConversationStore:
        """A store with these settings (sync, or the async facade seen as sync)."""
        store = open_store(self.db_url, owner=owner, settings=Settings.load(**settings))
        store.broker.subscribe(self.events.append)
        self._opened.append(store)
        if self.mode == "sync":
            return store
        if self._loop is None:
            self._loop = _Loop()
        return cast(ConversationStore, SyncOverAsync(AsyncConversationStore(store), self._loop))

    def sync(self) -> ConversationStore:
        """The first sync store opened (for arranging state around the store under test)."""
        return self._opened[0]

    def set_columns(self, conversation_id: str, **values: Any) -> None:
        """Set columns of a conversation row directly (e.g. an old ``updated_at``)."""
        with self._opened[0].database.engine.begin() as conn:
            conn.execute(
                conversations.update().where(conversations.c.id == conversation_id).values(values)
            )

    def set_all(self, **values: Any) -> None:
        """Set columns of every conversation row directly."""
        with self._opened[0].database.engine.begin() as conn:
            conn.execute(conversations.update().values(values))

    def count_rows(self, table: str, conversation_id: str) -> int:
        """Rows of ``table`` (messages, runs) that belong to the conversation."""
        found = metadata.tables[table]
        query = sa.select(sa.func.count()).where(found.c.conversation_id == conversation_id)
        with self._opened[0].database.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
        for store in self._opened:
            store.close()
