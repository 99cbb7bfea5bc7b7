"""Import: files of any registered format into the store, all or nothing (SPEC S6.3, S6.4).

:func:`import_paths` takes files and directories (a directory stands for the files of
its format under it: ``~/.claude/projects`` → its transcripts), detects each one's
format unless ``format`` is given, and then works in two passes:

1. **Check**: every file is read through its format's loader, within the import
   limits (``limits.py``, from the ``import_*`` settings), and every conversation is
   put through the store's own checks (``import_checker``: sizes, roles,
   JSON, ids, times). A problem raises ``InvalidInput`` or ``TooLarge`` naming the file
   and the place in it, and nothing has been written.
2. **Write**: the files are read again and everything goes to
   :meth:`~threadkeep.store.ConversationStore.import_conversations` in **one**
   transaction. Every built-in reader streams: JSON Lines a line at a time, JSON
   documents (threadkeep, ChatGPT, Open WebUI) a conversation or message at a time
   (``json_stream.py``), so memory holds one conversation, not the whole input.

Idempotency: each conversation gets an ``import_key``, ``<format>:<sha256 of the format
and its source id>`` (threadkeep documents: the original conversation id). The source
id is joined by the file's absolute path for formats whose ids are only unique within a
file (``Format.file_scoped_ids``: a LangChain session called ``default``). A key the
owner already has is skipped and counted, so importing the same source twice
duplicates nothing. A foreign conversation is imported ``appendable``: when its source
has grown since (a Claude Code session or Codex rollout that went on), the new messages
are appended to the conversation imported before
(:attr:`ImportReport.conversations_updated`, :attr:`ImportReport.messages_appended`);
when it changed otherwise, it is skipped with a warning saying why. A threadkeep
document is restored as it was and never appended to.

Warnings (:attr:`ImportReport.warnings`) also say when ``cleanup_inactive_days`` is
set and imported conversations were last active before its cutoff: cleanup counts
from a conversation's own ``updated_at``, so the next cleanup would move that history
straight to the trash.

Ids: a threadkeep document keeps its conversation ids, message ids and seqs — a
conversation whose id is already taken (by anyone) gets a new one, counted as renamed.
Foreign conversations get new ids and keep their source's message ids where those are
valid and unique, and record where they came from in ``context["source"] = {"format",
"file", "source_id"}``; a threadkeep document's context is restored as it was.
Redaction on import is the ``redact_on_write`` setting's, as for any write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadkeep.errors import InvalidInput, TooLarge
from threadkeep.ids import check_message_id
from threadkeep.store import ConversationStore
from threadkeep.store.imports import (
    ConversationImport,
    MessageImport,
    import_checker,
)
from threadkeep.transfer import document
from threadkeep.transfer.formats import Format
from threadkeep.transfer.limits import ImportLimits
from threadkeep.transfer.records import ImportedConversation, ImportedMessage
from threadkeep.transfer.registry import detect_format as _detect_format
from threadkeep.transfer.registry import import_format

__all__ = ["ImportProgress", "ImportReport", "detect_format", "import_key", "import_paths"]


@dataclass(frozen=True)
class ImportProgress:
    """Where an import is, reported per file as conversations go by.

    ``phase`` is ``"reading"`` during the check of the whole input and ``"writing"``
    while it is written; ``conversations`` and ``messages`` count this file's, in this
    phase. ``bytes_read`` reaches ``total_bytes`` (the file's size; ``None`` for a
    directory) when the file is done.
    """

    file: str
    conversations: int
    messages: int
    total_bytes: int | None
    bytes_read: int
    phase: str = "reading"


@dataclass(frozen=True)
class ImportReport:
    """What an import did. ``format`` names the format(s) read (comma-separated when
    the files were of several); ``files`` counts the files read.

    ``conversations_imported``/``messages_imported`` count new conversations and their
    messages; ``conversations_updated``/``messages_appended`` count conversations
    imported before whose source had grown, and the messages added to them;
    ``conversations_skipped`` counts the rest (already imported, or changed — the
    warnings say which and why). ``warnings`` are sentences for a person, one each.
    """

    format: str
    files: int
    conversations_imported: int
    messages_imported: int
    conversations_skipped: int
    ids_renamed: int
    redacted: dict[str, int]
    conversations_updated: int = 0
    messages_appended: int = 0
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {
            "format": self.format,
            "files": self.files,
            "conversations_imported": self.conversations_imported,
            "messages_imported": self.messages_imported,
            "conversations_updated": self.conversations_updated,
            "messages_appended": self.messages_appended,
            "conversations_skipped": self.conversations_skipped,
            "ids_renamed": self.ids_renamed,
            "redacted": dict(self.redacted),
            "warnings": list(self.warnings),
        }


def detect_format(path: Path) -> str:
    """The import format of ``path``; ``InvalidInput`` naming the file and the formats
    tried when it is none of them."""
    return _detect_format(Path(path))


def import_key(format: Format, path: Path, source_id: str) -> str:
    """The key that recognises a conversation imported before (see the module doc)."""
    scope = str(path.resolve()) if format.file_scoped_ids else ""
    digest = hashlib.sha256(f"{format.name}\n{scope}\n{source_id}".encode()).hexdigest()
    return f"{format.name}:{digest}"


def _plan(paths: Sequence[Path], format: str | None) -> list[tuple[Path, Format]]:
    """Each file to read with its format; directories expanded, duplicates dropped."""
    if isinstance(paths, str | Path) or not paths:
        raise InvalidInput("nothing to import: give a list of one or more files")
    chosen = None if format is None else import_format(format)
    plan: list[tuple[Path, Format]] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise InvalidInput(f"{path}: no such file or directory")
        found = chosen or import_format(detect_format(path))
        files = [path]
        if path.is_dir() and found.files is not None:
            files = found.files(path)
            if not files:
                raise InvalidInput(f"{path}: no {found.name} files under this directory")
        for file in files:
            resolved = file.resolve()
            if resolved not in seen:
                seen.add(resolved)
                plan.append((file, found))
    return plan


def _contiguous(messages: Sequence[ImportedMessage]) -> bool:
    seqs = [message.seq for message in messages]
    if not seqs or seqs[0] is None:
        return False
    first = seqs[0]
    return all(seq == first + offset for offset, seq in enumerate(seqs))


def _valid_id(value: str | None) -> bool:
    if value is None:
        return False
    try:
        check_message_id(value)
    except InvalidInput:
        return False
    return True


def _to_import(record: ImportedConversation, format: Format, path: Path) -> ConversationImport:
    source = record.source
    own = format.name == document.FORMAT
    keep_seqs = own and _contiguous(record.messages)
    used: set[str] = set()
    messages = []
    for message in record.messages:
        message_id = message.source_id
        if own:
            pass  # the store refuses a bad or repeated id in a document, naming it
        elif not _valid_id(message_id) or message_id in used:
            message_id = None
        if message_id is not None:
            used.add(message_id)
        messages.append(
            MessageImport(
                role=message.role,
                content=message.content,
                kind=message.kind,
                status=message.status,
                metadata=message.metadata,
                tokens=message.tokens,
                id=message_id,
                seq=message.seq if keep_seqs else None,
                run_id=message.run_id if own else None,
                created_at=message.created_at,
                updated_at=message.updated_at,
            )
        )
    context = dict(record.context)
    if not own:
        context["source"] = {
            "format": source.format,
            "file": source.file,
            "source_id": source.source_id,
        }
    return ConversationImport(
        import_key=import_key(format, path, source.source_id),
        messages=messages,
        place=f"{source.file}: conversation {source.source_id}",
        id=record.id,
        title=record.title,
        mode=record.mode,
        provider=record.provider,
        provider_session_id=record.provider_session_id,
        model=record.model,
        context=context,
        status=record.status,
        pinned=record.pinned,
        tags=record.tags,
        created_at=record.created_at,
        updated_at=record.updated_at,
        trashed_at=record.trashed_at,
        forked_from=record.forked_from,
        appendable=not own,
    )


def _read(
    plan: list[tuple[Path, Format]],
    limits: ImportLimits,
    progress: Callable[[ImportProgress], None] | None,
    phase: str,
) -> Iterator[ConversationImport]:
    """Every conversation of every file, as store imports, reporting progress."""
    for path, format in plan:
        yield from _read_file(path, format, limits, progress or _no_progress, phase)


def _no_progress(event: ImportProgress) -> None:
    pass


def _read_file(
    path: Path,
    format: Format,
    limits: ImportLimits,
    progress: Callable[[ImportProgress], None],
    phase: str,
) -> Iterator[ConversationImport]:
    load = format.load
    if load is None:  # import_format only returns formats with a loader
        raise InvalidInput(f"{format.name} cannot be imported from")
    size = path.stat().st_size if path.is_file() else None
    conversations = messages = 0

    def report(bytes_read: int) -> None:
        progress(ImportProgress(str(path), conversations, messages, size, bytes_read, phase))

    report(0)
    for record in load(path, limits):
        if not isinstance(record, ImportedConversation):
            raise InvalidInput(
                f"{path}: the {format.name} format produced {type(record).__name__}, "
                "not an ImportedConversation (a plugin bug)"
            )
        yield _to_import(record, format, path)
        conversations += 1
        messages += len(record.messages)
        report(0)
    if conversations == 0 and format.detect is not None and not format.detect(path):
        raise _not_this_format(path, format)
    report(size or 0)


def _not_this_format(path: Path, format: Format) -> InvalidInput:
    """A file that gave nothing as ``format`` and does not look like it: say what it
    looks like instead, rather than report that nothing was imported."""
    try:
        hint = f"it looks like {detect_format(path)}"
    except InvalidInput:
        hint = "threadkeep does not recognise it"
    return InvalidInput(f"{path}: no {format.name} conversations in it ({hint})")


def import_paths(
    store: ConversationStore,
    paths: Sequence[Path],
    *,
    format: str | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportReport:
    """Import every conversation of ``paths`` into ``store``, all or nothing.

    ``format`` is an import format name (``registry.format_names()``); detected per
    path when ``None``. See the module doc for the checks, ids and idempotency.
    """
    plan = _plan(paths, format)
    settings = store.settings
    limits = ImportLimits.from_settings(settings)
    check = import_checker(settings)
    total = 0
    for item in _read(plan, limits, progress, "reading"):
        check(item)
        total += len(item.messages)
        if total > limits.max_messages:
            raise TooLarge(
                f"{item.place}: the import holds more than {limits.max_messages:,} messages "
                "(setting import_max_messages); import the files in parts"
            )
    idle = _IdleHistory(settings.cleanup_inactive_days)
    writing = idle.watch(_read(plan, limits, progress, "writing"))
    result = store.import_conversations(writing)
    names = list(dict.fromkeys(format.name for _, format in plan))
    return ImportReport(
        format=", ".join(names),
        files=len(plan),
        conversations_imported=len(result.conversation_ids),
        messages_imported=result.messages,
        conversations_skipped=len(result.skipped),
        ids_renamed=result.renamed,
        redacted=result.redacted,
        conversations_updated=len(result.updated),
        messages_appended=result.appended,
        warnings=(*_listed(result.skip_reasons), *idle.warning(set(result.skipped))),
    )


# Skip reasons listed one by one before the rest are summed up in one line.
_MAX_LISTED = 20


def _listed(reasons: Sequence[str]) -> list[str]:
    shown = list(reasons[:_MAX_LISTED])
    if len(reasons) > _MAX_LISTED:
        shown.append(f"… and {len(reasons) - _MAX_LISTED:,} more conversations skipped as changed")
    return shown


class _IdleHistory:
    """Notes which imported conversations the next cleanup would move to the trash
    (``cleanup_inactive_days`` counts from a conversation's own ``updated_at``)."""

    def __init__(self, days: int | None) -> None:
        self.days = days
        self.cutoff = None if days is None else dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        self.keys: list[str] = []

    def watch(self, items: Iterator[ConversationImport]) -> Iterator[ConversationImport]:
        for item in items:
            if self.cutoff is not None and _idle_since(item, self.cutoff):
                self.keys.append(item.import_key)
            yield item

    def warning(self, skipped: set[str]) -> list[str]:
        count = len(set(self.keys) - skipped)
        if not count:
            return []
        return [
            f"{count:,} imported conversation(s) were last active more than {self.days} days "
            f"ago: with cleanup_inactive_days = {self.days}, the next cleanup moves them to "
            "the trash (pin them first, or raise or unset cleanup_inactive_days)"
        ]


def _idle_since(item: ConversationImport, cutoff: dt.datetime) -> bool:
    """Whether cleanup's inactivity rule would take ``item`` once it is written."""
    if item.status != "active" or item.pinned:
        return False
    last = item.updated_at or next(
        (
            m.updated_at or m.created_at
            for m in reversed(item.messages)
            if m.updated_at or m.created_at
        ),
        item.created_at,
    )
    return last is not None and last <= cutoff
