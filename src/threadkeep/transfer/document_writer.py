"""Streaming writers of threadkeep documents: JSON and JSON Lines (``document.py``).

Both write each record as soon as it arrives and keep nothing but counts and the
running checksum, so an export of any size needs the memory of one page of messages.
Each record is encoded once, canonically (``document.canonical``): those bytes go both
into the checksum and into the file. The JSON document is written in the same order
as it reads — header, conversations with their messages, then the counts and the
checksum, which are known only at the end — with one record per line so that people
and line-oriented tools can read it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import BinaryIO

from threadkeep.models import Conversation, Message
from threadkeep.transfer.document import (
    Checksum,
    canonical,
    conversation_record,
    header_record,
    message_record,
)

__all__ = ["JsonLinesWriter", "JsonWriter", "threadkeep_version"]


def threadkeep_version() -> str:
    """The installed threadkeep's version, written into every document header."""
    try:
        return version("threadkeep")
    except PackageNotFoundError:  # running from a source tree without metadata
        return "0.0.0"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _header(opening: bytes) -> bytes:
    """The header object (not part of the checksum), its keys in a fixed order."""
    record = header_record(_now(), threadkeep_version())
    return opening + json.dumps(record, separators=(",", ":")).encode()[1:]


class _Counted:
    def __init__(self) -> None:
        self.checksum = Checksum()
        self.conversation_count = 0
        self.message_count = 0

    def counts(self) -> bytes:
        return json.dumps(
            {"conversations": self.conversation_count, "messages": self.message_count},
            separators=(",", ":"),
        ).encode()


class JsonWriter(_Counted):
    """One JSON document: ``{header…, "conversations": [...], "counts", "checksum"}``."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self._out = out
        self._in_conversation = False
        self._first_message = True
        # The header fields first, "format" leading (people read it, detection finds it).
        out.write(_header(b"{")[:-1] + b',"conversations":[')

    def conversation(self, conversation: Conversation) -> None:
        encoded = canonical(conversation_record(conversation))
        self.checksum.add(encoded)
        lead = b"\n"
        if self._in_conversation:
            lead = b"\n]},\n"
        self._out.write(lead + encoded[:-1] + b',"messages":[')
        self._in_conversation = True
        self._first_message = True
        self.conversation_count += 1

    def messages(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        parts = []
        for message in messages:
            encoded = canonical(message_record(message))
            self.checksum.add(encoded)
            parts.append(encoded)
        lead = b"\n" if self._first_message else b",\n"
        self._out.write(lead + b",\n".join(parts))
        self._first_message = False
        self.message_count += len(messages)

    def close(self) -> None:
        tail = b"\n]}\n" if self._in_conversation else b""
        checksum = self.checksum.value().encode()
        self._out.write(
            tail + b'],"counts":' + self.counts() + b',"checksum":"' + checksum + b'"}\n'
        )


class JsonLinesWriter(_Counted):
    """JSON Lines: a header line, a line per conversation and per message, a trailer."""

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self._out = out
        out.write(_header(b'{"type":"header",') + b"\n")

    def conversation(self, conversation: Conversation) -> None:
        encoded = canonical(conversation_record(conversation))
        self.checksum.add(encoded)
        self._out.write(b'{"type":"conversation",' + encoded[1:] + b"\n")
        self.conversation_count += 1

    def messages(self, messages: Sequence[Message]) -> None:
        lines = []
        for message in messages:
            encoded = canonical(message_record(message))
            self.checksum.add(encoded)
            lines.append(b'{"type":"message",' + encoded[1:] + b"\n")
        self._out.write(b"".join(lines))
        self.message_count += len(messages)

    def close(self) -> None:
        checksum = self.checksum.value().encode()
        self._out.write(
            b'{"type":"trailer","counts":' + self.counts() + b',"checksum":"' + checksum + b'"}\n'
        )
