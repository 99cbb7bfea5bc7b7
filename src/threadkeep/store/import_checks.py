"""What a bulk import is made of, and the checks it passes before anything is written.

:class:`ConversationImport` and :class:`MessageImport` are the items
:meth:`~threadkeep.store.ConversationStore.import_conversations` takes
(``store/imports.py`` says what it does with them). :class:`Checker` turns one item
into the rows to write — every check of an append (sizes, roles, kinds, JSON, ids,
times), ``redact_on_write``, the message cap, the counters — naming the item's place in
every error; :func:`import_checker` runs the same checks without a database.

An ``appendable`` item's conversation records what it was imported from in
``context["source"]`` (:func:`source_record`): ``messages``, how many; ``digest``,
:func:`identities` of them; ``last``, :func:`body_digest` of the last one; ``seq``, the
conversation's ``last_seq`` once written. A re-import compares against that record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from threadkeep.errors import InvalidInput, ThreadkeepError
from threadkeep.ids import check_message_id, check_uuid, new_id
from threadkeep.inputs import (
    check_choice,
    check_content,
    check_context,
    check_json,
    check_kind,
    check_message_status,
    check_nonnegative,
    check_role,
    check_short_text,
    check_tags,
    check_title,
)
from threadkeep.models import CONVERSATION_STATUSES, Conversation, ForkedFrom
from threadkeep.redact import Redactor
from threadkeep.settings import Settings
from threadkeep.store._base import _check_bool, _check_datetime, _now

__all__ = [
    "Checker",
    "ConversationImport",
    "MessageImport",
    "Prepared",
    "body_digest",
    "identities",
    "import_checker",
    "recorded_source",
    "source_record",
    "with_record",
]


@dataclass(frozen=True, slots=True)
class MessageImport:
    """One message to import; ``None`` times default to the previous message's."""

    role: str
    content: str
    kind: str = "text"
    status: str = "complete"
    metadata: Any = None
    tokens: int | None = None
    id: str | None = None
    seq: int | None = None
    run_id: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ConversationImport:
    """One conversation to import, with its messages in order.

    ``import_key`` identifies the source (at most 200 characters); ``place`` says where
    the item came from (``export.json: conversations[3]``) and starts every error
    message about it. ``None`` times default to the messages' (or now).
    ``appendable``: the source may grow; a re-import appends its new messages (see
    the module doc).
    """

    import_key: str
    messages: Sequence[MessageImport]
    place: str = ""
    id: str | None = None
    title: str | None = None
    mode: str = "chat"
    provider: str | None = None
    provider_session_id: str | None = None
    model: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    status: str = "active"
    pinned: bool = False
    tags: Sequence[str] = ()
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    trashed_at: dt.datetime | None = None
    forked_from: ForkedFrom | None = None
    appendable: bool = False


@dataclass(slots=True)
class Prepared:
    """One item checked: its conversation, its message rows, what redaction masked in
    all of it (``redacted``) and in each row (``row_redacted``, for a partial write)."""

    conversation: Conversation
    messages: list[dict[str, Any]]
    redacted: Counter[str]
    row_redacted: list[Counter[str]] = field(default_factory=list)


