"""The one way a command opens the store: ``--db`` > settings > the embedded default.

``--db`` may be given before the command (``threadkeep --db x.db ls``, read from the
root command's parameters) or after it; the one nearer the command wins.

Commands use :func:`opened_store`, which also maps errors to exit codes, closes the
store, and prints the storage warning (SPEC S7.3) on stderr when the database has grown
past the configured size — after any command, so the person sees it where they work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer

from threadkeep.cli.output import errors_to_exit_codes, warn
from threadkeep.errors import ThreadkeepError
from threadkeep.settings import Settings
from threadkeep.store import ConversationStore, open_store

__all__ = ["DbOption", "cli_settings", "cli_store", "opened_store"]

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        help="Database URL or SQLite file (default: THREADKEEP_DATABASE_URL, else "
        "threadkeep.db in the data directory).",
        show_default=False,
    ),
]


def _db_flag(ctx: typer.Context, db: str | None) -> str | None:
    return db if db is not None else ctx.find_root().params.get("db")


def cli_settings(ctx: typer.Context, db: str | None = None, **overrides: object) -> Settings:
    """The settings a command runs with: the ``--db`` flag wins over every other source."""
    db = _db_flag(ctx, db)
    if db is not None:
        overrides["database_url"] = db
    return Settings.load(**overrides)


def cli_store(ctx: typer.Context, db: str | None, *, migrate: bool = True) -> ConversationStore:
    """Open the store for a command; ``db`` is the command's ``--db`` flag, if given."""
    overrides: dict[str, object] = {}
    if not migrate:
        overrides["migrate_on_open"] = False
    return open_store(settings=cli_settings(ctx, db, **overrides))


@contextlib.contextmanager
def opened_store(
    ctx: typer.Context, db: str | None = None, *, migrate: bool = True
) -> Iterator[ConversationStore]:
    """The store for the body of a command: errors become exit codes, the storage
    warning is printed after a command that ran, and the store is closed."""
    with errors_to_exit_codes():
        store = cli_store(ctx, db, migrate=migrate)
        finished = False
        try:
            yield store
            finished = True
        except typer.Exit:
            finished = True  # the command chose its exit status (doctor's failed check)
            raise
        finally:
            try:
                # After an error the one error line is the whole of stderr.
                if finished:
                    _storage_warning(store)
            finally:
                store.close()


def _storage_warning(store: ConversationStore) -> None:
    try:
        sentence = store.storage_warning()
    except ThreadkeepError as error:
        # The command's own outcome matters more than the size check: say why the check
        # could not run, without turning a success into a failure.
        warn(f"could not check the database size: {error.message}")
        return
    if sentence:
        warn(sentence)
