"""``threadkeep db``: schema revision, upgrade, online backup and restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from threadkeep.cli._context import DbOption, opened_store
from threadkeep.cli.output import JsonOption, emit_json, say

app = typer.Typer(
    help="Database schema, backup and restore.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command()
def current(
    ctx: typer.Context,
    db: DbOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the database's schema revision and the latest one.

    Does not migrate, nor create a missing file: it tells whether
    `threadkeep db upgrade` is due.

    Examples:

        threadkeep db current
        threadkeep --db postgresql+psycopg://me@db/chats db current --json
    """
    with opened_store(ctx, db, migrate=False, create=False) as store:
        revision = store.schema_revision()
        head = store.latest_schema_revision()
        if json_output:
            emit_json({"database": store.database.describe(), "revision": revision, "head": head})
            return
        state = "up to date" if revision == head else "needs `threadkeep db upgrade`"
        say(f"{store.database.describe()}: revision {revision} (latest {head}, {state})")


@app.command()
def upgrade(ctx: typer.Context, db: DbOption = None) -> None:
    """Bring the database to the latest schema (a SQLite file is backed up first).

    Opening a database does this by itself unless the `migrate_on_open` setting is
    off; if a revision fails, the file is restored and the error names the backup.
    A SQLite file that does not exist yet is created, with its directories: this is
    how to make an empty database for the commands that only read.

    Example:

        threadkeep db upgrade
    """
    with opened_store(ctx, db, migrate=False) as store:
        report = store.upgrade_schema()
        if report.from_revision == report.to_revision:
            say(f"already at revision {report.to_revision}")
            return
        if report.from_revision is None:  # a new file, or one without threadkeep's tables
            say(f"created the schema at revision {report.to_revision}")
        else:
            say(f"upgraded from {report.from_revision} to {report.to_revision}")
        if report.backup_path is not None:
            say(f"backup of the previous state: {report.backup_path}")


@app.command()
def backup(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="Where to write the copy.", metavar="PATH", show_default=False)
    ],
    db: DbOption = None,
) -> None:
    """Copy the live SQLite database to PATH (writers may keep going).

    An online, consistent copy (SQLite's backup API), readable only by you. For
    PostgreSQL use `pg_dump`.

    Example:

        threadkeep db backup ~/backups/threadkeep-$(date +%F).db
    """
    with opened_store(ctx, db, create=False) as store:
        say(f"backed up to {store.backup(path)}")


@app.command()
def restore(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help="A backup made by `threadkeep db backup`.", metavar="PATH", show_default=False
        ),
    ],
    db: DbOption = None,
) -> None:
    """Replace the SQLite database's content with the backup at PATH.

    Other processes see the old data or the restored data, never a mix; an older
    backup is migrated to the current schema.

    Example:

        threadkeep db restore ~/backups/threadkeep-2026-11-01.db
    """
    with opened_store(ctx, db, migrate=False) as store:
        store.restore(path)
        say(f"restored {store.database.describe()} from {path}")
