"""Export: conversations out of the store, streamed into a document (SPEC S6.1, S6.2).

:func:`export_conversations` writes to any binary stream; :func:`export_to_path` writes
a file (the format from its name, gzip when asked or when the name ends in ``.gz``)
through a temporary file in the same directory, renamed into place only when the
export is complete, so a failed export leaves nothing half-written.

Memory stays flat however large the export: the conversations to export are listed
first as ids only (16 bytes each), then each one is read and its messages paged
(``get_messages(after_seq=..., limit=...)``) into the writer, which keeps nothing but
counts and a running checksum. A conversation is read when its turn comes, so one
changed during the export is exported as it is then; one deleted meanwhile is left
out. Every write goes through a 256 KiB buffer.

Redaction (on unless ``redact=False``; the default is the ``redact_exports`` setting)
masks secrets with the built-in kinds and the ``redact_patterns`` setting in message
content and metadata and in conversation titles, context and tags, before the writer
sees them; :attr:`ExportReport.redacted` counts what was masked, by kind.

A damaged stored value (JSON that does not parse, a role outside its set) is exported
as the safe value the store reads it as (``db/rows.py``), never silently:
:attr:`ExportReport.damaged_values` counts them, and each row is named on the
``threadkeep.integrity`` logger.
"""

from __future__ import annotations

import dataclasses
import gzip as gzip_module
import io
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from threadkeep.db.rows import damaged_values_read
from threadkeep.errors import InvalidInput, NotFound
from threadkeep.ids import check_uuid
from threadkeep.models import Conversation, ConversationFilter, Message
from threadkeep.redact import Redactor
from threadkeep.settings import Settings
from threadkeep.store import ConversationStore
from threadkeep.transfer.registry import export_format, export_format_for

__all__ = ["ExportReport", "export_conversations", "export_redactor", "export_to_path"]

_PAGE_MESSAGES = 1_000
_PAGE_CONVERSATIONS = 500
_BUFFER = 256 * 1024
# The filters are list_conversations' keyword arguments, which are ConversationFilter's.
_FILTERS = frozenset(field.name for field in dataclasses.fields(ConversationFilter))


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote: the format, how many conversations and messages, what
    redaction masked (by kind), the bytes written and, for a file, its path.

    ``damaged_values`` counts stored values that were damaged and exported as safe
    defaults (``threadkeep doctor`` names and repairs them); 0 on a healthy database."""

    format: str
    conversations: int
    messages: int
    redacted: dict[str, int]
    bytes_written: int
    path: Path | None
    damaged_values: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {
            "format": self.format,
            "conversations": self.conversations,
            "messages": self.messages,
            "redacted": dict(self.redacted),
            "bytes_written": self.bytes_written,
            "path": None if self.path is None else str(self.path),
            "damaged_values": self.damaged_values,
        }


class _Counting(io.RawIOBase):
    """Forwards writes to the caller's stream and counts the bytes; never closes it."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        written = len(data)
        self._out.write(data)
        self.count += written
        return written


class _Masker:
    """Redacts conversations and messages, counting what it masked.

    Values without a secret are passed on as they are (no copy), which is nearly all of
    them, so redaction costs the scan and little else.
    """

    def __init__(self, redactor: Redactor | None) -> None:
        self._redactor = redactor
        self.counts: Counter[str] = Counter()

    def _value(self, value: Any) -> tuple[Any, bool]:
        if self._redactor is None or value is None:
            return value, False
        try:
            masked, found = self._redactor.redact_value(value)
        except RecursionError:  # the redactor walks JSON recursively
            raise InvalidInput(
                "a stored value is nested too deeply to be checked for secrets; export "
                "with redaction off (redact=False, --no-redact) to export it"
            ) from None
        if not found:
            return value, False
        self.counts.update(found)
        return masked, True

    def conversation(self, conversation: Conversation) -> Conversation:
        title, in_title = self._value(conversation.title)
        context, in_context = self._value(conversation.context)
        tags, in_tags = self._value(conversation.tags)
        if not (in_title or in_context or in_tags):
            return conversation
        return dataclasses.replace(conversation, title=title, context=context, tags=tags)

    def messages(self, messages: list[Message]) -> list[Message]:
        if self._redactor is None:
            return messages
        out = []
        for message in messages:
            content, in_content = self._value(message.content)
            metadata, in_metadata = self._value(message.metadata)
            if in_content or in_metadata:
                message = dataclasses.replace(message, content=content, metadata=metadata)
            out.append(message)
        return out


def _ids_to_export(
    store: ConversationStore,
    conversation_ids: Sequence[str] | None,
    filters: Mapping[str, Any] | None,
) -> list[bytes]:
    """The conversations to export as 16-byte ids: given, or listed by the filters.

    Every given conversation is looked up here, before the document begins: met only
    at its turn, a missing one would fail the export half-written (``NotFound``).
    """
    if conversation_ids is not None:
        if isinstance(conversation_ids, str):
            raise InvalidInput("conversation_ids must be a list of ids, not one string")
        if filters:
            raise InvalidInput("pass conversation_ids or filters, not both")
        ids = []
        for given in conversation_ids:
            key = uuid.UUID(check_uuid(given, what="conversation id")).bytes
            if key not in ids:
                store.get_conversation(str(uuid.UUID(bytes=key)))
                ids.append(key)
        return ids
    options = dict(filters or {})
    unknown = set(options) - _FILTERS
    if unknown:
        raise InvalidInput(
            f"unknown export filter(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_FILTERS))}"
        )
    # Everything of the owner unless a status is asked for (list_conversations alone
    # would default to the active ones).
    options.setdefault("status", None)
    found: list[bytes] = []
    cursor = None
    while True:
        page = store.list_conversations(limit=_PAGE_CONVERSATIONS, cursor=cursor, **options)
        found.extend(uuid.UUID(conversation.id).bytes for conversation in page.items)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def _pages(store: ConversationStore, conversation: Conversation) -> Iterator[list[Message]]:
    """The conversation's messages, a page at a time, up to its last seq when read."""
    after = 0
    while after < conversation.last_seq:
        page = store.get_messages(conversation.id, after_seq=after, limit=_PAGE_MESSAGES)
        if not page:
            return
        yield page
        after = page[-1].seq


