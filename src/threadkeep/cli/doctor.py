"""``threadkeep doctor``: check the database, and repair what can be repaired (SPEC S2.7).

Exit status 0 when every check is ``ok`` or ``warning``, 1 when one is an ``error``, so
a cron job or a CI step can run ``threadkeep doctor`` and act on the status.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from threadkeep.cli._context import DbOption, opened_store
from threadkeep.cli.output import (
    counted,
    emit_json,
    new_table,
    say,
    show_table,
)
from threadkeep.doctor import check_database_file, run_doctor

__all__ = ["app"]

app = typer.Typer()

_STATUS_STYLES = {"ok": "green", "warning": "yellow", "error": "bold red"}


@app.command(rich_help_panel="Maintenance")
def doctor(
    ctx: typer.Context,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Quarantine damaged rows and rebuild a search index that does not match.",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Check the database: SQLite version and settings, integrity, search index, rows.

    A damaged value (invalid JSON, an impossible value) never makes a conversation
    unreadable — reads use a safe value in its place and log the row — and `doctor`
    reports it; `--repair` copies such values to the quarantine table, writes the safe
    value, and rebuilds a search index that does not match. The database is examined
    as it is: never created, never migrated. Exits 1 when a check fails.

    Examples:

        threadkeep doctor
        threadkeep doctor --repair
        threadkeep doctor --json | jq '.checks[] | select(.status != "ok")'
    """
    # Examine the database as it is: a missing file, or one that is no SQLite database,
    # is an error here, not created or opened; an old schema is reported, not migrated.
    with opened_store(ctx, db, migrate=False, create=False, check=check_database_file) as store:
        report = run_doctor(store, repair=repair)
        if json_output:
            emit_json(report.to_dict())
        else:
            table = new_table("Check", "Status", "Detail")
            for check in report.checks:
                table.add_row(
                    check.name,
                    Text(check.status, style=_STATUS_STYLES.get(check.status, "")),
                    Text(check.detail),
                )
            show_table(table)
            warnings = sum(check.status == "warning" for check in report.checks)
            verdict = "all checks passed" if report.ok else "some checks failed"
            say(verdict + (f" ({counted(warnings, 'warning')})" if warnings else ""))
        if not report.ok:
            raise typer.Exit(1)
