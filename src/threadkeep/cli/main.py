"""The ``threadkeep`` entry point: the root app, its global options, and its commands.

Each command group lives in its own module (``conversations``, ``show``, ``search``,
``stats``, ``transfer``, ``cleanup``, ``doctor``, ``config``, ``db``) and is registered
here; top-level commands are merged into the root (``threadkeep ls``), groups keep their
name (``threadkeep db upgrade``). Help texts are Markdown.
"""

from __future__ import annotations

from typing import Annotated

import typer

from threadkeep.cli import (
    cleanup,
    config,
    conversations,
    db,
    doctor,
    search,
    show,
    stats,
    transfer,
)
from threadkeep.cli.output import errors_to_exit_codes, say

app = typer.Typer(
    name="threadkeep",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    # A traceback of a bug must not print the local variables: they hold conversation
    # content and, in a URL, perhaps a database password.
    pretty_exceptions_show_locals=False,
)
for commands in (conversations, show, search, stats, transfer, cleanup, doctor):
    app.add_typer(commands.app)
app.add_typer(db.app, name="db", rich_help_panel="Maintenance")
app.add_typer(config.app, name="config", rich_help_panel="Maintenance")


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
            metavar="URL",
            help="Database URL or SQLite file for every command (default: "
            "THREADKEEP_DATABASE_URL, else threadkeep.db in the data directory).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show versions and exit."),
    ] = False,
) -> None:
    """A durable conversation store for LLM chat apps and agents.

    Lists, shows, searches, exports and imports your conversations, and looks after
    the database they live in.

    Examples:

        threadkeep ls --updated-after 7d
        threadkeep search "lisbon restaurants"
        threadkeep --db postgresql+psycopg://me@db/chats export -o all.json.gz
        threadkeep import ~/Downloads/chatgpt-export.zip

    Exit codes: 0 ok, 1 other failure, 2 invalid input, 3 not found, 4 conflict,
    5 too large, 6 store unavailable.
    """


def main() -> None:
    app()