class Checker:
    """The checks and defaults of one import call (settings, redactor, the time);
    ``preview`` makes a conversation's preview from its message rows."""

    def __init__(
        self,
        settings: Settings,
        at: dt.datetime,
        preview: Callable[[Sequence[dict[str, Any]]], str | None],
    ) -> None:
        self.settings = settings
        self.preview = preview
        self.limit = settings.max_message_bytes
        self.redactor = Redactor(settings.redact_patterns) if settings.redact_on_write else None
        self.at = at

    def _masked(self, value: Any, counts: Counter[str]) -> Any:
        if self.redactor is None or value is None:
            return value
        try:
            masked, found = self.redactor.redact_value(value)
        except RecursionError:  # the redactor walks JSON recursively
            raise InvalidInput("a value is nested too deeply to be checked for secrets") from None
        counts.update(found)
        return masked

    def prepare(self, item: ConversationImport, owner: str) -> Prepared:
        if not isinstance(item, ConversationImport):
            raise InvalidInput(f"expected a ConversationImport, got {type(item).__name__}")
        where = item.place or "import"
        try:
            return self._prepare(item, owner, where)
        except ThreadkeepError as error:
            raise type(error)(f"{where}: {error.message}") from None

    def _prepare(self, item: ConversationImport, owner: str, where: str) -> Prepared:
        check_short_text(item.import_key, "import_key", max_length=200)
        counts: Counter[str] = Counter()
        messages = every = list(item.messages)
        cap = self.settings.max_messages_per_conversation
        first_seq = 1
        seqs = [m.seq for m in messages]
        if any(seq is not None for seq in seqs):
            first_seq = _contiguous(seqs)
        if cap is not None and len(messages) > cap:
            # As if appended one by one: the cap keeps the newest.
            first_seq += len(messages) - cap
            messages = messages[-cap:]
        created = _check_datetime(item.created_at, "created_at")
        rows: list[dict[str, Any]] = []
        ids: set[str] = set()
        previous = created or self.at
        row_redacted: list[Counter[str]] = []
        for offset, message in enumerate(messages):
            found: Counter[str] = Counter()
            row = self._message(message, previous, found, f"message {first_seq + offset}")
            counts.update(found)
            row_redacted.append(found)
            if row["id"] in ids:
                raise InvalidInput(
                    f"message {first_seq + offset}: id {row['id']!r:.80} is used twice in "
                    "this conversation; message ids are unique per conversation"
                )
            ids.add(row["id"])
            row["seq"] = first_seq + offset
            previous = row["created_at"]
            rows.append(row)
        if created is None:
            created = rows[0]["created_at"] if rows else self.at
        updated = _check_datetime(item.updated_at, "updated_at")
        if updated is None:
            updated = max([created, *(row["updated_at"] for row in rows[-1:])])
        status = check_choice(item.status, CONVERSATION_STATUSES, "status")
        trashed = _check_datetime(item.trashed_at, "trashed_at")
        if status != "trash":
            trashed = None
        elif trashed is None:
            trashed = updated
        forked = item.forked_from
        if forked is not None:
            if not isinstance(forked, ForkedFrom):
                raise InvalidInput("forked_from must be a ForkedFrom or None")
            forked = ForkedFrom(
                check_uuid(forked.conversation_id, what="forked_from conversation id"),
                check_nonnegative(forked.seq, "forked_from seq", optional=False) or 0,
            )
        session = item.provider_session_id
        if session is not None and not isinstance(session, str):
            raise InvalidInput("provider_session_id must be a string or null")
        context = item.context
        if _check_bool(item.appendable, "appendable"):
            last_seq = first_seq + len(rows) - 1 if rows else 0
            context = with_record(context, source_record(every, last_seq))
        conversation = Conversation(
            id="" if item.id is None else check_uuid(item.id, what="conversation id"),
            owner=owner,
            title=check_title(self._masked(check_title(item.title), counts)),
            mode=str(check_short_text(item.mode, "mode")),
            provider=check_short_text(item.provider, "provider", optional=True),
            provider_session_id=session,
            model=check_short_text(item.model, "model", max_length=200, optional=True),
            context=check_context(
                self._masked(check_context(context, self.limit), counts), self.limit
            ),
            status=status,
            pinned=_check_bool(item.pinned, "pinned"),
            tags=tuple(check_tags(item.tags)),
            created_at=created,
            updated_at=updated,
            message_count=len(rows),
            last_seq=first_seq + len(rows) - 1 if rows else 0,
            token_count=sum(row["tokens"] or 0 for row in rows),
            preview=self.preview(rows),
            forked_from=forked,
            trashed_at=trashed,
        )
        return Prepared(conversation, rows, counts, row_redacted)

    def _message(
        self, message: MessageImport, previous: dt.datetime, counts: Counter[str], where: str
    ) -> dict[str, Any]:
        if not isinstance(message, MessageImport):
            raise InvalidInput(f"{where}: expected a MessageImport, got {type(message).__name__}")
        try:
            content = check_content(message.content, self.limit)
            metadata = check_json(message.metadata, "metadata", self.limit)
            if self.redactor is not None:
                content = check_content(self._masked(content, counts), self.limit)
                metadata = check_json(self._masked(metadata, counts), "metadata", self.limit)
            created = _check_datetime(message.created_at, "created_at") or previous
            updated = _check_datetime(message.updated_at, "updated_at") or created
            return {
                "id": _message_id(message.id),
                "conversation_id": "",
                "seq": 0,
                "role": check_role(message.role),
                "kind": check_kind(message.kind),
                "content": content,
                "status": check_message_status(message.status),
                "metadata": metadata,
                "tokens": check_nonnegative(message.tokens, "tokens"),
                "run_id": None
                if message.run_id is None
                else check_uuid(message.run_id, what="run_id"),
                "idempotency_key": None,
                "created_at": created,
                "updated_at": updated,
            }
        except ThreadkeepError as error:
            raise type(error)(f"{where}: {error.message}") from None


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _message_id(value: str | None) -> str:
    if value is None:
        return new_id()
    if isinstance(value, str) and _UUID.fullmatch(value):
        return value  # the common case in documents, without the per-character check
    return check_message_id(value)


