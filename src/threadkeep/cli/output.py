"""The one renderer of the command line, and the one place an error becomes an exit status.

People get Rich tables and short lines on stdout; scripts get ``--json`` (one JSON
document on stdout, datetimes as ISO 8601 strings) on every listing command. Progress,
summaries of long work and warnings go to stderr, so stdout stays what was asked for.
Everything a user or a database supplied (titles, content, paths) is printed as plain
text, never read as Rich markup.

Nothing stored or imported can drive the terminal (``cli/terminal.py`` says how): the
two consoles here show every control character of the text they print as a visible
escape, newline and tab excepted; titles and table cells are escaped as they are built
(``one_line``), so a table keeps its columns; ``--json`` stays exact JSON, with DEL and
the C1 controls escaped too.

Exit codes scripts can rely on:

====  ==================  ==========================================
code  error               meaning
====  ==================  ==========================================
0     —                   success
1     ThreadkeepError     any other failure (also a ``doctor`` check that failed)
2     InvalidInput        bad arguments or settings (also Typer's usage errors)
3     NotFound            no such conversation, message or run
4     Conflict            the state changed underneath; retry
5     TooLarge            over a size limit
6     StoreUnavailable    the database cannot be used
7     ProviderError       the model provider failed (network, refusal)
====  ==================  ==========================================

An error is one line on stderr, ``error (<code>): <message>``, and nothing on stdout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import html
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Protocol, cast

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from threadkeep.cli.terminal import TerminalConsole, json_escaped, one_line
from threadkeep.db.urls import masked_url
from threadkeep.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ProviderError,
    StoreUnavailable,
    ThreadkeepError,
    TooLarge,
)
from threadkeep.models import Conversation, Message

__all__ = [
    "EXIT_CODES",
    "UNTITLED",
    "JsonOption",
    "YesOption",
    "ago",
    "confirm_or_stop",
    "conversation_table",
    "counted",
    "emit_json",
    "errors_to_exit_codes",
    "exit_code",
    "highlight",
    "json_text",
    "jsonable",
    "key_value_table",
    "kinds",
    "masked_url",
    "message_heading",
    "new_table",
    "next_page",
    "note",
    "provider_model",
    "say",
    "show_table",
    "size",
    "stderr",
    "stdin_is_terminal",
    "stdout",
    "timestamp",
    "title_text",
    "usage_errors_to_one_line",
    "warn",
]

EXIT_CODES: dict[type[ThreadkeepError], int] = {
    InvalidInput: 2,
    NotFound: 3,
    Conflict: 4,
    TooLarge: 5,
    StoreUnavailable: 6,
    ProviderError: 7,
}

# The command line's two consoles: nothing they print can drive the terminal.
stdout = TerminalConsole()
stderr = TerminalConsole(stderr=True)

UNTITLED = "(untitled)"

# ``--json`` for a command's output as one JSON document; a command whose JSON is a
# particular thing (a plan, a summary) says which in a ``--json`` of its own.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def exit_code(error: ThreadkeepError) -> int:
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return 1


def _error_line(code: str, message: str) -> None:
    # One line, always: a driver's message may span several (psycopg's does).
    line = one_line(" ".join(message.split()))
    stderr.print(f"[bold red]error[/] ({code}): {escape(line)}", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def errors_to_exit_codes() -> Iterator[None]:
    """Print a ``ThreadkeepError`` as one line on stderr and exit with its code.

    An ``OSError`` on a path the user named (an output file in a missing directory, a
    file that cannot be read) is reported the same way, with exit code 1.
    """
    try:
        yield
    except ThreadkeepError as error:
        _error_line(error.code, error.message)
        raise typer.Exit(exit_code(error)) from None
    except OSError as error:
        if isinstance(error, BrokenPipeError):
            raise  # the reader went away; Click handles it quietly
        detail = error.strerror or str(error)
        # A failed rename names its target second: that is the path the user gave.
        path = error.filename2 or error.filename
        where = f": {path}" if path else ""
        _error_line("os_error", f"{detail}{where}")
        raise typer.Exit(1) from None


def _click_class(name: str) -> type[Exception]:
    # Typer raises Click's exceptions; since Typer 0.2x from a copy of Click it carries
    # inside (typer._click), before from Click itself. Its public BadParameter is a
    # UsageError, itself a ClickException, whichever Click that is.
    return next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == name)


_CLICK_ERROR = _click_class("ClickException")
_USAGE_ERROR = _click_class("UsageError")


class _ClickError(Protocol):
    exit_code: int

    def format_message(self) -> str: ...


@contextlib.contextmanager
def usage_errors_to_one_line() -> Iterator[None]:
    """Print Click's usage errors (an unknown option, a missing argument, a value out of
    range) like every other error: one ``error (invalid_input): …`` line on stderr, exit
    2 — not Typer's boxed panel under a usage line."""
    try:
        yield
    except _CLICK_ERROR as error:
        # A group called without a command shows its help: not an error line. (Matched
        # by name, as Typer does: the class is new in Click 8.2.)
        if type(error).__name__ == "NoArgsIsHelpError":
            raise
        click_error = cast(_ClickError, error)
        message = click_error.format_message().rstrip(".")
        context = getattr(error, "ctx", None)
        if context is not None:
            if type(error).__name__ == "NoSuchOption" and any(
                param.param_type_name == "argument" for param in context.command.params
            ):
                message += (
                    f"; a value that starts with '-' goes after '--': "
                    f"`{context.command_path} [OPTIONS] -- VALUE`"
                )
            message += f" (see `{context.command_path} --help`)"
        code = "invalid_input" if isinstance(error, _USAGE_ERROR) else "error"
        _error_line(code, message)
        raise typer.Exit(click_error.exit_code) from None


