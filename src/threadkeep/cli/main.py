"""The ``threadkeep`` entry point: the root app and its ``--version``."""

from __future__ import annotations

from typing import Annotated

import typer

from threadkeep.cli import db
from threadkeep.cli.output import errors_to_exit_codes, say

app = typer.Typer(
    name="threadkeep",
    help="A durable conversation store for LLM chat apps and agents.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(db.app, name="db")


def _version(value: bool) -> None:
    if not value:
        return
    from threadkeep import __version__
    from threadkeep.db.sqlite_driver import sqlite_module
    from threadkeep.settings import Settings

    with errors_to_exit_codes():
        library = sqlite_module(Settings.load().sqlite_driver)
    say(f"threadkeep {__version__}")
    say(library.describe())
    raise typer.Exit()


@app.callback()
def root(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL or SQLite file for every command (default: settings).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show versions and exit."),
    ] = False,
) -> None:
    """threadkeep keeps every conversation and message safe across restarts and crashes."""


def main() -> None:
    app()