def export_redactor(settings: Settings, redact: bool | None) -> Redactor | None:
    """The redactor an export uses: ``redact=None`` follows the ``redact_exports``
    setting; ``None`` when the export is not redacted (also what a download names its
    file by, so the name masks what the document masks)."""
    do_redact = settings.redact_exports if redact is None else redact
    if not isinstance(do_redact, bool):
        raise InvalidInput(f"redact must be true, false or None, got {redact!r:.40}")
    return Redactor(settings.redact_patterns) if do_redact else None


def export_conversations(
    store: ConversationStore,
    out: BinaryIO,
    *,
    format: Literal["json", "jsonl", "markdown"] = "json",
    conversation_ids: Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    redact: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write the owner's conversations to ``out`` as a ``format`` document.

    ``conversation_ids`` exports those (``NotFound`` before anything is written if one
    does not exist); otherwise ``filters`` — keyword arguments of
    ``store.list_conversations`` such as ``status``, ``provider``, ``tag``,
    ``updated_after`` — choose them, and with neither every conversation of the owner,
    whatever its status, is exported.
    ``redact=None`` follows the ``redact_exports`` setting. ``progress`` is called
    with the number of messages written so far. ``out`` is flushed, not closed.
    """
    chosen = export_format(format)
    make_writer = chosen.writer
    if make_writer is None:  # export_format only returns formats with a writer
        raise InvalidInput(f"{chosen.name} cannot be exported to")
    masker = _Masker(export_redactor(store.settings, redact))
    ids = _ids_to_export(store, conversation_ids, filters)
    counting = _Counting(out)
    buffered = io.BufferedWriter(counting, _BUFFER)
    writer = make_writer(buffered)
    conversations = messages = 0
    # Counted on this thread from here, so the listing above does not count twice.
    damaged_before = damaged_values_read()
    for key in ids:
        conversation_id = str(uuid.UUID(bytes=key))
        try:
            conversation = store.get_conversation(conversation_id)
        except NotFound:
            if conversation_ids is not None:
                raise
            continue  # deleted since the listing
        writer.conversation(masker.conversation(conversation))
        conversations += 1
        for page in _pages(store, conversation):
            writer.messages(masker.messages(page))
            messages += len(page)
            if progress is not None:
                progress(messages)
    writer.close()
    buffered.flush()
    out.flush()
    store.record_audit(
        "export",
        detail={"format": chosen.name, "conversations": conversations, "messages": messages},
    )
    return ExportReport(
        format=chosen.name,
        conversations=conversations,
        messages=messages,
        redacted=dict(masker.counts),
        bytes_written=counting.count,
        path=None,
        damaged_values=damaged_values_read() - damaged_before,
    )


def export_to_path(
    store: ConversationStore,
    path: Path,
    *,
    format: str | None = None,
    gzip: bool | None = None,
    conversation_ids: Sequence[str] | None = None,
    filters: Mapping[str, Any] | None = None,
    redact: bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Export to the file ``path``, all or nothing.

    ``format=None`` takes it from the name (``.json``, ``.jsonl``, ``.md``, each also
    with ``.gz``), else JSON. ``gzip=None`` compresses when the name ends in ``.gz``.
    The document is written to a temporary file next to ``path`` (mode 0600: exports
    hold conversations) and renamed over it at the end; on any error the temporary
    file is removed and ``path`` is untouched. The other keywords are
    :func:`export_conversations`'.
    """
    path = Path(path)
    if format is None:
        found = export_format_for(path)
        format = "json" if found is None else found.name
    compress = path.name.lower().endswith(".gz") if gzip is None else gzip
    if not path.parent.is_dir():
        raise InvalidInput(f"{path.parent}: no such directory to export into")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as raw:
            counting = _Counting(raw)
            if compress:
                with gzip_module.GzipFile(
                    filename=path.name.removesuffix(".gz"), fileobj=counting, mode="wb"
                ) as packed:
                    report = export_conversations(
                        store,
                        packed,  # type: ignore[arg-type]
                        format=format,  # type: ignore[arg-type]
                        conversation_ids=conversation_ids,
                        filters=filters,
                        redact=redact,
                        progress=progress,
                    )
            else:
                report = export_conversations(
                    store,
                    raw,
                    format=format,  # type: ignore[arg-type]
                    conversation_ids=conversation_ids,
                    filters=filters,
                    redact=redact,
                    progress=progress,
                )
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return dataclasses.replace(
        report,
        bytes_written=counting.count if compress else report.bytes_written,
        path=path,
    )