def say(text: str) -> None:
    """Print one plain line on stdout: never parsed as markup, never wrapped."""
    stdout.print(text, markup=False, highlight=False, soft_wrap=True)


def warn(text: str) -> None:
    """Print one warning line on stderr (never parsed as markup)."""
    stderr.print(Text.assemble(("warning", "bold yellow"), ": ", text), soft_wrap=True)


def note(text: str) -> None:
    """Print one plain line on stderr: summaries and hints that are not the output."""
    stderr.print(text, markup=False, highlight=False, soft_wrap=True)


#: ``--yes``/``-y`` of the commands that ask before they destroy (``rm``, ``users revoke``).
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (for scripts).")
]


def stdin_is_terminal() -> bool:
    """Whether a person can answer a question (tests replace this)."""
    return sys.stdin.isatty()


def confirm_or_stop(
    yes: bool, *, refusal: str, shown: Iterable[Text], question: str, declined: str
) -> None:
    """Go on when ``yes``; else ask on the terminal, after listing ``shown`` on stderr
    (stdout may be a pipe, as for ``rm -i``). No terminal to ask on is ``InvalidInput``
    (``refusal``, exit 2); "no" says ``declined`` and exits 1."""
    if yes:
        return
    if not stdin_is_terminal():
        raise InvalidInput(refusal)
    for line in shown:
        stderr.print(line, soft_wrap=True)
    if not typer.confirm(question, default=False, err=True):
        note(declined)
        raise typer.Exit(1)


def next_page(next_cursor: str | None) -> None:
    """Print how to get a listing's next page, after the page, when there is one."""
    if next_cursor is not None:
        stdout.print(
            Text.assemble(("next page: ", "dim"), f"--cursor {next_cursor}"), soft_wrap=True
        )


# ---------------------------------------------------------------------------- JSON


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dataclasses as objects, datetimes as ISO strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as JSON; C1 controls and DEL escaped as ``\\u00XX`` (``json.dumps``
    escapes only C0), so JSON read on a terminal cannot drive it either."""
    return json_escaped(json.dumps(jsonable(value), ensure_ascii=False, indent=indent, default=str))


def emit_json(value: Any) -> None:
    """Print ``value`` as one JSON document on stdout (for ``--json``)."""
    print(json_text(value))


# ---------------------------------------------------------------------------- text


def timestamp(at: dt.datetime | None) -> str:
    """A moment for a detail view: ``2026-11-21 14:03:05 UTC``."""
    if at is None:
        return "—"
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(at: dt.datetime, now: dt.datetime | None = None) -> str:
    """A moment for a table column: ``just now``, ``5m ago``, ``3h ago``, ``2d ago``,
    then the UTC date (a column of dates reads better than "93d ago")."""
    now = now if now is not None else dt.datetime.now(dt.UTC)
    seconds = (now - at).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86_400:
        return f"{int(seconds // 3600)}h ago"
    if seconds < 7 * 86_400:
        return f"{int(seconds // 86_400)}d ago"
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d")


def size(n: int) -> str:
    """Bytes for a person: ``812 B``, ``12.3 KiB``, ``4.0 GiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 conversation``, ``3 conversations``."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def kinds(counts: Mapping[str, int]) -> str:
    """Redaction counts as ``openai 2, jwt 1`` (largest first), or ``nothing``."""
    items = sorted(((k, v) for k, v in counts.items() if v), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{kind} {count}" for kind, count in items) or "nothing"


_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)


