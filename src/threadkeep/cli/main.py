"""The ``threadkeep`` entry point: the root app, its global options, and its commands.

Each command group lives in its own module (``chat``, ``conversations``, ``show``,
``search``, ``stats``, ``transfer``, ``cleanup``, ``doctor``, ``config``, ``db``) and is
registered here; top-level commands are merged into the root (``threadkeep ls``), groups
keep their name (``threadkeep db upgrade``). Help texts are Markdown.

The root command is a :class:`RootGroup`, so that Click's usage errors, raised while
the arguments of any command are parsed, print as one line like every other error.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
import typer.core

from threadkeep.cli import (
    chat,
    cleanup,
    config,
    conversations,
    db,
    doctor,
    search,
    serve,
    show,
    stats,
    transfer,
    users,
)
from threadkeep.cli.output import errors_to_exit_codes, say, usage_errors_to_one_line


class RootGroup(typer.core.TyperGroup):
    """The ``threadkeep`` command: a usage error anywhere below it (an unknown option, a
    missing argument, a value out of range) is one ``error (invalid_input): …`` line on
    stderr and exit 2, instead of Typer's boxed panel.

    Click raises them while it makes a command's context: the root's own in
    ``make_context``, every subcommand's inside the root's ``invoke``."""

    # The contexts are typed Any: Typer's Context class is Click's, wherever that is.
    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        with usage_errors_to_one_line():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with usage_errors_to_one_line():
            return super().invoke(ctx)


app = typer.Typer(
    cls=RootGroup,
    name="threadkeep",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    # A traceback of a bug must not print the local variables: they hold conversation
    # content and, in a URL, perhaps a database password.
    pretty_exceptions_show_locals=False,
)
for commands in (chat, conversations, show, search, stats, transfer, cleanup, doctor):
    app.add_typer(commands.app)
app.add_typer(db.app, name="db", rich_help_panel="Maintenance")
app.add_typer(config.app, name="config", rich_help_panel="Maintenance")
app.add_typer(serve.app)
app.add_typer(users.app, name="users", rich_help_panel="Server")


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

    Commands that only read (`ls`, `show`, `search`, `stats`, `export`, `doctor`,
    `cleanup --dry-run`, `db current`, `db backup`) never create a database: when the
    SQLite file does not exist — a mistyped `--db`, or nothing stored yet — they exit 6
    and say how to create it (`threadkeep db upgrade`, or any command that writes, such
    as `import`).

    Exit codes: 0 ok, 1 other failure, 2 invalid input (also a usage error: one line,
    like every error), 3 not found, 4 conflict, 5 too large, 6 store unavailable,
    7 provider error (the model provider failed).
    """


def main() -> None:
    app()
