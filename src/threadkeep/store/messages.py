"""Messages: append (idempotent, conditional), update, read pages, pop, clear, stats.

An append is made in two steps: checking the input and building the rows gives a
:class:`PendingAppend` (the transaction's work, and the step after the commit that
makes the answer and publishes the events); writing it is ``write()`` for the sync
store and ``await write_async()`` for the async one (``aio.py``), which on SQLite waits
for the group commit without a worker thread. One implementation of every rule, two
ways to wait.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from threadkeep.db import conversations as conversation_rows
from threadkeep.db import messages as message_rows
from threadkeep.db.engine import Connection, Database
from threadkeep.errors import Conflict, InvalidInput, NotFound
from threadkeep.ids import check_message_id, check_uuid, new_id
from threadkeep.inputs import (
    check_content,
    check_json,
    check_kind,
    check_limit,
    check_message_status,
    check_nonnegative,
    check_role,
    check_short_text,
)
from threadkeep.models import (
    ConversationStats,
    Message,
    MessageDraft,
)
from threadkeep.store._base import (
    _PREVIEW_ROLES,
    UNSET,
    StoreBase,
    _message_from_values,
    _now,
    _Unset,
)
from threadkeep.store.retention import cap_messages

__all__ = ["MessagesMixin", "PendingAppend"]

# What a keyed append's transaction found and wrote: the stored messages of keys already
# used, the new rows by key, every new row, and how many old messages the cap pruned.
_KeyedWrite = tuple[dict[str, Message], dict[str, dict[str, Any]], list[dict[str, Any]], int]


@dataclasses.dataclass(frozen=True, slots=True)
class PendingAppend:
    """A checked append not yet written: ``work`` runs inside the write transaction,
    ``finish`` turns its result into the stored messages after the commit (and
    publishes their events)."""

    database: Database
    work: Callable[[Connection], Any]
    finish: Callable[[Any], list[Message]]

    def write(self) -> list[Message]:
        """Write it (this thread waits for the commit); the stored messages."""
        return self.finish(self.database.write_grouped(self.work))

    async def write_async(self) -> list[Message]:
        """Write it from a coroutine (see ``Database.write_grouped_async``)."""
        return await self.database.write_grouped_async(self.work, self.finish)


class MessagesMixin(StoreBase):
    """The messages part of :class:`~threadkeep.store.ConversationStore`."""

    def append_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        *,
        kind: str = "text",
        metadata: Any = None,
        tokens: int | None = None,
        run_id: str | None = None,
        status: str = "complete",
        id: str | None = None,
        idempotency_key: str | None = None,
        expected_last_seq: int | None = None,
    ) -> Message:
        """Append one message; its seq is the conversation's next.

        ``idempotency_key``: a retry with the same key returns the first result and
        writes nothing. ``expected_last_seq``: raise ``Conflict`` unless the
        conversation's last seq is this (someone else appended first).
        """
        return self._message_append(
            conversation_id,
            role,
            content,
            kind,
            metadata,
            tokens,
            run_id,
            status,
            id,
            idempotency_key,
            expected_last_seq,
        ).write()[0]

    def _message_append(
        self,
        conversation_id: str,
        role: str,
        content: str,
        kind: str,
        metadata: Any,
        tokens: int | None,
        run_id: str | None,
        status: str,
        id: str | None,
        idempotency_key: str | None,
        expected_last_seq: int | None,
    ) -> PendingAppend:
        """:meth:`append_message` checked and built, not yet written."""
        cid = check_uuid(conversation_id, what="conversation id")
        check_nonnegative(expected_last_seq, "expected_last_seq")
        at = _now()
        row = self._message_row(
            cid, at, role, content, kind, metadata, tokens, run_id, status, id, idempotency_key
        )
        return self._pending_append(cid, [row], at, expected_last_seq)

    def append_messages(
        self,
        conversation_id: str,
        drafts: Sequence[MessageDraft],
        *,
        expected_last_seq: int | None = None,
    ) -> list[Message]:
        """Append several messages atomically (all or none), in order; return them.

        Drafts whose ``idempotency_key`` is already stored return the stored message
        instead of a new one; a repeated key within the batch is written once.

        With ``max_messages_per_conversation`` set, the oldest messages past the cap are
        deleted in the same transaction (then a ``conversation.updated`` event says how
        many); a batch larger than the cap keeps only its newest messages.
        """
        return self._messages_append(conversation_id, drafts, expected_last_seq).write()

    def _messages_append(
        self,
        conversation_id: str,
        drafts: Sequence[MessageDraft],
        expected_last_seq: int | None,
    ) -> PendingAppend:
        """:meth:`append_messages` checked and built, not yet written."""
        cid = check_uuid(conversation_id, what="conversation id")
        check_nonnegative(expected_last_seq, "expected_last_seq")
        if isinstance(drafts, MessageDraft) or not isinstance(drafts, Sequence):
            raise InvalidInput("drafts must be a list of MessageDraft")
        if not drafts:
            raise InvalidInput("append_messages needs at least one MessageDraft")
        at = _now()
        rows = []
        for draft in drafts:
            if not isinstance(draft, MessageDraft):
                raise InvalidInput(f"expected a MessageDraft, got {type(draft).__name__}")
            rows.append(
                self._message_row(
                    cid,
                    at,
                    draft.role,
                    draft.content,
                    draft.kind,
                    draft.metadata,
                    draft.tokens,
                    draft.run_id,
                    draft.status,
                    draft.id,
                    draft.idempotency_key,
                )
            )
        return self._pending_append(cid, rows, at, expected_last_seq)

    def _pending_append(
        self,
        cid: str,
        rows: list[dict[str, Any]],
        at: dt.datetime,
        expected_last_seq: int | None,
    ) -> PendingAppend:
        """The append transaction for checked rows (one or many), then its events.

        The transaction goes through ``Database.write_grouped``: on SQLite with group
        commit, appends arriving together share one commit, each in its own savepoint,
        and this returns (and publishes) only after that commit. The common case (one
        message, no idempotency key, no cap) is the hot path of every chat turn, so it
        is kept free of the batch bookkeeping.
        """
        if any(row["idempotency_key"] is not None for row in rows):
            return self._keyed_append(cid, rows, at, expected_last_seq)

        def finish(pruned: int) -> list[Message]:
            self._publish_appended(cid, rows, at, pruned)
            return [_message_from_values(row) for row in rows]

        return PendingAppend(
            self._db, lambda conn: self._write_rows(conn, cid, rows, at, expected_last_seq), finish
        )

    def _keyed_append(
        self,
        cid: str,
        rows: list[dict[str, Any]],
        at: dt.datetime,
        expected_last_seq: int | None,
    ) -> PendingAppend:
        """Append rows some of which carry an idempotency key: stored keys are returned,
        not written again; a key repeated within ``rows`` is written once."""
        keys = [row["idempotency_key"] for row in rows if row["idempotency_key"] is not None]

        def work(conn: Connection) -> _KeyedWrite:
            # Lock the counter row first so a concurrent retry waits, then sees ours.
            if conversation_rows.get(conn, self._owner, cid, for_update=True) is None:
                raise self._not_found(cid)
            existing = message_rows.by_idempotency_keys(conn, cid, keys)
            fresh_keys: dict[str, dict[str, Any]] = {}
            fresh: list[dict[str, Any]] = []
            for row in rows:
                key = row["idempotency_key"]
                if key is None:
                    fresh.append(row)
                elif key not in existing and key not in fresh_keys:
                    fresh_keys[key] = row
                    fresh.append(row)
            pruned = self._write_rows(conn, cid, fresh, at, expected_last_seq) if fresh else 0
            return existing, fresh_keys, fresh, pruned

        def finish(written: _KeyedWrite) -> list[Message]:
            existing, fresh_keys, fresh, pruned = written
            self._publish_appended(cid, fresh, at, pruned)
            return [
                existing[key]
                if key is not None and key in existing
                else _message_from_values(fresh_keys[key] if key is not None else row)
                for row in rows
                for key in (row["idempotency_key"],)
            ]

        return PendingAppend(self._db, work, finish)

    def _write_rows(
        self,
        conn: Connection,
        cid: str,
        fresh: list[dict[str, Any]],
        at: dt.datetime,
        expected_last_seq: int | None,
    ) -> int:
        """Inside the write: reserve seqs, insert, apply the cap; return how many pruned."""
        last = message_rows.reserve_seqs(
            conn,
            self._owner,
            cid,
            len(fresh),
            tokens=sum(row["tokens"] or 0 for row in fresh),
            at=at,
            preview=self._preview_of_rows(fresh),
        )
        if last is None:
            raise self._not_found(cid)
        first = last - len(fresh) + 1
        if expected_last_seq is not None and first - 1 != expected_last_seq:
            raise Conflict(
                f"conversation {cid} has moved on: expected last seq "
                f"{expected_last_seq}, it is {first - 1}. Read the new messages "
                "and retry."
            )
        for offset, row in enumerate(fresh):
            row["seq"] = first + offset
        message_rows.insert(conn, fresh)
        return cap_messages(self, conn, cid, fresh)

    def _publish_appended(
        self, cid: str, fresh: list[dict[str, Any]], at: dt.datetime, pruned: int
    ) -> None:
        """After the commit: ``message.created`` per new message, and the cap's prune."""
        events = [
            self._event("message.created", cid, at, message_id=row["id"], seq=row["seq"])
            for row in fresh
        ]
        if pruned:
            events.append(
                self._event("conversation.updated", cid, at, fields=["messages"], pruned=pruned)
            )
        self._publish(events)

    def _message_row(
        self,
        cid: str,
        at: dt.datetime,
        role: object,
        content: object,
        kind: object,
        metadata: Any,
        tokens: object,
        run_id: object,
        status: object,
        message_id: object,
        key: object,
    ) -> dict[str, Any]:
        """A checked message row (seq still 0); every value is checked inline.

        With ``redact_on_write`` off, content and metadata are checked here rather than
        through ``_on_write`` (which would do the same): one call fewer per value on the
        hot path of every append.
        """
        limit = self._settings.max_message_bytes
        if key is not None:
            check_short_text(key, "idempotency_key", max_length=200)
        return {
            "id": new_id() if message_id is None else check_message_id(message_id),
            "conversation_id": cid,
            "seq": 0,
            "role": check_role(role),
            "kind": check_kind(kind),
            "content": (
                check_content(content, limit)
                if self._write_redactor is None
                else self._on_write(check_content, content, limit)
            ),
            "status": check_message_status(status),
            "metadata": (
                check_json(metadata, "metadata", limit)
                if self._write_redactor is None
                else self._on_write(check_json, metadata, "metadata", limit)
            ),
            "tokens": check_nonnegative(tokens, "tokens"),
            "run_id": None if run_id is None else check_uuid(run_id, what="run_id"),
            "idempotency_key": key,
            "created_at": at,
            "updated_at": at,
        }

    def update_message(
        self,
        conversation_id: str,
        message_id: str,
        *,
        content: str | _Unset = UNSET,
        status: str | _Unset = UNSET,
        metadata: Any = UNSET,
        tokens: int | _Unset | None = UNSET,
    ) -> Message:
        """Change a stored message in place (a streaming reply growing, a framework upsert).

        Keeps its seq; moves the conversation's ``updated_at`` and keeps its token count
        and preview right.
        """
        cid = check_uuid(conversation_id, what="conversation id")
        mid = check_message_id(message_id)
        limit = self._settings.max_message_bytes
        changes: dict[str, Any] = {}
        if not isinstance(content, _Unset):
            changes["content"] = self._on_write(check_content, content, limit)
        if not isinstance(status, _Unset):
            changes["status"] = check_message_status(status)
        if not isinstance(metadata, _Unset):
            changes["metadata"] = self._on_write(check_json, metadata, "metadata", limit)
        if not isinstance(tokens, _Unset):
            changes["tokens"] = check_nonnegative(tokens, "tokens")
        at = _now()
        with self._db.write() as conn:
            # The conversation's row lock orders concurrent updates of its counters.
            conversation = conversation_rows.get(conn, self._owner, cid, for_update=True)
            current = (
                None if conversation is None else message_rows.get_one(conn, self._owner, cid, mid)
            )
            if conversation is None or current is None:
                raise NotFound(f"message {mid} not found in conversation {cid}")
            if not changes:
                return current
            changes["updated_at"] = at
            message_rows.update_one(conn, cid, mid, changes)
            counters: dict[str, Any] = {"updated_at": at}
            if "tokens" in changes:
                delta = (changes["tokens"] or 0) - (current.tokens or 0)
                counters["token_count"] = conversation.token_count + delta
            if "content" in changes and current.kind == "text" and current.role in _PREVIEW_ROLES:
                latest = message_rows.latest_text(conn, cid)
                counters["preview"] = self._preview(latest)
            conversation_rows.update(conn, self._owner, cid, counters)
        self._publish([self._event("message.updated", cid, message_id=mid, seq=current.seq)])
        return dataclasses.replace(current, **changes)

    def get_messages(
        self,
        conversation_id: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[Message]:
        """Messages with ``after_seq < seq < before_seq``, by seq (ascending by default).

        ``limit`` caps the count (from the start of the order: with ``descending`` the
        newest). With no bounds, the whole conversation.
        """
        cid = check_uuid(conversation_id, what="conversation id")
        check_nonnegative(after_seq, "after_seq")
        check_nonnegative(before_seq, "before_seq")
        if limit is not None:
            check_limit(limit, maximum=100_000)
        with self._db.query() as conn:
            found = message_rows.get_page(
                conn,
                self._owner,
                cid,
                after_seq=after_seq,
                before_seq=before_seq,
                limit=limit,
                descending=descending,
            )
            if not found and not conversation_rows.exists(conn, self._owner, cid):
                raise self._not_found(cid)
        return found

    def tail_messages(self, conversation_id: str, n: int) -> list[Message]:
        """The last ``n`` messages, oldest first, reading only those rows."""
        cid = check_uuid(conversation_id, what="conversation id")
        check_limit(n, what="n", maximum=100_000)
        with self._db.query() as conn:
            found = message_rows.tail(conn, self._owner, cid, n)
            if not found and not conversation_rows.exists(conn, self._owner, cid):
                raise self._not_found(cid)
        return found

    def get_message(self, conversation_id: str, message_id: str) -> Message:
        """The message with this id in the conversation, or ``NotFound``."""
        cid = check_uuid(conversation_id, what="conversation id")
        mid = check_message_id(message_id)
        with self._db.read() as conn:
            found = message_rows.get_one(conn, self._owner, cid, mid)
        if found is None:
            raise NotFound(f"message {mid} not found in conversation {cid}")
        return found

    def pop_message(self, conversation_id: str) -> Message | None:
        """Remove and return the last message; ``None`` when there are no messages.

        Its seq is given back: the next append reuses it, so seqs stay gapless.
        """
        cid = check_uuid(conversation_id, what="conversation id")
        at = _now()
        with self._db.write() as conn:
            conversation = conversation_rows.get(conn, self._owner, cid, for_update=True)
            if conversation is None:
                raise self._not_found(cid)
            if conversation.message_count == 0:
                # Not last_seq: a fork of a capped conversation can start empty at seq n.
                return None
            last = message_rows.tail(conn, self._owner, cid, 1)
            message_rows.delete_last(conn, cid, conversation.last_seq)
            popped = last[0] if last else None
            tokens = popped.tokens or 0 if popped is not None else 0
            conversation_rows.update(
                conn,
                self._owner,
                cid,
                {
                    "last_seq": conversation.last_seq - 1,
                    "message_count": conversation.message_count - 1,
                    "token_count": conversation.token_count - tokens,
                    "updated_at": at,
                    "preview": self._preview(message_rows.latest_text(conn, cid)),
                },
            )
        self._publish([self._event("conversation.updated", cid, fields=["messages"])])
        return popped

    def delete_message(self, conversation_id: str, message_id: str) -> Message:
        """Delete one message by id and return it (``NotFound`` if there is none).

        The last message's seq is given back, as :meth:`pop_message` does; a message
        deleted from the middle leaves its seq unused (seqs stay unique and ordered, and
        no other message is renumbered, so cursors held by readers stay valid). For
        frameworks whose items can be deleted one by one (ChatKit's
        ``delete_thread_item``).
        """
        cid = check_uuid(conversation_id, what="conversation id")
        mid = check_message_id(message_id)
        at = _now()
        with self._db.write() as conn:
            conversation = conversation_rows.get(conn, self._owner, cid, for_update=True)
            if conversation is None:
                raise self._not_found(cid)
            found = message_rows.get_one(conn, self._owner, cid, mid)
            if found is None:
                raise NotFound(f"message {mid} not found in conversation {cid}")
            message_rows.delete_one(conn, cid, found.seq)
            last_seq = conversation.last_seq
            if found.seq == last_seq:
                last_seq -= 1
            conversation_rows.update(
                conn,
                self._owner,
                cid,
                {
                    "last_seq": last_seq,
                    "message_count": conversation.message_count - 1,
                    "token_count": conversation.token_count - (found.tokens or 0),
                    "updated_at": at,
                    "preview": self._preview(message_rows.latest_text(conn, cid)),
                },
            )
        self._publish([self._event("conversation.updated", cid, fields=["messages"])])
        return found

    def clear_messages(self, conversation_id: str) -> int:
        """Delete every message of the conversation (it stays); return how many."""
        cid = check_uuid(conversation_id, what="conversation id")
        with self._db.write() as conn:
            conversation = conversation_rows.get(conn, self._owner, cid, for_update=True)
            if conversation is None:
                raise self._not_found(cid)
            message_rows.clear(conn, cid)
            conversation_rows.update(
                conn,
                self._owner,
                cid,
                {
                    "last_seq": 0,
                    "message_count": 0,
                    "token_count": 0,
                    "preview": None,
                    "updated_at": _now(),
                },
            )
        self._publish([self._event("conversation.updated", cid, fields=["messages"])])
        return conversation.message_count

    def conversation_stats(self, conversation_id: str) -> ConversationStats:
        """Counts, tokens and first/last activity, from counters and two index lookups."""
        cid = check_uuid(conversation_id, what="conversation id")
        with self._db.read() as conn:
            conversation = conversation_rows.get(conn, self._owner, cid)
            if conversation is None:
                raise self._not_found(cid)
            first, last = message_rows.first_and_last_created(conn, cid, conversation.last_seq)
        return ConversationStats(
            conversation_id=cid,
            message_count=conversation.message_count,
            last_seq=conversation.last_seq,
            token_count=conversation.token_count,
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
            first_message_at=first,
            last_message_at=last,
        )
