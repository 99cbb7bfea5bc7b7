"""ConversationStore: the one service every surface calls.

Policy lives here, SQL in ``db/``. Each public method

1. checks its input (``inputs.py``) before touching the database, raising a typed error;
2. runs **one** transaction (``Database.write`` — ``BEGIN IMMEDIATE`` on SQLite, row
   locks on PostgreSQL — or a read), so a call either happens whole or not at all;
3. publishes its events to the broker **after** the commit.

Every operation is scoped to the store's ``owner``: another owner's conversation is
``NotFound``, exactly like an id that does not exist. :meth:`as_owner` gives a store for
another owner that shares the engine (the server makes one per request).

What moves ``updated_at`` (the listing order): messages appended, updated, popped or
cleared; a rename; the end of a run. Pinning, tagging, archiving and context changes do
not reorder the sidebar.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, cast

from threadkeep.db import conversations as conversation_rows
from threadkeep.db import messages as message_rows
from threadkeep.db import migrate
from threadkeep.db import runs as run_rows
from threadkeep.db.backup import backup_sqlite, restore_sqlite
from threadkeep.db.engine import Database, open_database
from threadkeep.errors import Conflict, InvalidInput, NotFound
from threadkeep.events import Broker, Event, InProcessBroker
from threadkeep.ids import check_message_id, check_uuid, new_id
from threadkeep.inputs import (
    check_content,
    check_context,
    check_conversation_status,
    check_json,
    check_kind,
    check_limit,
    check_message_status,
    check_nonnegative,
    check_owner,
    check_role,
    check_short_text,
    check_tags,
    check_title,
    merge_patch,
)
from threadkeep.models import (
    RUN_STATUSES,
    Conversation,
    ConversationFilter,
    ConversationStats,
    ForkedFrom,
    Message,
    MessageDraft,
    Page,
    Run,
)
from threadkeep.settings import Settings

__all__ = ["UNSET", "ConversationStore", "open_store"]


class _Unset:
    """Marks an argument the caller did not pass (``None`` is a value: it clears)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()

_FINISHED_RUN_STATUSES = RUN_STATUSES - {"queued", "running"}
_PREVIEW_ROLES = ("user", "assistant")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def open_store(
    url: str | os.PathLike[str] | None = None,
    *,
    owner: str = "local",
    settings: Settings | None = None,
    broker: Broker | None = None,
) -> ConversationStore:
    """Open (creating and migrating as needed) the store at ``url``.

    ``url`` is a SQLAlchemy URL (``sqlite:///path/file.db``,
    ``postgresql+psycopg://user@host/db``) or a plain path to a SQLite file. ``None``
    uses ``settings.database_url``, then ``THREADKEEP_DATABASE_URL``, then the embedded
    default: ``threadkeep.db`` in the data directory (``THREADKEEP_HOME`` or the
    platform's user data dir), created 0600 in a 0700 directory.

    The database is brought to the current schema revision unless the setting
    ``migrate_on_open`` is off; a SQLite file holding data is backed up first and
    restored if the migration fails.
    """
    settings = settings if settings is not None else Settings.load()
    owner = check_owner(owner)
    target = os.fspath(url) if url is not None else settings.resolved_database_url()
    db = open_database(target, settings)
    try:
        if settings.migrate_on_open:
            migrate.upgrade(db, backup=settings.backup_before_migrate)
    except BaseException:
        db.dispose()
        raise
    return ConversationStore(db, settings, owner=owner, broker=broker or InProcessBroker())


