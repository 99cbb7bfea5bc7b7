"""What an import produces before anything is written: plain, validated-later records.

A parser of any format yields :class:`ImportedConversation` values. They carry no
threadkeep ids — the importer assigns those — but they do carry where they came from
(:class:`Source`), so importing the same source again finds what was imported before
and duplicates nothing (SPEC S6.3/S6.4). Content the target model has no column for is
kept in ``metadata``, never dropped silently.

Records are frozen dataclasses with plain JSON-able fields; datetimes are aware UTC
or ``None`` when the source has none. ``provider``, ``provider_session_id`` and
``model`` are filled by a foreign format that knows them (``claude-code`` and ``codex``
name the session a runtime provider of the same name can resume); the other fields
after ``tags`` of a conversation and ``run_id``/``updated_at`` of a message are only
filled by threadkeep's own document format, which carries every field of the store.
A conversation ``id`` is kept when it is free in the target database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from threadkeep.models import ForkedFrom

__all__ = ["ImportedConversation", "ImportedMessage", "Source"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where a conversation came from: the format, the file, and its id in that file."""

    format: str
    file: str
    source_id: str


@dataclass(frozen=True, slots=True)
class ImportedMessage:
    """One message as a format describes it (role/kind/status use threadkeep's sets)."""

    role: str
    content: str
    kind: str = "text"
    status: str = "complete"
    metadata: Any = None
    tokens: int | None = None
    created_at: dt.datetime | None = None
    source_id: str | None = None
    run_id: str | None = None
    updated_at: dt.datetime | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class ImportedConversation:
    """One conversation as a format describes it, messages in order."""

    source: Source
    title: str | None
    messages: tuple[ImportedMessage, ...]
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    mode: str = "chat"
    context: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    id: str | None = None
    provider: str | None = None
    provider_session_id: str | None = None
    model: str | None = None
    status: str = "active"
    pinned: bool = False
    forked_from: ForkedFrom | None = None
    trashed_at: dt.datetime | None = None
