"""The one way a command opens the store: ``--db`` > settings > the embedded default.

``--db`` may be given before the command (``threadkeep --db x.db ls``, read from the
root command's parameters) or after it; the one nearer the command wins.

Commands use :func:`opened_store`, which also maps errors to exit codes, closes the
store, and prints the storage warning (SPEC S7.3) on stderr when the database has grown
past the configured size — after any command, so the person sees it where they work.

Opening a store creates a missing SQLite file (and its directories): right for a
command that writes (``import``, ``rename``, ``db upgrade``), which is how a database
comes to be, and wrong for one that only reads. A mistyped ``--db`` must not leave a
new empty database behind and answer "no conversations" as if all were well; so a
command that only reads passes ``create=False`` and, when the file is missing, exits 6
with one line naming the path and how to create it. The default database in the data
directory is no exception: before anything was stored there is no database, and the
line says so and what creates it (a listing that is empty, exit 0, would hide a
mistyped ``THREADKEEP_DATABASE_URL`` the same way).
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable, Iterator
from typing import Annotated

import typer

from threadkeep.cli.output import errors_to_exit_codes, warn
from threadkeep.db.urls import sqlite_path
from threadkeep.errors import StoreUnavailable, ThreadkeepError
from threadkeep.settings import Settings
from threadkeep.store import ConversationStore, open_store

__all__ = ["DbOption", "cli_settings", "cli_store", "opened_store", "require_database"]

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


def require_database(settings: Settings) -> None:
    """Raise ``StoreUnavailable`` if the database is a SQLite file that does not exist,
    naming the path and what creates it; nothing is created. PostgreSQL: nothing to do
    (its database is made by its administrator)."""
    path = sqlite_path(settings.resolved_database_url())
    if path is None or path.exists():
        return  # a directory or a file that is no database: opening says so
    if settings.database_url is None:
        raise StoreUnavailable(
            f"no database yet at {path}: nothing has been stored; `threadkeep import FILE` "
            "(or any command that writes) creates it, and `threadkeep db upgrade` creates "
            "it empty"
        )
    flag = f"threadkeep --db {shlex.quote(str(path))}"
    raise StoreUnavailable(
        f"no database at {path} (a command that only reads never creates one): check the "
        f"path, or create it with `{flag} db upgrade` or any command that writes, such as "
        f"`{flag} import FILE`"
    )


def cli_store(
    ctx: typer.Context,
    db: str | None,
    *,
    migrate: bool = True,
    create: bool = True,
    check: Callable[[str], None] | None = None,
) -> ConversationStore:
    """Open the store for a command; ``db`` is the command's ``--db`` flag, if given.
    ``create=False``: refuse a missing SQLite file (:func:`require_database`);
    ``check``: called with the database URL before the store is opened (``doctor``
    examines the file first)."""
    overrides: dict[str, object] = {}
    if not migrate:
        overrides["migrate_on_open"] = False
    settings = cli_settings(ctx, db, **overrides)
    if not create:
        require_database(settings)
    if check is not None:
        check(settings.resolved_database_url())
    return open_store(settings=settings)


@contextlib.contextmanager
def opened_store(
    ctx: typer.Context,
    db: str | None = None,
    *,
    migrate: bool = True,
    create: bool = True,
    check: Callable[[str], None] | None = None,
) -> Iterator[ConversationStore]:
    """The store for the body of a command: errors become exit codes, the storage
    warning is printed after a command that ran, and the store is closed. A command
    that only reads passes ``create=False``: a missing SQLite file is an error (exit
    6), not created."""
    with errors_to_exit_codes():
        store = cli_store(ctx, db, migrate=migrate, create=create, check=check)
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