def highlight(snippet: str) -> Text:
    """A search snippet as Rich text: ``<mark>…</mark>`` in bold yellow, the rest
    HTML-unescaped and kept literal; runs of whitespace become one space."""
    text = Text()
    position = 0
    for match in _MARK.finditer(snippet):
        text.append(_plain(snippet[position : match.start()]))
        text.append(_plain(match.group(1)), style="bold yellow")
        position = match.end()
    text.append(_plain(snippet[position:]))
    return text


def _plain(fragment: str) -> str:
    return one_line(re.sub(r"\s+", " ", html.unescape(fragment)))


def title_text(conversation_title: str | None, *, pinned: bool = False) -> Text:
    text = Text("★ ", style="yellow") if pinned else Text()
    if conversation_title:
        text.append(one_line(conversation_title))
    else:
        text.append(UNTITLED, style="dim")
    return text


# ---------------------------------------------------------------------------- tables


def new_table(*columns: str, title: str | None = None) -> Table:
    """The one table style: a header rule, no outer box, titles left-aligned."""
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, title=title, title_justify="left", pad_edge=False
    )
    for column in columns:
        table.add_column(column)
    return table


# Width of a table printed into a pipe or a file: wide enough that a row is one line a
# grep can find (Rich would otherwise assume 80 columns and wrap titles).
PIPE_WIDTH = 240


def show_table(table: Table) -> None:
    """Print a table: to the terminal's width, or one line per row into a pipe."""
    wide = not stdout.is_terminal and "COLUMNS" not in os.environ
    (TerminalConsole(width=PIPE_WIDTH) if wide else stdout).print(table, soft_wrap=False)


def conversation_table(items: Sequence[Conversation], *, with_status: bool = False) -> Table:
    """The columns every listing of conversations uses: ID, Title, Msgs, Updated, and
    Status when the listing mixes statuses. Provider, model and tags go on a dim second
    line of the title cell, so the title keeps the width on an 80-column terminal."""
    table = new_table()
    # An id is what the reader copies into the next command: never cut it short.
    table.add_column("ID", no_wrap=True, min_width=36, style="cyan")
    table.add_column("Title", min_width=12, overflow="fold")
    table.add_column("Msgs", justify="right", no_wrap=True)
    table.add_column("Updated", no_wrap=True)
    if with_status:
        table.add_column("Status", no_wrap=True)
    now = dt.datetime.now(dt.UTC)
    for item in items:
        title = title_text(item.title, pinned=item.pinned)
        details = [provider_model(item.provider, item.model)] if item.provider or item.model else []
        details += [f"#{tag}" for tag in item.tags]
        if details:
            title.append("\n" + one_line(" · ".join(details)), style="dim")
        cells: list[Text | str] = [
            item.id,
            title,
            f"{item.message_count:,}",
            ago(item.updated_at, now),
        ]
        if with_status:
            cells.append(item.status)
        table.add_row(*cells)
    return table


def provider_model(provider: str | None, model: str | None) -> str:
    return "/".join(part for part in (provider, model) if part) or "—"


def key_value_table(rows: Iterable[tuple[str, Any]], *, title: str | None = None) -> Table:
    """Two columns, a name and its value: for stats and single-object views."""
    table = Table(box=None, show_header=False, title=title, title_justify="left", pad_edge=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in rows:
        table.add_row(name, value if isinstance(value, Text) else Text(one_line(str(value))))
    return table


def message_heading(message: Message) -> Text:
    """``#3 assistant · 2026-11-21 14:03:05 UTC`` plus kind and status when unusual."""
    text = Text(f"#{message.seq} ", style="bold")
    text.append(message.role, style=_ROLE_STYLES.get(message.role, "bold"))
    if message.kind != "text":
        text.append(f" ({message.kind})", style="magenta")
    if message.status != "complete":
        text.append(f" [{message.status}]", style="yellow")
    text.append(f" · {timestamp(message.created_at)}", style="dim")
    return text


_ROLE_STYLES = {
    "user": "bold green",
    "assistant": "bold blue",
    "system": "bold magenta",
    "tool": "bold cyan",
}
