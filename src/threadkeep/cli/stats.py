"""``threadkeep stats [ID]``: one conversation's counts, or the owner's totals.

Both come from counters the store keeps on each write (``conversation_stats``,
``owner_stats``) and the database's size on disk: nothing is counted by scanning
messages, so ``stats`` is instant on any database.
"""

from __future__ import annotations

from typing import Annotated

import typer

from threadkeep.cli._context import DbOption, opened_store
from threadkeep.cli.output import (
    JsonOption,
    emit_json,
    jsonable,
    key_value_table,
    size,
    stdout,
    timestamp,
)

__all__ = ["app"]

app = typer.Typer()


@app.command(rich_help_panel="Browse")
def stats(
    ctx: typer.Context,
    conversation_id: Annotated[
        str | None,
        typer.Argument(
            metavar="ID",
            help="A conversation's id; without one, totals for everything you own.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Counts and activity of one conversation, or totals for all of yours.

    Totals give the conversations by status (active, archived, trash), the messages
    and tokens in them, and the size of the database.

    Examples:

        threadkeep stats
        threadkeep stats 0193a5c4-… --json
    """
    with opened_store(ctx, db, create=False) as store:
        if conversation_id is not None:
            one = store.conversation_stats(conversation_id)
            if json_output:
                emit_json({**jsonable(one), "age_seconds": one.age.total_seconds()})
                return
            stdout.print(
                key_value_table(
                    [
                        ("conversation", one.conversation_id),
                        ("messages", f"{one.message_count:,}"),
                        ("last seq", f"{one.last_seq:,}"),
                        ("tokens", f"{one.token_count:,}"),
                        ("created", timestamp(one.created_at)),
                        ("updated", timestamp(one.updated_at)),
                        ("first message", timestamp(one.first_message_at)),
                        ("last message", timestamp(one.last_message_at)),
                        ("age", _days(one.age.total_seconds())),
                    ]
                )
            )
            return
        totals = store.owner_stats()
        database_bytes = store.database_size()
        where = store.database.describe()
    if json_output:
        emit_json(
            {
                "owner": totals.owner,
                "conversations": dict(totals.conversations),
                "messages": totals.messages,
                "tokens": totals.tokens,
                "database": where,
                "database_bytes": database_bytes,
            }
        )
        return
    by_status = ", ".join(f"{count:,} {status}" for status, count in totals.conversations.items())
    stdout.print(
        key_value_table(
            [
                ("owner", totals.owner),
                ("conversations", f"{sum(totals.conversations.values()):,} ({by_status})"),
                ("messages", f"{totals.messages:,}"),
                ("tokens", f"{totals.tokens:,}"),
                ("database", where),
                ("size", size(database_bytes)),
            ]
        )
    )


def _days(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86_400)
    hours = rest // 3600
    return f"{days}d {hours}h" if days else f"{hours}h {rest % 3600 // 60}m"
