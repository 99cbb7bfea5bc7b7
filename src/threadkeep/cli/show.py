"""``threadkeep show ID``: one conversation and its messages, in seq order.

Messages are read a page at a time (``get_messages`` with ``after_seq``) and printed as
they arrive, so a conversation of a million messages streams with flat memory, also as
``--json`` (written piece by piece, still one JSON document). ``--markdown`` writes
the pages through the Markdown export's writer, unredacted — it shows the owner their
own data, as the other views do — and is not an export (nothing is recorded in the
audit log); the help sends whoever wants a file to share to ``threadkeep export``,
which masks secrets by default. On a terminal the Markdown, like all output, has its
control characters escaped (``terminal.terminal_safe``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.text import Text

from threadkeep.cli._context import DbOption, opened_store
from threadkeep.cli.output import (
    UNTITLED,
    counted,
    errors_to_exit_codes,
    json_text,
    key_value_table,
    message_heading,
    provider_model,
    stdout,
    timestamp,
)
from threadkeep.cli.terminal import one_line, terminal_safe
from threadkeep.errors import InvalidInput
from threadkeep.models import Conversation, Message
from threadkeep.store import ConversationStore
from threadkeep.transfer.markdown import MarkdownWriter

__all__ = ["PAGE_SIZE", "app", "message_pages"]

app = typer.Typer()

PAGE_SIZE = 500


def message_pages(
    store: ConversationStore, conversation_id: str, *, last: int | None = None
) -> Iterator[list[Message]]:
    """Every message (or the ``last`` N), oldest first, in pages of ``PAGE_SIZE``."""
    if last is not None:
        yield store.tail_messages(conversation_id, last)
        return
    after = 0
    while True:
        page = store.get_messages(conversation_id, after_seq=after, limit=PAGE_SIZE)
        if page:
            yield page
        if len(page) < PAGE_SIZE:
            return
        after = page[-1].seq


def _in_order(pages: Iterator[list[Message]]) -> Iterator[Message]:
    for page in pages:
        yield from page


@app.command(rich_help_panel="Browse")
def show(
    ctx: typer.Context,
    conversation_id: Annotated[
        str, typer.Argument(help="The conversation's id.", metavar="ID", show_default=False)
    ],
    last: Annotated[
        int | None,
        typer.Option(
            "--last",
            min=1,
            max=100_000,
            metavar="N",
            help="Only the last N messages.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the conversation and messages as JSON.")
    ] = False,
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown",
            help="Print the conversation as Markdown, secrets as stored (to share it, "
            "use `threadkeep export --id ID --format markdown`, which masks them).",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Print a conversation: its details, then every message in seq order.

    Every view shows your data as stored: API keys, tokens and passwords too. To write
    a file for someone else, use `threadkeep export --id ID -o FILE`, which masks them
    (`--format markdown` for people).

    Examples:

        threadkeep show 0193a5c4-…
        threadkeep show 0193a5c4-… --last 10
        threadkeep show 0193a5c4-… --markdown | less
        threadkeep show 0193a5c4-… --json | jq '.messages[] | select(.role == "user")'
    """
    with errors_to_exit_codes():
        if json_output and markdown:
            raise InvalidInput("choose one of --json and --markdown")
    with opened_store(ctx, db, create=False) as store:
        conversation = store.get_conversation(conversation_id)
        pages = message_pages(store, conversation.id, last=last)
        if markdown:
            _print_markdown(conversation, pages)
        elif json_output:
            _print_json(conversation, _in_order(pages))
        else:
            _print_conversation(conversation, _in_order(pages))


def _print_markdown(conversation: Conversation, pages: Iterator[list[Message]]) -> None:
    sys.stdout.flush()
    with terminal_safe(sys.stdout.buffer) as out:
        writer = MarkdownWriter(out)
        writer.conversation(conversation)
        for page in pages:
            writer.messages(page)
        writer.close()
    sys.stdout.buffer.flush()


def _print_json(conversation: Conversation, messages: Iterator[Message]) -> None:
    # One JSON document, written a message at a time: memory stays flat.
    head = json_text(conversation, indent=None)
    sys.stdout.write(f'{{"conversation": {head}, "messages": [')
    for index, message in enumerate(messages):
        sys.stdout.write(("\n  " if index == 0 else ",\n  ") + json_text(message, indent=None))
    sys.stdout.write("\n]}\n")
    sys.stdout.flush()


def _print_conversation(conversation: Conversation, messages: Iterator[Message]) -> None:
    stdout.print(Text(one_line(conversation.title or UNTITLED), style="bold"), soft_wrap=True)
    rows: list[tuple[str, object]] = [
        ("id", conversation.id),
        ("status", conversation.status + (" · pinned" if conversation.pinned else "")),
        ("mode", conversation.mode),
        ("provider", provider_model(conversation.provider, conversation.model)),
        (
            "messages",
            f"{counted(conversation.message_count, 'message')} · "
            f"{conversation.token_count:,} tokens",
        ),
        ("created", timestamp(conversation.created_at)),
        ("updated", timestamp(conversation.updated_at)),
    ]
    if conversation.tags:
        rows.append(("tags", ", ".join(conversation.tags)))
    if conversation.forked_from is not None:
        source = conversation.forked_from
        rows.append(("forked from", f"{source.conversation_id} at #{source.seq}"))
    stdout.print(key_value_table(rows))
    for message in messages:
        stdout.print()
        stdout.rule(message_heading(message), align="left", style="dim")
        # soft_wrap: the terminal wraps long lines; a pipe or a file gets them intact.
        stdout.print(message.content, markup=False, highlight=False, emoji=False, soft_wrap=True)
