"""``threadkeep cleanup``: retention as plan → apply (SPEC S7.2).

Cleanup is off until one of its settings is set. ``--dry-run`` prints the plan — exactly
the conversations that would be moved to the trash or purged, and why — and changes
nothing; without it the plan is applied and the report says what was done (a
conversation that changed between the plan and the apply is left alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer
from rich.text import Text

from threadkeep.cli._context import DbOption, opened_store
from threadkeep.cli.output import (
    ago,
    emit_json,
    new_table,
    say,
    show_table,
    title_text,
)
from threadkeep.cli.terminal import one_line
from threadkeep.models import CleanupItem, CleanupPlan, CleanupReport

__all__ = ["app"]

app = typer.Typer()


@app.command(rich_help_panel="Maintenance")
def cleanup(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would go, change nothing.")
    ] = False,
    all_owners: Annotated[
        bool, typer.Option("--all-owners", help="Clean up every owner's conversations.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the plan or the report as JSON.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Move inactive conversations to the trash and purge old trash, as configured.

    Rules (settings, all off by default): `cleanup_inactive_days`,
    `cleanup_max_per_owner`, `cleanup_purge_after_days`. Pinned conversations are
    never moved. A trashed conversation comes back with `threadkeep unarchive ID`
    until it is purged.

    Examples:

        threadkeep cleanup --dry-run
        threadkeep config set cleanup_inactive_days 180 && threadkeep cleanup
        threadkeep cleanup --all-owners --json
    """
    result: CleanupPlan | CleanupReport
    # A plan only reads; applying one writes (to an empty new database, nothing).
    with opened_store(ctx, db, create=not dry_run) as store:
        if dry_run:
            result = plan = store.plan_cleanup(all_owners=all_owners)
            tables = {"would move to the trash": plan.to_trash, "would purge": plan.to_purge}
        else:
            result = report = store.apply_cleanup(all_owners=all_owners)
            tables = {
                "moved to the trash": report.trashed,
                "purged": report.purged,
                "left alone (changed since the plan)": report.skipped,
            }
    if json_output:
        emit_json(result.to_dict())
        return
    for title, items in tables.items():
        _items_table(title, items)
    say(result.summary)


def _items_table(title: str, items: Sequence[CleanupItem]) -> None:
    if not items:
        return
    table = new_table("ID", "Title", "Owner", "Reason", "Updated", title=title)
    for item in items:
        table.add_row(
            Text(item.conversation_id, style="cyan"),
            title_text(item.title),
            Text(one_line(item.owner)),
            item.reason.replace("_", " "),
            ago(item.updated_at),
        )
    show_table(table)
