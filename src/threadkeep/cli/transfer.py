"""``threadkeep export`` and ``threadkeep import``: conversations in and out (SPEC S6).

The work is ``threadkeep.transfer``'s; these commands choose where the bytes go, show
progress and say what happened. The document goes to stdout or ``--output``; progress
and the summary (with what redaction masked, by kind) go to stderr, so
``threadkeep export > all.json`` gives a clean file and a readable summary.

A failed export writes nothing to stdout, as every failed command: what can be checked
is checked before the first byte (the format, the options, that every ``--id``
exists), and gzip's own header waits for the document's first bytes. Compressed bytes
are not written to a terminal, and a document shown on one has its control characters
escaped (``terminal.terminal_safe``).
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Self, cast

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from threadkeep.cli._context import DbOption, opened_store
from threadkeep.cli.filters import (
    CreatedAfterOption,
    CreatedBeforeOption,
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
    counted,
    emit_json,
    errors_to_exit_codes,
    kinds,
    note,
    size,
    stderr,
)
from threadkeep.cli.terminal import one_line, stdout_is_terminal, terminal_safe
from threadkeep.errors import InvalidInput
from threadkeep.transfer.exporter import ExportReport, export_conversations, export_to_path
from threadkeep.transfer.importer import ImportProgress, ImportReport, import_paths
from threadkeep.transfer.registry import export_format, import_format

__all__ = ["app"]

app = typer.Typer()

PANEL = "Export and import"

# The built-in formats, named in the help (plugins may add more; a test keeps these
# lists equal to the built-in registrations). The help does not ask the plugin manager,
# so --help and docs/cli.md read the same on every machine.
EXPORT_FORMATS = ("json", "jsonl", "markdown")
IMPORT_FORMATS = (
    "threadkeep",
    "chatgpt",
    "claude-code",
    "codex",
    "open-webui",
    "openai-messages",
    "agents-sqlite",
    "langchain-sql",
)


@app.command(rich_help_panel=PANEL)
def export(
    ctx: typer.Context,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Where to write; `-` (the default) is stdout. A name ending in .gz is compressed.",
        ),
    ] = "-",
    export_format_name: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="json (a versioned document with a checksum), jsonl (streaming: one line "
            "per conversation header and per message) or markdown (for people). "
            "Default: from the output's name, else json.",
            show_default=False,
        ),
    ] = None,
    compress: Annotated[bool, typer.Option("--gzip", help="Compress with gzip.")] = False,
    conversation_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--id",
            metavar="ID",
            help="Export this conversation (repeat for several); not with the filters.",
            show_default=False,
        ),
    ] = None,
    no_redact: Annotated[
        bool,
        typer.Option(
            "--no-redact",
            help="Keep secrets as they are (by default API keys, tokens, private keys and "
            "URL passwords are masked as [REDACTED:kind]).",
        ),
    ] = False,
    status: StatusOption = "all",
    provider: ProviderOption = None,
    model: ModelOption = None,
    mode: ModeOption = None,
    tag: TagOption = None,
    updated_after: UpdatedAfterOption = None,
    updated_before: UpdatedBeforeOption = None,
    created_after: CreatedAfterOption = None,
    created_before: CreatedBeforeOption = None,
    db: DbOption = None,
) -> None:
    """Export conversations: one or a few (`--id`), those matching filters, or all.

    Streams: memory stays flat however large the export. Secrets are masked unless
    `--no-redact`; the summary on stderr says how many of each kind were.

    Examples:

        threadkeep export -o everything.json.gz
        threadkeep export --id 0193a5c4-… --format markdown > lisbon.md
        threadkeep export --format jsonl --tag work --updated-after 30d -o work.jsonl
    """
    with errors_to_exit_codes():
        filters = listing_filters(ctx.params)
        # --status all is no filter, so any value left narrows the export.
        narrowed = any(value is not None for value in filters.values())
        if conversation_ids and narrowed:
            raise InvalidInput(
                "--id names the conversations to export; leave out the filters (--status, "
                "--tag, --updated-after, ...) or --id"
            )
        to_stdout = output == "-"
        if export_format_name is not None:
            export_format(export_format_name)  # unknown: InvalidInput listing the known
        if to_stdout and compress and stdout_is_terminal():
            raise InvalidInput(
                "not writing gzip to a terminal: pass -o FILE, or pipe it "
                "(threadkeep export --gzip | gunzip | less)"
            )
    options: dict[str, Any] = {
        "conversation_ids": list(conversation_ids) if conversation_ids else None,
        "filters": None if conversation_ids else filters,
        "redact": False if no_redact else None,
    }
    with opened_store(ctx, db, create=False) as store:
        # The exporter finds every --id before the first byte: a missing one writes nothing.
        with _ExportProgress() as progress:
            options["progress"] = progress.update
            if to_stdout:
                # Any registered format name works; the Literal lists the built-ins.
                chosen: Any = export_format_name or "json"
                with _stdout_stream(compress, json_document=chosen in ("json", "jsonl")) as out:
                    report = export_conversations(store, out, format=chosen, **options)
            else:
                report = export_to_path(
                    store, Path(output), format=export_format_name, gzip=compress or None, **options
                )
    _export_summary(report, "stdout" if to_stdout else str(report.path or output))


@contextlib.contextmanager
def _stdout_stream(compress: bool, *, json_document: bool) -> Iterator[BinaryIO]:
    """Stdout's bytes for the document: gzip-compressed (never on a terminal: refused
    before), or escaped for a terminal (:func:`terminal_safe`). Left unfinished when
    the export fails, so a failure before the first byte leaves stdout empty."""
    raw = sys.stdout.buffer
    if compress:
        packed = _GzipOnFirstWrite(raw)
        yield cast(BinaryIO, packed)
        packed.finish()
    else:
        with terminal_safe(raw, json_document=json_document) as out:
            yield out
    raw.flush()


class _GzipOnFirstWrite(io.RawIOBase):
    """A gzip stream whose header is written with the first bytes of the document, not
    when it is opened: an export that fails before writing anything writes nothing."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._packed: gzip_module.GzipFile | None = None

    def writable(self) -> bool:
        return True

    def _stream(self) -> gzip_module.GzipFile:
        if self._packed is None:
            self._packed = gzip_module.GzipFile(fileobj=self._raw, mode="wb")
        return self._packed

    def write(self, data: Any) -> int:
        return self._stream().write(data)

    def finish(self) -> None:
        self._stream().close()  # the trailer; an empty document is still valid gzip


