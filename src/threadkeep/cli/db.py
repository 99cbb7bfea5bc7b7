"""``threadkeep db``: schema revision, upgrade, online backup and restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from threadkeep.cli._context import cli_store
from threadkeep.cli.output import emit_json, errors_to_exit_codes, say

app = typer.Typer(help="Database schema, backup and restore.", no_args_is_help=True)

DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL or SQLite file (default: settings).")
]


@app.command()
def current(
    ctx: typer.Context,
    db: DbOption = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show the database's schema revision and the latest one."""
    with errors_to_exit_codes(), cli_store(ctx, db, migrate=False) as store:
        revision = store.schema_revision()
        head = store.latest_schema_revision()
        if json_output:
            emit_json({"database": store.database.describe(), "revision": revision, "head": head})
            return
        state = "up to date" if revision == head else "needs `threadkeep db upgrade`"
        say(f"{store.database.describe()}: revision {revision} (latest {head}, {state})")


@app.command()
def upgrade(ctx: typer.Context, db: DbOption = None) -> None:
    """Bring the database to the latest schema (a SQLite file is backed up first)."""
    with errors_to_exit_codes(), cli_store(ctx, db, migrate=False) as store:
        report = store.upgrade_schema()
        if report.from_revision == report.to_revision:
            say(f"already at revision {report.to_revision}")
            return
        say(f"upgraded from {report.from_revision} to {report.to_revision}")
        if report.backup_path is not None:
            say(f"backup of the previous state: {report.backup_path}")


@app.command()
def backup(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Where to write the copy.")],
    db: DbOption = None,
) -> None:
    """Copy the live SQLite database to PATH (writers may keep going)."""
    with errors_to_exit_codes(), cli_store(ctx, db) as store:
        say(f"backed up to {store.backup(path)}")


@app.command()
def restore(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A backup made by `db backup`.")],
    db: DbOption = None,
) -> None:
    """Replace the SQLite database's content with the backup at PATH."""
    with errors_to_exit_codes(), cli_store(ctx, db, migrate=False) as store:
        store.restore(path)
        say(f"restored {store.database.describe()} from {path}")
