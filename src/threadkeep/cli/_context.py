"""The one way a command opens the store: ``--db`` > settings > the embedded default.

``--db`` may be given before the command (``threadkeep --db x.db db current``, read from
the root command's parameters) or after it; the one nearer the command wins.
"""

from __future__ import annotations

import typer

from threadkeep.settings import Settings
from threadkeep.store import ConversationStore, open_store

__all__ = ["cli_store"]


def cli_store(ctx: typer.Context, db: str | None, *, migrate: bool = True) -> ConversationStore:
    """Open the store for a command; ``db`` is the command's ``--db`` flag, if given."""
    if db is None:
        db = ctx.find_root().params.get("db")
    overrides: dict[str, object] = {}
    if db is not None:
        overrides["database_url"] = db
    if not migrate:
        overrides["migrate_on_open"] = False
    return open_store(settings=Settings.load(**overrides))
