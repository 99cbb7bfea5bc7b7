"""``threadkeep ls|rename|archive|unarchive|rm|fork``: the conversations themselves.

Thin commands: parse the options, make one store call per conversation, render. A
command that changes several conversations (``rm``) checks that every id exists before
it changes any, so a typo does not leave the job half done.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from threadkeep.cli._context import DbOption, opened_store
from threadkeep.cli.filters import (
    CreatedAfterOption,
    CreatedBeforeOption,
    CursorOption,
    ModelOption,
    ModeOption,
    ProviderOption,
    StatusOption,
    TagOption,
    UpdatedAfterOption,
    UpdatedBeforeOption,
    listing_filters,
)
from threadkeep.cli.output import (
    UNTITLED,
    JsonOption,
    YesOption,
    confirm_or_stop,
    conversation_table,
    counted,
    emit_json,
    errors_to_exit_codes,
    next_page,
    note,
    say,
    show_table,
)

__all__ = ["app"]

app = typer.Typer()

BROWSE = "Browse"
ORGANIZE = "Organize"

IdArgument = Annotated[
    str, typer.Argument(help="The conversation's id.", metavar="ID", show_default=False)
]


@app.command("ls", rich_help_panel=BROWSE)
def list_command(
    ctx: typer.Context,
    status: StatusOption = "active",
    provider: ProviderOption = None,
    model: ModelOption = None,
    mode: ModeOption = None,
    tag: TagOption = None,
    updated_after: UpdatedAfterOption = None,
    updated_before: UpdatedBeforeOption = None,
    created_after: CreatedAfterOption = None,
    created_before: CreatedBeforeOption = None,
    pinned_first: Annotated[
        bool, typer.Option("--pinned-first", help="Pinned conversations on top.")
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, metavar="N", help="How many per page.")
    ] = 50,
    cursor: CursorOption = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List conversations, most recently updated first.

    Prints one page; when there are more, the last line gives the cursor of the next
    page (`--json`: one object with `items` and `next_cursor`).

    Examples:

        threadkeep ls --updated-after 7d
        threadkeep ls --status archived --tag travel
        threadkeep ls --json --limit 200 | jq -r '.items[].id'
    """
    with errors_to_exit_codes():
        filters = listing_filters(ctx.params)
    with opened_store(ctx, db, create=False) as store:
        page = store.list_conversations(
            **filters, pinned_first=pinned_first, limit=limit, cursor=cursor
        )
    if json_output:
        emit_json({"items": page.items, "next_cursor": page.next_cursor})
        return
    if not page.items:
        note("no conversations" + (" match these filters" if cursor is None else " left"))
        return
    show_table(conversation_table(page.items, with_status=status != "active"))
    next_page(page.next_cursor)


@app.command(rich_help_panel=ORGANIZE)
def rename(
    ctx: typer.Context,
    conversation_id: IdArgument,
    title: Annotated[
        str, typer.Argument(help="The new title.", metavar="TITLE", show_default=False)
    ],
    db: DbOption = None,
) -> None:
    """Give a conversation a new title (a title you set is never overwritten).

    Example:

        threadkeep rename 0193a5c4-… "Trip to Lisbon"
    """
    with opened_store(ctx, db) as store:
        conversation = store.update_conversation(conversation_id, title=title)
    say(f"renamed {conversation.id} to {conversation.title}")


@app.command(rich_help_panel=ORGANIZE)
def archive(ctx: typer.Context, conversation_id: IdArgument, db: DbOption = None) -> None:
    """Move a conversation to the archive (undo with `unarchive`).

    Archived conversations leave `ls` and search; `ls --status archived` shows them.

    Example:

        threadkeep archive 0193a5c4-…
    """
    with opened_store(ctx, db) as store:
        conversation = store.archive_conversation(conversation_id)
    say(f"archived {conversation.id}")


@app.command(rich_help_panel=ORGANIZE)
def unarchive(ctx: typer.Context, conversation_id: IdArgument, db: DbOption = None) -> None:
    """Bring an archived (or trashed) conversation back to the active list.

    Example:

        threadkeep ls --status archived
        threadkeep unarchive 0193a5c4-…
    """
    with opened_store(ctx, db) as store:
        conversation = store.unarchive_conversation(conversation_id)
    say(f"unarchived {conversation.id}")


@app.command("rm", rich_help_panel=ORGANIZE)
def remove(
    ctx: typer.Context,
    conversation_ids: Annotated[
        list[str],
        typer.Argument(
            help="The ids of the conversations to delete.", metavar="ID", show_default=False
        ),
    ],
    yes: YesOption = False,
    db: DbOption = None,
) -> None:
    """Delete conversations for good, with their messages and runs.

    Asks first, unless `--yes`; without a terminal to ask on and without `--yes` it
    refuses (exit 2). Every id is checked before anything is deleted. To keep a
    conversation out of sight but restorable, use `archive`.

    Examples:

        threadkeep rm 0193a5c4-…
        threadkeep ls --status archived --json | jq -r '.items[].id' | xargs threadkeep rm --yes
    """
    ids = list(dict.fromkeys(conversation_ids))
    with opened_store(ctx, db) as store:
        doomed = [store.get_conversation(conversation_id) for conversation_id in ids]
        confirm_or_stop(
            yes,
            refusal="rm deletes for good and there is no terminal to ask on: pass --yes",
            shown=(
                Text.assemble(
                    ("  ", ""),
                    (conversation.id, "cyan"),
                    "  ",
                    conversation.title or UNTITLED,
                    (f"  ({counted(conversation.message_count, 'message')})", "dim"),
                )
                for conversation in doomed
            ),
            question=f"Delete {counted(len(doomed), 'conversation')} for good?",
            declined="nothing deleted",
        )
        for conversation in doomed:
            store.delete_conversation(conversation.id)
    say(f"deleted {counted(len(doomed), 'conversation')}")


@app.command(rich_help_panel=ORGANIZE)
def fork(
    ctx: typer.Context,
    conversation_id: IdArgument,
    up_to_seq: Annotated[
        int | None,
        typer.Option(
            "--up-to-seq",
            min=0,
            help="Copy messages 1..N (default: all of them).",
            metavar="N",
            show_default=False,
        ),
    ] = None,
    title: Annotated[
        str | None,
        typer.Option(
            metavar="TITLE",
            help="Title of the new conversation (default: the source's).",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Branch a conversation: copy its messages up to a seq into a new conversation.

    Prints the new conversation's id, so a script can go on with it.

    Examples:

        threadkeep fork 0193a5c4-… --up-to-seq 12 --title "Lisbon, plan B"
        new=$(threadkeep fork 0193a5c4-… --json | jq -r .id)
    """
    with opened_store(ctx, db) as store:
        forked = store.fork_conversation(conversation_id, up_to_seq=up_to_seq, title=title)
    if json_output:
        emit_json(forked)
        return
    say(f"forked {conversation_id} into {forked.id} ({counted(forked.message_count, 'message')})")
