"""``threadkeep search QUERY``: full-text search over messages and titles (SPEC S5).

Hits come ranked by relevance, each with a snippet whose matched words the store wraps
in ``<mark>…</mark>`` (the rest HTML-escaped, so a web page can show it as is); here the
marks become bold yellow and the rest is unescaped back to the text that was written.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import typer
from rich.text import Text

from threadkeep.cli._context import DbOption, opened_store
from threadkeep.cli.filters import (
    CursorOption,
    ModelOption,
    ProviderOption,
    StatusOption,
    UpdatedAfterOption,
    UpdatedBeforeOption,
    listing_filters,
)
from threadkeep.cli.output import (
    JsonOption,
    ago,
    counted,
    emit_json,
    errors_to_exit_codes,
    highlight,
    next_page,
    note,
    stdout,
    title_text,
)
from threadkeep.models import SearchHit, group_hits

__all__ = ["app"]

app = typer.Typer()

Role = Literal["user", "assistant", "system", "tool"]


@app.command(rich_help_panel="Browse")
def search(
    ctx: typer.Context,
    query: Annotated[
        str,
        typer.Argument(
            metavar="QUERY",
            help='What to look for: words (all must match), "an exact phrase", prefix*, -excluded.',
            show_default=False,
        ),
    ],
    role: Annotated[
        Role | None,
        typer.Option(
            help="Only messages of this role (user, assistant, system, tool).",
            metavar="ROLE",
            show_default=False,
            rich_help_panel="Filters",
        ),
    ] = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    status: StatusOption = "active",
    updated_after: UpdatedAfterOption = None,
    updated_before: UpdatedBeforeOption = None,
    limit: Annotated[
        int,
        typer.Option("--limit", "-n", min=1, max=1000, metavar="N", help="How many hits per page."),
    ] = 20,
    cursor: CursorOption = None,
    group: Annotated[
        bool, typer.Option("--group", help="Show the hits grouped by conversation.")
    ] = False,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Search every conversation's messages and titles, best match first.

    Each hit names the conversation and the message's seq, so
    `threadkeep show ID` takes you there. `--json` prints one object with `items`
    (or `groups` with `--group`) and `next_cursor`; a title match has no seq.

    A query that starts with a dash goes after `--`, or it is read as options:
    `threadkeep search -- '-closed lisbon'`. A leading dash excludes a word, so a query
    of exclusions alone finds nothing to rank (exit 2); punctuation is not indexed, so
    to find text written with a dash, such as `-verbose`, search for the word:
    `threadkeep search verbose`.

    Examples:

        threadkeep search lisbon
        threadkeep search '"time out market" -closed' --role assistant
        threadkeep search 'deploy*' --updated-after 30d --group
        threadkeep search -- '-draft release notes'
    """
    with errors_to_exit_codes():
        filters = listing_filters(ctx.params)
    with opened_store(ctx, db, create=False) as store:
        page = store.search(
            query,
            role=role,
            provider=provider,
            model=model,
            status=filters["status"],
            updated_after=filters["updated_after"],
            updated_before=filters["updated_before"],
            limit=limit,
            cursor=cursor,
        )
    if json_output:
        if group:
            emit_json({"groups": group_hits(page.items), "next_cursor": page.next_cursor})
        else:
            emit_json({"items": page.items, "next_cursor": page.next_cursor})
        return
    if not page.items:
        note("no matches" if cursor is None else "no more matches")
        return
    if group:
        print_groups(page.items)
    else:
        _print_hits(page.items)
    next_page(page.next_cursor)


def _where(hit: SearchHit) -> Text:
    if hit.seq is None:
        return Text("title", style="magenta")
    return Text(f"#{hit.seq} {hit.role or ''}".rstrip(), style="bold")


def _snippet_line(hit: SearchHit, indent: str) -> Text:
    line = Text(indent)
    line.append_text(highlight(hit.snippet))
    return line


def _print_hits(hits: list[SearchHit]) -> None:
    """Each hit as a heading (conversation, id, where, when) and its snippet below it,
    like a grep that knows about conversations."""
    now = dt.datetime.now(dt.UTC)
    for index, hit in enumerate(hits):
        if index:
            stdout.print()
        heading = title_text(hit.conversation_title)
        heading.stylize("bold")
        heading.append("  ")
        heading.append(hit.conversation_id, style="cyan")
        heading.append("  ")
        heading.append_text(_where(hit))
        heading.append(f"  {ago(hit.updated_at, now)}", style="dim")
        stdout.print(heading, soft_wrap=True)
        stdout.print(_snippet_line(hit, "    "), soft_wrap=True)


def print_groups(hits: list[SearchHit]) -> None:
    """A heading per conversation (in the order of its best hit), its hits below."""
    for index, found in enumerate(group_hits(hits)):
        if index:
            stdout.print()
        heading = title_text(found.conversation_title)
        heading.stylize("bold")
        heading.append(f"  {found.conversation_id}", style="cyan")
        heading.append(f"  {counted(len(found.hits), 'hit')}", style="dim")
        stdout.print(heading, soft_wrap=True)
        for hit in found.hits:
            line = Text("  ")
            line.append_text(_where(hit))
            line.append("  ")
            line.append_text(highlight(hit.snippet))
            stdout.print(line, soft_wrap=True)