class _StderrProgress:
    """A Rich progress display on stderr, shown only on a terminal (logs and pipes stay
    clean) and gone when the work ends; a subclass feeds it from its ``update``."""

    def __init__(self, *columns: ProgressColumn) -> None:
        self._progress = Progress(
            *columns, console=stderr, transient=True, disable=not stderr.is_terminal
        )

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()


class _ExportProgress(_StderrProgress):
    """A spinner and a message count while an export runs."""

    def __init__(self) -> None:
        super().__init__(
            SpinnerColumn(),
            TextColumn("exporting"),
            TextColumn("{task.completed:,} messages"),
            TimeElapsedColumn(),
        )
        self._task = self._progress.add_task("export", total=None)

    def update(self, messages: int) -> None:
        self._progress.update(self._task, completed=messages)


def _export_summary(report: ExportReport, where: str) -> None:
    note(
        f"exported {counted(report.conversations, 'conversation')} "
        f"({counted(report.messages, 'message')}, {size(report.bytes_written)}) "
        f"as {report.format} to {where}; redacted: {kinds(report.redacted)}"
    )
    if report.damaged_values:
        note(
            f"warning: {counted(report.damaged_values, 'damaged stored value')} exported as "
            "safe defaults (see the log); `threadkeep doctor` lists them"
        )


@app.command("import", rich_help_panel=PANEL)
def import_command(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH",
            help="Files to import: exports, transcripts, zips, databases (.gz too).",
            show_default=False,
        ),
    ],
    import_format_name: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help=f"The files' format: {', '.join(IMPORT_FORMATS)} (or a plugin's). "
            "Detected when omitted.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Import conversations from threadkeep exports and other tools.

    Formats: threadkeep JSON/JSONL (every version), the ChatGPT data export (the zip or
    its conversations JSON), Claude Code transcripts, Codex CLI rollouts, Open WebUI
    chat exports, OpenAI chat-messages JSON, and the databases of the OpenAI Agents
    SDK SQLiteSession and LangChain SQLChatMessageHistory.

    A file is checked whole before anything is written, and written all or nothing.
    Importing the same source again duplicates nothing; a conversation whose id is
    taken gets a new one.

    Examples:

        threadkeep import ~/Downloads/chatgpt-export.zip
        threadkeep import ~/.claude/projects/*/*.jsonl --format claude-code
        threadkeep import backup.json.gz
    """
    with errors_to_exit_codes():
        if import_format_name is not None:
            import_format(import_format_name)  # unknown: InvalidInput listing the known
    with opened_store(ctx, db) as store, _ImportProgress() as progress:
        report = import_paths(store, paths, format=import_format_name, progress=progress.update)
    if json_output:
        emit_json(report.to_dict())
        return
    _import_summary(report)


class _ImportProgress(_StderrProgress):
    """A progress bar per file and phase, fed by the importer's callbacks: every file is
    first checked whole ("checking"), then written ("writing")."""

    def __init__(self) -> None:
        super().__init__(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeRemainingColumn(),
        )
        self._tasks: dict[tuple[str, str], TaskID] = {}

    def update(self, event: ImportProgress) -> None:
        counts = (
            f"{counted(event.conversations, 'conversation')}, {counted(event.messages, 'message')}"
        )
        key = (event.file, event.phase)
        task = self._tasks.get(key)
        if task is None:
            verb = "checking" if event.phase == "reading" else event.phase
            description = f"{verb} {escape(one_line(Path(event.file).name))}"
            task = self._progress.add_task(description, total=event.total_bytes, counts=counts)
            self._tasks[key] = task
        self._progress.update(task, completed=event.bytes_read, counts=counts)


def _import_summary(report: ImportReport) -> None:
    updated = (
        f"updated {counted(report.conversations_updated, 'conversation')} whose source "
        f"grew (+{counted(report.messages_appended, 'message')}); "
        if report.conversations_updated
        else ""
    )
    note(
        f"imported {counted(report.conversations_imported, 'conversation')} "
        f"({counted(report.messages_imported, 'message')}) "
        f"from {counted(report.files, 'file')} ({report.format}); {updated}"
        f"skipped {report.conversations_skipped:,} already imported; "
        f"renamed {report.ids_renamed:,} whose id was taken; "
        f"redacted: {kinds(report.redacted)}"
    )
    for warning in report.warnings:
        note(f"warning: {warning}")
