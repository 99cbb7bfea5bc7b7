"""Operations on the database as a whole: backup, restore, schema revision."""

from __future__ import annotations

import os
from pathlib import Path

from threadkeep.db import migrate
from threadkeep.db.backup import backup_sqlite, restore_sqlite
from threadkeep.store._base import (
    StoreBase,
)

__all__ = ["OperationsMixin"]


class OperationsMixin(StoreBase):
    """The operations part of :class:`~threadkeep.store.ConversationStore`."""

    def backup(self, path: str | os.PathLike[str]) -> Path:
        """Copy the live SQLite database to ``path`` (online; writers keep going).

        Restore with :meth:`restore` or ``threadkeep db restore PATH``. PostgreSQL is
        backed up with its own tools (``InvalidInput`` here).
        """
        return backup_sqlite(self._db, path)

    def restore(self, path: str | os.PathLike[str]) -> None:
        """Replace this SQLite database's content with the backup at ``path``.

        Other connections see the old or the restored data, never a mix. The restored
        file is then migrated to the current schema if it is older.
        """
        restore_sqlite(self._db, path)
        if self._settings.migrate_on_open:
            migrate.upgrade(self._db, backup=False)

    def schema_revision(self) -> str | None:
        """The database's current Alembic revision."""
        return migrate.current_revision(self._db)

    @staticmethod
    def latest_schema_revision() -> str | None:
        """The newest revision this version of threadkeep knows."""
        return migrate.head_revision()

    def upgrade_schema(self) -> migrate.MigrationReport:
        """Bring the database to the latest revision (what ``migrate_on_open`` does)."""
        return migrate.upgrade(self._db, backup=self._settings.backup_before_migrate)