def _contiguous(seqs: Sequence[int | None]) -> int:
    """The first of ``seqs``, which must all be given, ≥ 1 and go up by one."""
    given: list[int] = []
    for offset, seq in enumerate(seqs):
        if seq is None:
            raise InvalidInput("give a seq for every message or for none")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= 2**31 - 1:
            raise InvalidInput(f"message {offset + 1}: seq must be a whole number ≥ 1")
        if given and seq != given[0] + offset:
            raise InvalidInput(
                f"message {offset + 1}: seq {seq} breaks the sequence (expected "
                f"{given[0] + offset}); seqs must be contiguous and increasing"
            )
        given.append(seq)
    return given[0]


def _encoded(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


def identities(messages: Sequence[MessageImport]) -> str:
    """SHA-256 over what identifies each message: role, kind and id (the content when
    it has no id). A reply that grows keeps its identity; an edited branch does not."""
    digest = hashlib.sha256()
    for message in messages:
        if message.id is not None:
            identity: list[Any] = [message.role, message.kind, message.id]
        else:
            identity = [message.role, message.kind, None, message.content]
        digest.update(_encoded(identity) + b"\n")
    return digest.hexdigest()


def body_digest(message: MessageImport) -> str:
    """SHA-256 of what may still change in a message its source is writing."""
    body = [message.content, message.metadata, message.tokens, message.status]
    return hashlib.sha256(_encoded(body)).hexdigest()


def source_record(messages: Sequence[MessageImport], last_seq: int) -> dict[str, Any]:
    """What an appendable import records in ``context["source"]`` (see the module doc)."""
    return {
        "messages": len(messages),
        "digest": identities(messages),
        "last": body_digest(messages[-1]) if messages else None,
        "seq": last_seq,
    }


def with_record(context: Any, record: dict[str, Any]) -> Any:
    if not isinstance(context, dict):
        return context  # refused by check_context, with its message
    source = context.get("source")
    if source is not None and not isinstance(source, dict):
        raise InvalidInput("context.source must be an object when the import is appendable")
    return {**context, "source": {**(source or {}), **record}}


def recorded_source(context: dict[str, Any]) -> tuple[int, str, str | None, int] | None:
    """The record of an appendable import, when the context holds a whole one."""
    source = context.get("source")
    if not isinstance(source, dict):
        return None
    count, digest, last, seq = (source.get(key) for key in ("messages", "digest", "last", "seq"))
    if not (isinstance(count, int) and isinstance(digest, str) and isinstance(seq, int)):
        return None
    return count, digest, last if isinstance(last, str) else None, seq


def import_checker(settings: Settings) -> Callable[[ConversationImport], None]:
    """A function that runs on an item every check
    :meth:`ImportsMixin.import_conversations` runs, without touching a database.

    It raises the same ``InvalidInput``/``TooLarge`` the import would (naming
    ``item.place``). One checker (and its redactor) serves every item of an import.
    """
    checker = Checker(settings, _now(), lambda rows: None)  # nothing is written

    def check(item: ConversationImport) -> None:
        checker.prepare(item, "check")

    return check