class ConversationStore:
    """Conversations, messages and runs of one owner, on SQLite or PostgreSQL.

    Build one with :func:`open_store`. It is thread-safe (a connection pool underneath)
    and a context manager; :meth:`close` releases the connections.
    """

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        owner: str,
        broker: Broker,
        _shares_engine: bool = False,
    ) -> None:
        self._db = database
        self._settings = settings
        self._owner = check_owner(owner)
        self._broker = broker
        self._shares_engine = _shares_engine

    # ------------------------------------------------------------------ lifecycle

    @property
    def owner(self) -> str:
        """The user every operation of this store is scoped to."""
        return self._owner

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def broker(self) -> Broker:
        """Where events go after each commit; subscribe to it to follow changes."""
        return self._broker

    @property
    def database(self) -> Database:
        """The underlying database handle (engine, dialect, SQLite library)."""
        return self._db

    def as_owner(self, owner: str) -> ConversationStore:
        """A store scoped to ``owner`` that shares this one's engine and broker."""
        return ConversationStore(
            self._db, self._settings, owner=owner, broker=self._broker, _shares_engine=True
        )

    def close(self) -> None:
        """Release the database connections (a no-op on stores made by :meth:`as_owner`)."""
        if not self._shares_engine:
            self._db.dispose()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ConversationStore owner={self._owner!r} database={self._db.describe()!r}>"

    def _publish(self, events: Iterable[Event]) -> None:
        for event in events:
            self._broker.publish(event)

    def _event(self, kind: str, conversation_id: str | None, **data: Any) -> Event:
        return Event(type=kind, owner=self._owner, conversation_id=conversation_id, data=data)

    def _not_found(self, conversation_id: str) -> NotFound:
        return NotFound(f"conversation {conversation_id} not found")

    # ------------------------------------------------------------------ conversations

    def create_conversation(
        self,
        *,
        id: str | None = None,
        title: str | None = None,
        mode: str = "chat",
        context: dict[str, Any] | None = None,
        tags: Iterable[str] = (),
        pinned: bool = False,
    ) -> Conversation:
        """Create a conversation; ``id`` must be a UUID (a UUIDv7 is made when omitted).

        Raises ``Conflict`` when the id is already in use.
        """
        conversation_id = new_id() if id is None else check_uuid(id, what="conversation id")
        at = _now()
        conversation = Conversation(
            id=conversation_id,
            owner=self._owner,
            title=check_title(title),
            mode=str(check_short_text(mode, "mode")),
            provider=None,
            provider_session_id=None,
            model=None,
            context=check_context(context, self._settings.max_message_bytes),
            status="active",
            pinned=_check_bool(pinned, "pinned"),
            tags=tuple(check_tags(tags)),
            created_at=at,
            updated_at=at,
            message_count=0,
            last_seq=0,
            token_count=0,
            preview=None,
            forked_from=None,
        )
        with self._db.write() as conn:
            if not conversation_rows.insert(conn, _conversation_values(conversation)):
                raise Conflict(f"conversation id {conversation_id} is already in use")
        self._publish([self._event("conversation.created", conversation_id)])
        return conversation

    def get_conversation(self, id: str) -> Conversation:
        """The conversation with this id, or ``NotFound``."""
        conversation_id = check_uuid(id, what="conversation id")
        with self._db.query() as conn:
            found = conversation_rows.get(conn, self._owner, conversation_id)
        if found is None:
            raise self._not_found(conversation_id)
        return found

    def get_or_create_conversation(self, id: str, **fields: Any) -> Conversation:
        """The conversation with this id, created with ``fields`` if it does not exist.

        ``fields`` are :meth:`create_conversation`'s keywords; they are ignored when the
        conversation exists. Safe under concurrent callers: one creates, all get it.
        """
        conversation_id = check_uuid(id, what="conversation id")
        try:
            return self.get_conversation(conversation_id)
        except NotFound:
            pass
        try:
            return self.create_conversation(id=conversation_id, **fields)
        except Conflict:
            # Someone created it between our read and our insert; if that someone is
            # another owner, the id stays taken, as create_conversation says.
            try:
                return self.get_conversation(conversation_id)
            except NotFound:
                raise Conflict(f"conversation id {conversation_id} is already in use") from None

    def list_conversations(
        self,
        *,
        status: str | None = "active",
        provider: str | None = None,
        model: str | None = None,
        mode: str | None = None,
        tag: str | None = None,
        updated_after: dt.datetime | None = None,
        updated_before: dt.datetime | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        pinned_first: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Conversation]:
        """Conversations, most recently updated first, one keyset page at a time.

        ``status`` is ``active``, ``archived`` or ``None``/``"all"``. Pass the returned
        ``next_cursor`` back as ``cursor`` (with the same filters and ``pinned_first``)
        for the next page. Each item carries ``message_count`` and ``preview`` (the
        start of the latest user/assistant text message).
        """
        where = ConversationFilter(
            status=check_conversation_status(status),
            provider=check_short_text(provider, "provider", optional=True),
            model=check_short_text(model, "model", max_length=200, optional=True),
            mode=check_short_text(mode, "mode", optional=True),
            tag=check_short_text(tag, "tag", optional=True),
            updated_after=_check_datetime(updated_after, "updated_after"),
            updated_before=_check_datetime(updated_before, "updated_before"),
            created_after=_check_datetime(created_after, "created_after"),
            created_before=_check_datetime(created_before, "created_before"),
        )
        limit = check_limit(limit)
        after = None if cursor is None else conversation_rows.decode_cursor(cursor, pinned_first)
        with self._db.query() as conn:
            items, next_key = conversation_rows.list_page(
                conn, self._owner, where, limit=limit, pinned_first=pinned_first, after=after
            )
        return Page(
            items=items,
            next_cursor=None if next_key is None else conversation_rows.encode_cursor(next_key),
        )

    def update_conversation(
        self,
        id: str,
        *,
        title: str | _Unset | None = UNSET,
        context: dict[str, Any] | _Unset = UNSET,
        context_merge: dict[str, Any] | _Unset = UNSET,
        pinned: bool | _Unset = UNSET,
        tags: Iterable[str] | _Unset = UNSET,
        mode: str | _Unset = UNSET,
    ) -> Conversation:
        """Change the given fields; return the updated conversation.

        ``title=None`` clears the title. ``context`` replaces the context object;
        ``context_merge`` applies an RFC 7396 merge patch to it (a ``None`` value
        deletes a key) — pass one or the other. Only a title change moves
        ``updated_at``.
        """
        conversation_id = check_uuid(id, what="conversation id")
        if not isinstance(context, _Unset) and not isinstance(context_merge, _Unset):
            raise InvalidInput("pass either context (replace) or context_merge (merge), not both")
        changes: dict[str, Any] = {}
        limit = self._settings.max_message_bytes
        if not isinstance(title, _Unset):
            changes["title"] = check_title(title)
        if not isinstance(context, _Unset):
            changes["context"] = check_context(context, limit)
        if not isinstance(pinned, _Unset):
            changes["pinned"] = _check_bool(pinned, "pinned")
        if not isinstance(tags, _Unset):
            changes["tags"] = check_tags(tags)
        if not isinstance(mode, _Unset):
            changes["mode"] = check_short_text(mode, "mode")
        merge = None if isinstance(context_merge, _Unset) else check_context(context_merge, limit)
        with self._db.write() as conn:
            current = conversation_rows.get(conn, self._owner, conversation_id, for_update=True)
            if current is None:
                raise self._not_found(conversation_id)
            if merge is not None:
                changes["context"] = check_context(merge_patch(current.context, merge), limit)
            if "title" in changes and changes["title"] != current.title:
                changes["updated_at"] = _now()
            if changes:
                conversation_rows.update(conn, self._owner, conversation_id, changes)
        if not changes:
            return current
        updated = dataclasses.replace(
            current,
            **cast(Any, {k: tuple(v) if k == "tags" else v for k, v in changes.items()}),
        )
        self._publish(
            [self._event("conversation.updated", conversation_id, fields=sorted(changes))]
        )
        return updated

    def archive_conversation(self, id: str) -> Conversation:
        """Move the conversation to the archive (a soft delete, undone by unarchive)."""
        return self._set_status(id, "archived")

    def unarchive_conversation(self, id: str) -> Conversation:
        """Bring an archived conversation back to the active list."""
        return self._set_status(id, "active")

    def _set_status(self, id: str, status: str) -> Conversation:
        conversation_id = check_uuid(id, what="conversation id")
        with self._db.write() as conn:
            current = conversation_rows.get(conn, self._owner, conversation_id, for_update=True)
            if current is None:
                raise self._not_found(conversation_id)
            if current.status != status:
                conversation_rows.update(conn, self._owner, conversation_id, {"status": status})
        if current.status == status:
            return current
        kind = "conversation.archived" if status == "archived" else "conversation.unarchived"
        self._publish([self._event(kind, conversation_id)])
        return dataclasses.replace(current, status=status)

    def delete_conversation(self, id: str) -> None:
        """Delete the conversation, its messages and its runs for good."""
        conversation_id = check_uuid(id, what="conversation id")
        with self._db.write() as conn:
            if not conversation_rows.delete(conn, self._owner, conversation_id):
                raise self._not_found(conversation_id)
        self._publish([self._event("conversation.deleted", conversation_id)])

    def fork_conversation(
        self,
        id: str,
        *,
        up_to_seq: int | None = None,
        title: str | None = None,
    ) -> Conversation:
        """Copy messages ``1..up_to_seq`` (all by default) into a new conversation.

        The fork keeps the source's mode, context, tags, provider and model (not its
        provider session, which holds the later messages), takes ``title`` or the
        source's title, records ``forked_from`` and keeps message ids (they are unique
        per conversation).
        """
        source_id = check_uuid(id, what="conversation id")
        check_nonnegative(up_to_seq, "up_to_seq")
        new_title = check_title(title)
        at = _now()
        fork_id = new_id()
        with self._db.write() as conn:
            source = conversation_rows.get(conn, self._owner, source_id, for_update=True)
            if source is None:
                raise self._not_found(source_id)
            last = source.last_seq if up_to_seq is None else up_to_seq
            if last > source.last_seq:
                raise InvalidInput(
                    f"up_to_seq {last} is past the last message (seq {source.last_seq})"
                )
            fork = dataclasses.replace(
                source,
                id=fork_id,
                title=new_title if new_title is not None else source.title,
                provider_session_id=None,
                status="active",
                pinned=False,
                created_at=at,
                updated_at=at,
                message_count=0,
                last_seq=0,
                token_count=0,
                preview=None,
                forked_from=ForkedFrom(conversation_id=source_id, seq=last),
            )
            conversation_rows.insert(conn, _conversation_values(fork))
            count, tokens = message_rows.copy_prefix(conn, source_id, fork_id, last, at)
            fork = dataclasses.replace(
                fork,
                message_count=count,
                last_seq=last,
                token_count=tokens,
                preview=self._preview(message_rows.latest_text(conn, fork_id)),
            )
            counters = ("message_count", "last_seq", "token_count", "preview")
            conversation_rows.update(
                conn, self._owner, fork_id, {name: getattr(fork, name) for name in counters}
            )
        self._publish([self._event("conversation.created", fork_id, forked_from=source_id)])
        return fork

    # ------------------------------------------------------------------ messages

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
        draft = MessageDraft(
            role=role,
            content=content,
            kind=kind,
            metadata=metadata,
            tokens=tokens,
            run_id=run_id,
            status=status,
            id=id,
            idempotency_key=idempotency_key,
        )
        (message,) = self.append_messages(
            conversation_id, [draft], expected_last_seq=expected_last_seq
        )
        return message

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
        """
        cid = check_uuid(conversation_id, what="conversation id")
        check_nonnegative(expected_last_seq, "expected_last_seq")
        if isinstance(drafts, MessageDraft) or not isinstance(drafts, Sequence):
            raise InvalidInput("drafts must be a list of MessageDraft")
        if not drafts:
            raise InvalidInput("append_messages needs at least one MessageDraft")
        at = _now()
        rows = [self._message_row(draft, cid, at) for draft in drafts]
        keys = [row["idempotency_key"] for row in rows if row["idempotency_key"] is not None]
        with self._db.write() as conn:
            existing: dict[str, Message] = {}
            if keys:
                # Lock the counter row first so a concurrent retry waits, then sees ours.
                if conversation_rows.get(conn, self._owner, cid, for_update=True) is None:
                    raise self._not_found(cid)
                existing = message_rows.by_idempotency_keys(conn, cid, keys)
            fresh: list[dict[str, Any]] = []
            fresh_keys: dict[str, dict[str, Any]] = {}
            for row in rows:
                key = row["idempotency_key"]
                if key is None:
                    fresh.append(row)
                elif key not in existing and key not in fresh_keys:
                    fresh_keys[key] = row
                    fresh.append(row)
            if fresh:
                preview = next(
                    (
                        self._preview(row["content"])
                        for row in reversed(fresh)
                        if row["kind"] == "text" and row["role"] in _PREVIEW_ROLES
                    ),
                    None,
                )
                last = message_rows.reserve_seqs(
                    conn,
                    self._owner,
                    cid,
                    len(fresh),
                    tokens=sum(row["tokens"] or 0 for row in fresh),
                    at=at,
                    preview=preview,
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
        results = []
        for row in rows:
            key = row["idempotency_key"]
            if key is not None and key in existing:
                results.append(existing[key])
            elif key is not None:
                results.append(_message_from_values(fresh_keys[key]))
            else:
                results.append(_message_from_values(row))
        self._publish(
            self._event("message.created", cid, message_id=row["id"], seq=row["seq"])
            for row in fresh
        )
        return results

    def _message_row(self, draft: MessageDraft, cid: str, at: dt.datetime) -> dict[str, Any]:
        if not isinstance(draft, MessageDraft):
            raise InvalidInput(f"expected a MessageDraft, got {type(draft).__name__}")
        limit = self._settings.max_message_bytes
        key = draft.idempotency_key
        if key is not None:
            check_short_text(key, "idempotency_key", max_length=200)
        return {
            "id": new_id() if draft.id is None else check_message_id(draft.id),
            "conversation_id": cid,
            "seq": 0,
            "role": check_role(draft.role),
            "kind": check_kind(draft.kind),
            "content": check_content(draft.content, limit),
            "status": check_message_status(draft.status),
            "metadata": check_json(draft.metadata, "metadata", limit),
            "tokens": check_nonnegative(draft.tokens, "tokens"),
            "run_id": None if draft.run_id is None else check_uuid(draft.run_id, what="run_id"),
            "idempotency_key": key,
            "created_at": at,
            "updated_at": at,
        }

    def _preview(self, content: str | None) -> str | None:
        if content is None:
            return None
        size = self._settings.preview_chars
        text = " ".join(content[: size * 2].split())
        return text[:size] if len(text) <= size else text[: size - 1] + "…"

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
            changes["content"] = check_content(content, limit)
        if not isinstance(status, _Unset):
            changes["status"] = check_message_status(status)
        if not isinstance(metadata, _Unset):
            changes["metadata"] = check_json(metadata, "metadata", limit)
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
            if conversation.last_seq == 0:
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

    # ------------------------------------------------------------------ runs

    def start_run(
        self,
        conversation_id: str,
        *,
        provider: str,
        model: str | None = None,
        resumed_session_id: str | None = None,
    ) -> Run:
        """Record the start of an agent turn (status ``running``).

        The first run fixes the conversation's provider; a run with another provider is
        a ``Conflict`` (SPEC S4.4). ``model`` becomes the conversation's last model.
        """
        cid = check_uuid(conversation_id, what="conversation id")
        provider = str(check_short_text(provider, "provider"))
        model = check_short_text(model, "model", max_length=200, optional=True)
        if resumed_session_id is not None:
            check_short_text(resumed_session_id, "resumed_session_id", max_length=1000)
        at = _now()
        run = Run(
            id=new_id(),
            conversation_id=cid,
            provider=provider,
            model=model,
            status="running",
            resumed_session_id=resumed_session_id,
            provider_session_id=None,
            retried_without_resume=False,
            error=None,
            usage=None,
            created_at=at,
            started_at=at,
            finished_at=None,
        )
        with self._db.write() as conn:
            conversation = conversation_rows.get(conn, self._owner, cid, for_update=True)
            if conversation is None:
                raise self._not_found(cid)
            if conversation.provider is not None and conversation.provider != provider:
                raise Conflict(
                    f"conversation {cid} runs on provider {conversation.provider!r}; it cannot "
                    f"switch to {provider!r}. Fork it or start a new conversation instead."
                )
            changes: dict[str, Any] = {"provider": provider}
            if model is not None:
                changes["model"] = model
            conversation_rows.update(conn, self._owner, cid, changes)
            run_rows.insert(conn, dataclasses.asdict(run))
        self._publish([self._event("run.started", cid, run_id=run.id)])
        return run

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        provider_session_id: str | None = None,
        usage: dict[str, Any] | None = None,
        error: str | None = None,
        retried_without_resume: bool = False,
    ) -> Run:
        """Record the end of a run: ``completed``, ``failed``, ``cancelled`` or ``interrupted``.

        A ``provider_session_id`` becomes the conversation's (for the next resume). A run
        that did not complete leaves its streaming messages ``incomplete``.
        """
        rid = check_uuid(run_id, what="run id")
        if status not in _FINISHED_RUN_STATUSES:
            raise InvalidInput(
                f"a run finishes as one of {', '.join(sorted(_FINISHED_RUN_STATUSES))}; "
                f"got {status!r}"
            )
        if provider_session_id is not None:
            check_short_text(provider_session_id, "provider_session_id", max_length=1000)
        if usage is not None and not isinstance(usage, dict):
            raise InvalidInput("usage must be a JSON object such as {'input_tokens': 10}")
        check_json(usage, "usage", self._settings.max_message_bytes)
        if error is not None and not isinstance(error, str):
            raise InvalidInput("error must be a string")
        at = _now()
        with self._db.write() as conn:
            run = run_rows.get(conn, self._owner, rid, for_update=True)
            if run is None:
                raise NotFound(f"run {rid} not found")
            if run.status in _FINISHED_RUN_STATUSES:
                raise Conflict(f"run {rid} already finished as {run.status}")
            changes: dict[str, Any] = {
                "status": status,
                "provider_session_id": provider_session_id,
                "usage": usage,
                "error": error,
                "retried_without_resume": _check_bool(
                    retried_without_resume, "retried_without_resume"
                ),
                "finished_at": at,
            }
            run_rows.update(conn, rid, changes)
            counters: dict[str, Any] = {"updated_at": at}
            if provider_session_id is not None:
                counters["provider_session_id"] = provider_session_id
            conversation_rows.update(conn, self._owner, run.conversation_id, counters)
            if status != "completed":
                message_rows.mark_incomplete(conn, run.conversation_id, rid, at)
        kind = "run.completed" if status == "completed" else "run.failed"
        self._publish([self._event(kind, run.conversation_id, run_id=rid, status=status)])
        return dataclasses.replace(run, **changes)

    def get_run(self, run_id: str) -> Run:
        """The run with this id, or ``NotFound``."""
        rid = check_uuid(run_id, what="run id")
        with self._db.read() as conn:
            run = run_rows.get(conn, self._owner, rid)
        if run is None:
            raise NotFound(f"run {rid} not found")
        return run

    def list_runs(self, conversation_id: str) -> list[Run]:
        """The conversation's runs, oldest first."""
        cid = check_uuid(conversation_id, what="conversation id")
        with self._db.read() as conn:
            if not conversation_rows.exists(conn, self._owner, cid):
                raise self._not_found(cid)
            return run_rows.list_for(conn, cid)

    def mark_interrupted_runs(self, *, all_owners: bool = False) -> list[Run]:
        """Mark runs left ``queued``/``running`` as ``interrupted``; return them.

        Call it when a process starts, before it runs anything: a run still
        ``running`` then was left by a process that died. Their streaming messages
        become ``incomplete``. ``all_owners=True`` sweeps every owner's runs (what a
        server does at start); otherwise only this store's owner's.
        """
        at = _now()
        values: dict[str, Any] = {
            "status": "interrupted",
            "finished_at": at,
            "error": "interrupted: the process running it stopped before it finished",
        }
        with self._db.write() as conn:
            found = run_rows.mark_interrupted(conn, None if all_owners else self._owner, values)
            for _, run in found:
                message_rows.mark_incomplete(conn, run.conversation_id, run.id, at)
        self._publish(
            Event(
                type="run.failed",
                owner=owner,
                conversation_id=run.conversation_id,
                data={"run_id": run.id, "status": "interrupted"},
            )
            for owner, run in found
        )
        return [dataclasses.replace(run, **values) for _, run in found]

    # ------------------------------------------------------------------ operations

    def backup(self, path: str | os.PathLike[str]) -> Path:
        """Copy the live SQLite database to ``path`` (online; writers keep going).

        Restore with :meth:`restore` or ``threadkeep db restore PATH``. PostgreSQL is
        backed up with its own tools (``InvalidInput`` here).
        """
        return backup_sqlite(self._db, path)

    def restore(self, path: str | os.PathLike[str]) -> None:
        """Replace this SQLite database's content with the backup at ``path``.

        Other connections see the old or the restored data, never a mix. The restored
        file is then migrated to the current schema if it is older.
        """
        restore_sqlite(self._db, path)
        if self._settings.migrate_on_open:
            migrate.upgrade(self._db, backup=False)

    def schema_revision(self) -> str | None:
        """The database's current Alembic revision."""
        return migrate.current_revision(self._db)

    @staticmethod
    def latest_schema_revision() -> str | None:
        """The newest revision this version of threadkeep knows."""
        return migrate.head_revision()

    def upgrade_schema(self) -> migrate.MigrationReport:
        """Bring the database to the latest revision (what ``migrate_on_open`` does)."""
        return migrate.upgrade(self._db, backup=self._settings.backup_before_migrate)


def _check_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be true or false, got {value!r:.40}")
    return value


def _check_datetime(value: dt.datetime | None, what: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime (e.g. UTC)")
    return value.astimezone(dt.UTC)


def _conversation_values(conversation: Conversation) -> dict[str, Any]:
    values = dataclasses.asdict(conversation)
    forked = values.pop("forked_from")
    values["tags"] = list(conversation.tags)
    values["forked_from_id"] = forked["conversation_id"] if forked else None
    values["forked_from_seq"] = forked["seq"] if forked else None
    return values


def _message_from_values(row: dict[str, Any]) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        seq=row["seq"],
        role=row["role"],
        kind=row["kind"],
        content=row["content"],
        status=row["status"],
        metadata=row["metadata"],
        tokens=row["tokens"],
        run_id=row["run_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
