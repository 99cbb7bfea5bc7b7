"""The one way a command opens the store: ``--db`` > settings > the embedded default."""

from __future__ import annotations

from threadkeep.settings import Settings
from threadkeep.store import ConversationStore, open_store

__all__ = ["cli_store"]


def cli_store(db: str | None, *, migrate: bool = True) -> ConversationStore:
    """Open the store for a command; ``db`` is the ``--db`` flag (a URL or a path)."""
    overrides: dict[str, object] = {}
    if db is not None:
        overrides["database_url"] = db
    if not migrate:
        overrides["migrate_on_open"] = False
    return open_store(settings=Settings.load(**overrides))
