"""ConversationStore: the one service every surface calls.

Policy lives here, SQL in ``db/``. Each public method

1. checks its input (``inputs.py``) before touching the database, raising a typed error;
2. runs **one** transaction (``Database.write`` — ``BEGIN IMMEDIATE`` on SQLite, row
   locks on PostgreSQL — or a read), so a call either happens whole or not at all;
3. publishes its events to the broker **after** the commit.

Every operation is scoped to the store's ``owner``: another owner's conversation is
``NotFound``, exactly like an id that does not exist. :meth:`as_owner` gives a store for
another owner that shares the engine (the server makes one per request).

What moves ``updated_at`` (the listing order): messages appended, updated, popped or
cleared; a rename; the end of a run. Pinning, tagging, archiving and context changes do
not reorder the sidebar.

The class is composed of one mixin per noun — ``conversations.py``, ``messages.py``,
``runs.py``, ``run_turns.py``, ``operations.py``, ``search.py``, ``imports.py``, ``retention.py`` —
over ``_base.StoreBase``; each module stays small and owns its methods.
"""

from __future__ import annotations

import os

from threadkeep.db import migrate
from threadkeep.db.engine import open_database
from threadkeep.events import Broker, InProcessBroker
from threadkeep.inputs import check_owner
from threadkeep.settings import Settings
from threadkeep.store._base import UNSET, StoreBase
from threadkeep.store.audit import AuditMixin
from threadkeep.store.conversations import ConversationsMixin
from threadkeep.store.imports import ImportsMixin
from threadkeep.store.maintenance import MaintenanceMixin
from threadkeep.store.messages import MessagesMixin
from threadkeep.store.operations import OperationsMixin
from threadkeep.store.retention import RetentionMixin
from threadkeep.store.run_turns import TurnsMixin
from threadkeep.store.runs import RunsMixin
from threadkeep.store.search import SearchMixin
from threadkeep.store.stats import StatsMixin

__all__ = ["UNSET", "ConversationStore", "StoreBase", "open_store"]


class ConversationStore(
    ConversationsMixin,
    MessagesMixin,
    RunsMixin,
    TurnsMixin,
    OperationsMixin,
    RetentionMixin,
    AuditMixin,
    SearchMixin,
    StatsMixin,
    ImportsMixin,
    MaintenanceMixin,
):
    """Conversations, messages and runs of one owner, on SQLite or PostgreSQL.

    Build one with :func:`open_store`. It is thread-safe (a connection pool underneath)
    and a context manager; :meth:`close` releases the connections.
    """

    def as_owner(self, owner: str) -> ConversationStore:
        """A store scoped to ``owner`` that shares this one's engine and broker."""
        return ConversationStore(
            self._db, self._settings, owner=owner, broker=self._broker, _parent=self
        )


def open_store(
    url: str | os.PathLike[str] | None = None,
    *,
    owner: str = "local",
    settings: Settings | None = None,
    broker: Broker | None = None,
) -> ConversationStore:
    """Open (creating and migrating as needed) the store at ``url``.

    ``url`` is a SQLAlchemy URL (``sqlite:///path/file.db``,
    ``postgresql+psycopg://user@host/db``) or a plain path to a SQLite file. ``None``
    uses ``settings.database_url``, then ``THREADKEEP_DATABASE_URL``, then the embedded
    default: ``threadkeep.db`` in the data directory (``THREADKEEP_HOME`` or the
    platform's user data dir), created 0600 in a 0700 directory.

    The database is brought to the current schema revision unless the setting
    ``migrate_on_open`` is off; a SQLite file holding data is backed up first and
    restored if the migration fails.
    """
    settings = settings if settings is not None else Settings.load()
    owner = check_owner(owner)
    target = os.fspath(url) if url is not None else settings.resolved_database_url()
    db = open_database(target, settings)
    try:
        if settings.migrate_on_open:
            migrate.upgrade(db, backup=settings.backup_before_migrate)
    except BaseException:
        db.dispose()
        raise
    return ConversationStore(db, settings, owner=owner, broker=broker or InProcessBroker())
