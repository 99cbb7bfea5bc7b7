"""threadkeep's own document format: every field of every conversation, versioned.

Format version 1 (``FORMAT_VERSION``) has two encodings of the same records.

**JSON**, one document::

    {"format": "threadkeep", "format_version": 1,
     "exported_at": "2026-01-31T12:00:00.000000+00:00", "threadkeep_version": "0.1.0",
     "conversations": [{<conversation>, "messages": [<message>, ...]}, ...],
     "counts": {"conversations": 1, "messages": 2},
     "checksum": "sha256:<64 hex digits>"}

**JSON Lines**, for streaming: a header line, then per conversation one line with its
fields and one line per message, then a trailer::

    {"type": "header", "format": "threadkeep", "format_version": 1, "exported_at": ...,
     "threadkeep_version": ...}
    {"type": "conversation", <conversation>}
    {"type": "message", <message>}
    {"type": "trailer", "counts": {...}, "checksum": "sha256:..."}

A *conversation* has exactly the keys of ``CONVERSATION_FIELDS``: ``id`` (UUID),
``title``, ``mode``, ``provider``, ``provider_session_id``, ``model`` (string or null),
``context`` (object), ``status`` (``active``/``archived``/``trash``), ``pinned``
(boolean), ``tags`` (list of strings), ``created_at``, ``updated_at`` and
``trashed_at`` (ISO 8601 with an offset; ``trashed_at`` may be null) and
``forked_from`` (null or ``{"conversation_id", "seq"}``). Counters
(``message_count``, ``last_seq``, ``token_count``) and the preview are not stored:
they follow from the messages. A *message* has exactly the keys of
``MESSAGE_FIELDS``: ``id``, ``seq`` (contiguous, increasing), ``role``, ``kind``,
``content``, ``status``, ``metadata`` (any JSON), ``tokens`` and ``run_id`` (or
null), ``created_at``, ``updated_at``. The owner is not written: an import belongs to
whoever imports it.

**Checksum**: SHA-256 over, for each conversation in order, its canonical encoding
followed by ``\\n``, then each of its messages' canonical encodings followed by
``\\n``. The canonical encoding of a record is ``json.dumps(record, sort_keys=True,
ensure_ascii=False, separators=(",", ":"), allow_nan=False)`` in UTF-8, where a
conversation record excludes ``messages`` (JSON) and every record excludes ``type``
(JSON Lines). Both encodings of one export therefore carry the same checksum, and a
writer computes it as it streams.

A reader refuses a record with a missing, unknown or mistyped key, naming it; a newer
``format_version`` than it knows is refused with a clear error, and every older version
stays readable (``tests/fixtures`` keeps a document of each).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from threadkeep.errors import InvalidInput
from threadkeep.ids import check_uuid
from threadkeep.models import Conversation, ForkedFrom, Message
from threadkeep.transfer.formats.json_fields import type_name
from threadkeep.transfer.records import ImportedConversation, ImportedMessage, Source

__all__ = [
    "CONVERSATION_FIELDS",
    "FORMAT",
    "FORMAT_VERSION",
    "MESSAGE_FIELDS",
    "Checksum",
    "canonical",
    "check_header",
    "conversation_record",
    "header_record",
    "message_record",
    "read_conversation",
    "read_message",
]

FORMAT = "threadkeep"
FORMAT_VERSION = 1
# Every version this threadkeep reads; a new version adds itself here with a reader.
READABLE_VERSIONS = frozenset({1})

CONVERSATION_FIELDS = (
    "id",
    "title",
    "mode",
    "provider",
    "provider_session_id",
    "model",
    "context",
    "status",
    "pinned",
    "tags",
    "created_at",
    "updated_at",
    "trashed_at",
    "forked_from",
)
MESSAGE_FIELDS = (
    "id",
    "seq",
    "role",
    "kind",
    "content",
    "status",
    "metadata",
    "tokens",
    "run_id",
    "created_at",
    "updated_at",
)
_CONVERSATION_KEYS = frozenset(CONVERSATION_FIELDS)
_MESSAGE_KEYS = frozenset(MESSAGE_FIELDS)


def canonical(record: dict[str, Any]) -> bytes:
    """The canonical encoding of a record: what the checksum is computed over."""
    text = json.dumps(
        record, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    # Lone surrogates can come from a hostile document; the store refuses them later,
    # with a message naming the field, so hashing must not fail on them first.
    return text.encode("utf-8", "surrogatepass")


class Checksum:
    """The running SHA-256 of canonical records, each followed by a newline."""

    __slots__ = ("_hash",)

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, encoded: bytes) -> None:
        self._hash.update(encoded)
        self._hash.update(b"\n")

    def value(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def _time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def conversation_record(conversation: Conversation) -> dict[str, Any]:
    """The document record of a conversation (without its messages)."""
    forked = conversation.forked_from
    return {
        "id": conversation.id,
        "title": conversation.title,
        "mode": conversation.mode,
        "provider": conversation.provider,
        "provider_session_id": conversation.provider_session_id,
        "model": conversation.model,
        "context": conversation.context,
        "status": conversation.status,
        "pinned": conversation.pinned,
        "tags": list(conversation.tags),
        "created_at": _time(conversation.created_at),
        "updated_at": _time(conversation.updated_at),
        "trashed_at": _time(conversation.trashed_at),
        "forked_from": None
        if forked is None
        else {"conversation_id": forked.conversation_id, "seq": forked.seq},
    }


def message_record(message: Message) -> dict[str, Any]:
    """The document record of a message."""
    return {
        "id": message.id,
        "seq": message.seq,
        "role": message.role,
        "kind": message.kind,
        "content": message.content,
        "status": message.status,
        "metadata": message.metadata,
        "tokens": message.tokens,
        "run_id": message.run_id,
        "created_at": _time(message.created_at),
        "updated_at": _time(message.updated_at),
    }


def header_record(exported_at: dt.datetime, version: str) -> dict[str, Any]:
    """The header fields of a document (format, version, when, by which threadkeep)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": _time(exported_at),
        "threadkeep_version": version,
    }


