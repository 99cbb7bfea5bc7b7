"""Bulk import: many conversations with all their messages, in one transaction.

:meth:`ImportsMixin.import_conversations` is what ``threadkeep.transfer.importer``
writes through once it has read and checked a whole input; it is also usable on its
own. Every item is a :class:`ConversationImport` carrying an ``import_key`` — a digest
of where it came from — and:

* an item whose ``import_key`` this owner already has (or that came earlier in the
  same call) is skipped, so importing the same source twice duplicates nothing;
* an item that asks for an ``id`` gets it when no conversation (of any owner) has it,
  and a new UUIDv7 otherwise (counted as renamed);
* messages are inserted in bulk with seqs ``1..n`` — or with the seqs the item gives,
  which must be contiguous and increasing (a conversation the message cap has pruned
  starts past 1) — and the counters (``last_seq``, ``message_count``,
  ``token_count``, ``preview``) are set from them, never recomputed by a scan; the
  search indexes follow on their own (triggers, generated columns);
* ``redact_on_write`` applies as on every other write; the message cap keeps the
  newest messages, as if they had been appended one by one.

Items may be a lazy iterable: each is checked (the same checks as an append, errors
naming ``item.place``) before its rows are written, and any error rolls the whole
transaction back, so the call is all or nothing. :func:`check_conversation_import`
runs those checks alone, without a database, for a reader that wants to refuse a bad
input before taking the write lock. One ``conversation.created`` event (with
``imported=True``) per written conversation is published after the commit.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from threadkeep.db import imports as import_rows
from threadkeep.db import messages as message_rows
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
from threadkeep.store._base import (
    _PREVIEW_ROLES,
    StoreBase,
    _check_bool,
    _check_datetime,
    _conversation_values,
    _now,
)
from threadkeep.store.audit import write_audit

__all__ = [
    "ConversationImport",
    "ImportResult",
    "ImportsMixin",
    "MessageImport",
    "check_conversation_import",
]

# Messages are inserted this many at a time, so a huge conversation never sits in
# memory as rows twice.
_BATCH = 2_000


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


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What :meth:`ImportsMixin.import_conversations` wrote.

    ``conversation_ids`` are the ids written, in input order; ``skipped`` the import
    keys passed over as already imported; ``renamed`` how many items got a new id
    because theirs was taken; ``redacted`` what ``redact_on_write`` masked, by kind.
    """

    conversation_ids: tuple[str, ...]
    messages: int
    skipped: tuple[str, ...]
    renamed: int
    redacted: dict[str, int]


@dataclass(slots=True)
class _Prepared:
    conversation: Conversation
    messages: list[dict[str, Any]]
    redacted: Counter[str]


class _Checker:
    """The checks and defaults of one import call (settings, redactor, the time)."""

    def __init__(
        self, settings: Settings, at: dt.datetime, preview: Callable[[str | None], str | None]
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

    def prepare(self, item: ConversationImport, owner: str) -> _Prepared:
        if not isinstance(item, ConversationImport):
            raise InvalidInput(f"expected a ConversationImport, got {type(item).__name__}")
        where = item.place or "import"
        try:
            return self._prepare(item, owner, where)
        except ThreadkeepError as error:
            raise type(error)(f"{where}: {error.message}") from None

    def _prepare(self, item: ConversationImport, owner: str, where: str) -> _Prepared:
        check_short_text(item.import_key, "import_key", max_length=200)
        counts: Counter[str] = Counter()
        messages = list(item.messages)
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
        for offset, message in enumerate(messages):
            row = self._message(message, previous, counts, f"message {first_seq + offset}")
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
        latest_text = next(
            (
                row["content"]
                for row in reversed(rows)
                if row["kind"] == "text" and row["role"] in _PREVIEW_ROLES
            ),
            None,
        )
        conversation = Conversation(
            id="" if item.id is None else check_uuid(item.id, what="conversation id"),
            owner=owner,
            title=check_title(self._masked(check_title(item.title), counts)),
            mode=str(check_short_text(item.mode, "mode")),
            provider=check_short_text(item.provider, "provider", optional=True),
            provider_session_id=session,
            model=check_short_text(item.model, "model", max_length=200, optional=True),
            context=check_context(
                self._masked(check_context(item.context, self.limit), counts), self.limit
            ),
            status=status,
            pinned=_check_bool(item.pinned, "pinned"),
            tags=tuple(check_tags(item.tags)),
            created_at=created,
            updated_at=updated,
            message_count=len(rows),
            last_seq=first_seq + len(rows) - 1 if rows else 0,
            token_count=sum(row["tokens"] or 0 for row in rows),
            preview=self.preview(latest_text),
            forked_from=forked,
            trashed_at=trashed,
        )
        return _Prepared(conversation, rows, counts)

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


def check_conversation_import(item: ConversationImport, settings: Settings) -> None:
    """Run every check :meth:`ImportsMixin.import_conversations` runs on ``item``.

    Raises the same ``InvalidInput``/``TooLarge`` the import would (naming
    ``item.place``), without touching a database.
    """
    _Checker(settings, _now(), lambda text: text).prepare(item, "check")


class ImportsMixin(StoreBase):
    """The bulk-import part of :class:`~threadkeep.store.ConversationStore`."""

    def import_conversations(self, items: Iterable[ConversationImport]) -> ImportResult:
        """Write every item (with its messages) in one transaction; see the module doc.

        Returns what was written, skipped and renamed. Any error — in an item, or
        raised by a lazy ``items`` while it is read — rolls everything back.
        """
        checker = _Checker(self._settings, _now(), self._preview)
        written: list[tuple[str, int]] = []
        skipped: list[str] = []
        renamed = 0
        redacted: Counter[str] = Counter()
        seen: set[str] = set()
        with self._db.write() as conn:
            for item in items:
                prepared = checker.prepare(item, self._owner)
                key = item.import_key
                if key in seen or import_rows.import_key_known(conn, self._owner, key):
                    skipped.append(key)
                    continue
                seen.add(key)
                wanted = prepared.conversation.id
                cid = wanted
                if not wanted or import_rows.id_taken(conn, wanted):
                    cid = new_id()
                    renamed += bool(wanted)
                values = _conversation_values(prepared.conversation)
                values.update(id=cid, import_key=key)
                import_rows.insert_conversation(conn, values)
                rows = prepared.messages
                for row in rows:
                    row["conversation_id"] = cid
                for start in range(0, len(rows), _BATCH):
                    message_rows.insert(conn, rows[start : start + _BATCH])
                redacted.update(prepared.redacted)
                written.append((cid, len(rows)))
                write_audit(
                    self, conn, "import", cid, {"messages": len(rows), "source": item.place}
                )
        self._publish(
            self._event("conversation.created", cid, imported=True, messages=count)
            for cid, count in written
        )
        return ImportResult(
            conversation_ids=tuple(cid for cid, _ in written),
            messages=sum(count for _, count in written),
            skipped=tuple(skipped),
            renamed=renamed,
            redacted=dict(redacted),
        )
