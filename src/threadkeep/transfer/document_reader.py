"""Reading threadkeep documents (``document.py``): JSON, JSON Lines, and ``.gz`` of both.

Which encoding a file holds is told by its first line: a JSON Lines document starts
with a complete ``{"type": "header", ...}`` object, a JSON document with an object that
the line does not close. Everything is read within the import limits
(``limits.py``), and both encodings stream: JSON Lines one bounded line at a time, a
JSON document through :class:`~threadkeep.transfer.json_stream.JsonStream`, one
message at a time, so memory holds one conversation whatever the size of the file, and
a 100 MB message is refused after reading the limit, not 100 MB. A JSON document whose
``format`` and ``format_version`` come after its conversations (threadkeep writes them
first; a hand-made document may not) cannot be streamed: it is read again and decoded
whole, which takes several times its size in memory.

Every record is checked as it is read, and errors name the place:
``backup.json: conversations[3].messages[12].role: expected a string`` or
``backup.jsonl:57: message lacks seq``. The counts and the checksum are verified at
the end; conversations are yielded as they are read, so a caller that must not write
a damaged document reads it to the end first (the importer does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from threadkeep.errors import InvalidInput, TooLarge
from threadkeep.transfer.document import (
    CONVERSATION_FIELDS,
    Checksum,
    canonical,
    check_header,
    read_conversation,
    read_message,
)
from threadkeep.transfer.formats.json_fields import json_line, type_name
from threadkeep.transfer.json_stream import JsonStream
from threadkeep.transfer.limits import ImportLimits, iter_lines, load_json, open_input
from threadkeep.transfer.records import ImportedConversation, ImportedMessage
from threadkeep.transfer.sniff import head

__all__ = ["detect", "files", "load"]

_MARK = re.compile(rb'"format"\s*:\s*"threadkeep"')
_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".gz")
_CONVERSATION_KEYS = frozenset(CONVERSATION_FIELDS)
_DOCUMENT_KEYS = frozenset(
    {
        "format",
        "format_version",
        "exported_at",
        "threadkeep_version",
        "conversations",
        "counts",
        "checksum",
    }
)


def detect(path: Path) -> bool:
    """A threadkeep document names its format in its first bytes."""
    return path.is_file() and _MARK.search(head(path, 4096)) is not None


def files(directory: Path) -> Iterator[Path]:
    """The threadkeep documents under ``directory``, each looked at when it is reached."""
    found = (p for p in sorted(directory.rglob("*")) if p.name.endswith(_SUFFIXES))
    return (p for p in found if detect(p))


def load(path: Path, limits: ImportLimits) -> Iterator[ImportedConversation]:
    """The conversations of a threadkeep document, checked against its checksum."""
    name = path.name
    with open_input(path, limits) as stream:
        first = stream.readline(limits.max_line_bytes + 1)
        header = _jsonl_header(first)
        if header is not None:
            yield from _jsonl(stream, name, header, limits)
            return
        try:
            yield from _json_stream(JsonStream(stream, name, limits, start=first), name, limits)
            return
        except _HeaderAfterConversations:
            pass  # nothing was yielded: read it again, whole
    with open_input(path, limits) as stream:
        data = load_json(stream.read(), name, limits)
    yield from _json(data, name, limits)


class _HeaderAfterConversations(Exception):
    """The document names its format only after its conversations: it is read whole."""


def _jsonl_header(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None  # not a JSON Lines header: read as a JSON document, checked there
    if isinstance(record, dict) and record.get("type") == "header":
        return record
    return None


def _mismatch(name: str, stated: Any, computed: str) -> InvalidInput:
    return InvalidInput(
        f"{name}: checksum mismatch: the document says {stated!r:.80}, its content hashes "
        f"to {computed}; it was changed or damaged after export"
    )


def _check_counts(name: str, stated: Any, conversations: int, messages: int) -> None:
    if stated != {"conversations": conversations, "messages": messages}:
        raise InvalidInput(
            f"{name}: counts say {stated!r:.80} but the document holds {conversations} "
            f"conversations and {messages} messages"
        )


def _check_length(raw: Any, where: str, limits: ImportLimits) -> None:
    """Refuse a message longer than the size limit before encoding it again (a character
    is at least one UTF-8 byte, so this never refuses what the store would take)."""
    content = raw.get("content") if isinstance(raw, dict) else None
    if isinstance(content, str) and len(content) > limits.max_message_bytes:
        raise TooLarge(
            f"{where}.content: {len(content):,} characters is over the message size limit "
            f"of {limits.max_message_bytes:,} bytes (setting max_message_bytes)"
        )


def _too_many(where: str, limits: ImportLimits) -> TooLarge:
    return TooLarge(
        f"{where}: more than {limits.max_messages:,} messages in one import "
        "(setting import_max_messages)"
    )


def _json(data: Any, name: str, limits: ImportLimits) -> Iterator[ImportedConversation]:
    if not isinstance(data, dict):
        raise InvalidInput(f"{name}: expected a threadkeep document object, got {type_name(data)}")
    check_header(data, name)
    _check_document_keys(name, data.keys(), complete=True)
    conversations = data["conversations"]
    if not isinstance(conversations, list):
        raise InvalidInput(f"{name}.conversations: expected a list, got {type_name(conversations)}")
    checksum = Checksum()
    total = 0
    for index, item in enumerate(conversations):
        where = f"{name}: conversations[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where}: expected a conversation object, got {type_name(item)}")
        fields = {key: value for key, value in item.items() if key != "messages"}
        if "messages" not in item:
            raise InvalidInput(f"{where}: conversation lacks messages")
        raw_messages = item["messages"]
        if not isinstance(raw_messages, list):
            raise InvalidInput(f"{where}.messages: expected a list, got {type_name(raw_messages)}")
        total += len(raw_messages)
        if total > limits.max_messages:
            raise _too_many(where, limits)
        read_conversation(fields, where, file=name)  # checks the fields before the messages
        checksum.add(canonical(fields))
        messages = []
        for position, raw in enumerate(raw_messages):
            spot = f"{where}.messages[{position}]"
            _check_length(raw, spot, limits)
            messages.append(read_message(raw, spot))
            checksum.add(canonical(raw))
        yield read_conversation(fields, where, file=name, messages=tuple(messages))
    _check_counts(name, data["counts"], len(conversations), total)
    if data["checksum"] != checksum.value():
        raise _mismatch(name, data["checksum"], checksum.value())


def _json_stream(
    doc: JsonStream, name: str, limits: ImportLimits
) -> Iterator[ImportedConversation]:
    """A JSON document read a value at a time, with the checks of :func:`_json`."""
    if doc.peek() != "{":
        data = doc.value(name, depth=0)
        raise InvalidInput(f"{name}: expected a threadkeep document object, got {type_name(data)}")
    fields: dict[str, Any] = {}
    checksum = Checksum()
    counted: tuple[int, int] | None = None
    for key in doc.members(name):
        if key in fields or (key == "conversations" and counted is not None):
            raise InvalidInput(f"{name}: the document has two {key!r} fields")
        if key != "conversations":
            fields[key] = doc.value(name, depth=1, limit=limits.max_line_bytes)
            continue
        if "format" not in fields or "format_version" not in fields:
            raise _HeaderAfterConversations
        check_header(fields, name)
        _check_document_keys(name, fields.keys())
        counted = yield from _streamed_conversations(doc, name, checksum, limits)
    doc.end()
    if counted is None:
        check_header(fields, name)
        _check_document_keys(name, fields.keys(), complete=True)
    else:
        _check_document_keys(name, {*fields, "conversations"}, complete=True)
        _check_counts(name, fields["counts"], *counted)
        if fields["checksum"] != checksum.value():
            raise _mismatch(name, fields["checksum"], checksum.value())


def _check_document_keys(name: str, keys: Iterable[str], *, complete: bool = False) -> None:
    unknown = set(keys) - _DOCUMENT_KEYS
    if unknown:
        raise InvalidInput(f"{name}: unknown document field(s) {', '.join(sorted(unknown))}")
    missing = _DOCUMENT_KEYS - set(keys)
    if complete and missing:
        raise InvalidInput(f"{name}: the document lacks {', '.join(sorted(missing))}")


def _streamed_conversations(
    doc: JsonStream, name: str, checksum: Checksum, limits: ImportLimits
) -> Generator[ImportedConversation, None, tuple[int, int]]:
    """The ``conversations`` list, one conversation at a time; returns the counts."""
    if doc.peek() != "[":
        value = doc.value(f"{name}.conversations", depth=1)
        raise InvalidInput(f"{name}.conversations: expected a list, got {type_name(value)}")
    conversations = total = 0
    for index in doc.elements(f"{name}.conversations"):
        where = f"{name}: conversations[{index}]"
        if doc.peek() != "{":
            value = doc.value(where, depth=2)
            raise InvalidInput(f"{where}: expected a conversation object, got {type_name(value)}")
        fields: dict[str, Any] = {}
        messages: list[ImportedMessage] | None = None
        held: list[bytes] = []  # message encodings, when messages come before the fields
        complete = False
        for key in doc.members(where):
            if key in fields or (key == "messages" and messages is not None):
                raise InvalidInput(f"{where}: the conversation has two {key!r} fields")
            if key != "messages":
                fields[key] = doc.value(f"{where}.{key}", depth=3, limit=limits.max_line_bytes)
                continue
            complete = fields.keys() >= _CONVERSATION_KEYS
            if complete:
                read_conversation(fields, where, file=name)  # the fields before the messages
                checksum.add(canonical(fields))
            messages = []
            if doc.peek() != "[":
                value = doc.value(f"{where}.messages", depth=3)
                raise InvalidInput(f"{where}.messages: expected a list, got {type_name(value)}")
            for position in doc.elements(f"{where}.messages"):
                spot = f"{where}.messages[{position}]"
                total += 1
                if total > limits.max_messages:
                    raise _too_many(where, limits)
                raw = doc.value(spot, depth=4, limit=limits.max_line_bytes)
                _check_length(raw, spot, limits)
                messages.append(read_message(raw, spot))
                (checksum.add if complete else held.append)(canonical(raw))
        if messages is None:
            raise InvalidInput(f"{where}: conversation lacks messages")
        conversation = read_conversation(fields, where, file=name, messages=tuple(messages))
        if not complete:
            checksum.add(canonical(fields))
            for encoded in held:
                checksum.add(encoded)
        conversations += 1
        yield conversation
    return conversations, total


def _jsonl(
    stream: IO[bytes], name: str, header: dict[str, Any], limits: ImportLimits
) -> Iterator[ImportedConversation]:
    check_header(header, f"{name}:1")
    checksum = Checksum()
    current: tuple[dict[str, Any], str] | None = None
    messages: list[ImportedMessage] = []
    conversations = total = 0
    trailer: dict[str, Any] | None = None
    for lineno, text in iter_lines(stream, name, limits, start=2):  # the header was line 1
        where = f"{name}:{lineno}"
        if not text.strip():
            continue
        if trailer is not None:
            raise InvalidInput(f"{where}: content after the trailer line")
        record = json_line(text, where, limits)
        kind = record.pop("type", None)
        if kind == "conversation":
            if current is not None:
                yield read_conversation(current[0], current[1], file=name, messages=tuple(messages))
            read_conversation(record, where, file=name)
            checksum.add(canonical(record))
            current, messages = (record, where), []
            conversations += 1
        elif kind == "message":
            if current is None:
                raise InvalidInput(f"{where}: a message before any conversation line")
            total += 1
            if total > limits.max_messages:
                raise _too_many(where, limits)
            messages.append(read_message(record, where))
            checksum.add(canonical(record))
        elif kind == "trailer":
            trailer = record
            if current is not None:
                yield read_conversation(current[0], current[1], file=name, messages=tuple(messages))
                current = None
        else:
            raise InvalidInput(
                f"{where}: unknown line type {kind!r:.40} (expected conversation, message "
                "or trailer)"
            )
    if trailer is None:
        raise InvalidInput(
            f"{name}: ends without its trailer line; the file is truncated (an export that "
            "did not finish, or a partial copy)"
        )
    _check_counts(name, trailer.get("counts"), conversations, total)
    if trailer.get("checksum") != checksum.value():
        raise _mismatch(name, trailer.get("checksum"), checksum.value())