def check_header(record: dict[str, Any], where: str) -> int:
    """The format version of a document header, which must be one this code reads."""
    if record.get("format") != FORMAT:
        raise InvalidInput(f'{where}: not a threadkeep document (no "format": "threadkeep")')
    version = record.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInput(f"{where}.format_version: expected a whole number, got {version!r:.40}")
    if version not in READABLE_VERSIONS:
        newest = max(READABLE_VERSIONS)
        if version > newest:
            raise InvalidInput(
                f"{where}: format_version {version} is newer than this threadkeep reads "
                f"(up to {newest}); upgrade threadkeep to import it"
            )
        raise InvalidInput(f"{where}: format_version {version} does not exist")
    return version


# -- reading records -------------------------------------------------------------------


def _keys(record: Any, expected: frozenset[str], what: str, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise InvalidInput(f"{where}: expected a {what} object, got {type_name(record)}")
    missing = expected - record.keys()
    if missing:
        raise InvalidInput(f"{where}: {what} lacks {', '.join(sorted(missing))}")
    unknown = record.keys() - expected
    if unknown:
        raise InvalidInput(
            f"{where}: unknown {what} field(s) {', '.join(sorted(unknown))} "
            "(written by a newer threadkeep?)"
        )
    return record


def _str(record: dict[str, Any], key: str, where: str, *, null: bool = False) -> Any:
    value = record[key]
    if value is None and null:
        return None
    if not isinstance(value, str):
        expected = "a string or null" if null else "a string"
        raise InvalidInput(f"{where}.{key}: expected {expected}, got {type_name(value)}")
    return value


def _int(record: dict[str, Any], key: str, where: str, *, null: bool = False) -> Any:
    value = record[key]
    if value is None and null:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        expected = "a whole number or null" if null else "a whole number"
        raise InvalidInput(f"{where}.{key}: expected {expected}, got {type_name(value)}")
    return value


def _datetime(record: dict[str, Any], key: str, where: str, *, null: bool = False) -> Any:
    value = _str(record, key, where, null=null)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{where}.{key}: {value!r:.60} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{where}.{key}: {value!r:.60} has no UTC offset")
    return parsed.astimezone(dt.UTC)


def read_conversation(
    record: Any, where: str, *, file: str, messages: tuple[ImportedMessage, ...] = ()
) -> ImportedConversation:
    """A checked conversation record (without messages) as an import record."""
    conv = _keys(record, _CONVERSATION_KEYS, "conversation", where)
    try:
        conversation_id = check_uuid(conv["id"], what="id")
    except InvalidInput as error:
        raise InvalidInput(f"{where}.id: {error.message}") from None
    context = conv["context"]
    if not isinstance(context, dict):
        raise InvalidInput(f"{where}.context: expected an object, got {type_name(context)}")
    tags = conv["tags"]
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidInput(f"{where}.tags: expected a list of strings")
    pinned = conv["pinned"]
    if not isinstance(pinned, bool):
        raise InvalidInput(f"{where}.pinned: expected true or false, got {type_name(pinned)}")
    forked = conv["forked_from"]
    forked_from = None
    if forked is not None:
        fork = _keys(forked, frozenset({"conversation_id", "seq"}), "forked_from", where)
        forked_from = ForkedFrom(
            _str(fork, "conversation_id", f"{where}.forked_from"),
            _int(fork, "seq", f"{where}.forked_from"),
        )
    return ImportedConversation(
        source=Source(FORMAT, file, conversation_id),
        id=conversation_id,
        title=_str(conv, "title", where, null=True),
        mode=_str(conv, "mode", where),
        provider=_str(conv, "provider", where, null=True),
        provider_session_id=_str(conv, "provider_session_id", where, null=True),
        model=_str(conv, "model", where, null=True),
        context=context,
        status=_str(conv, "status", where),
        pinned=pinned,
        tags=tuple(tags),
        created_at=_datetime(conv, "created_at", where),
        updated_at=_datetime(conv, "updated_at", where),
        trashed_at=_datetime(conv, "trashed_at", where, null=True),
        forked_from=forked_from,
        messages=messages,
    )


def read_message(record: Any, where: str) -> ImportedMessage:
    """A checked message record as an import record (``source_id`` is its id)."""
    msg = _keys(record, _MESSAGE_KEYS, "message", where)
    seq = _int(msg, "seq", where)
    if seq < 1:
        raise InvalidInput(f"{where}.seq: must be 1 or more, got {seq}")
    tokens = _int(msg, "tokens", where, null=True)
    if tokens is not None and tokens < 0:
        raise InvalidInput(f"{where}.tokens: must be 0 or more, got {tokens}")
    return ImportedMessage(
        source_id=_str(msg, "id", where),
        seq=seq,
        role=_str(msg, "role", where),
        kind=_str(msg, "kind", where),
        content=_str(msg, "content", where),
        status=_str(msg, "status", where),
        metadata=msg["metadata"],
        tokens=tokens,
        run_id=_str(msg, "run_id", where, null=True),
        created_at=_datetime(msg, "created_at", where),
        updated_at=_datetime(msg, "updated_at", where),
    )
