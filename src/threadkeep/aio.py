"""AsyncConversationStore: the same store, awaitable.

A thin facade over the sync core (``store/``): every method forwards to the same
method of a :class:`ConversationStore` in a worker thread (``asyncio.to_thread``), so
there is one implementation of every rule and one transaction per call, and the event
loop never blocks on the database. A test compares the two classes' method names and
signatures, so they cannot drift apart.

Appends, the hot path of every chat turn, skip the thread: the sync store checks the
input and builds the rows (``store.messages.PendingAppend``, pure Python, no I/O) on
the loop, and the write joins the group commit queue, whose writer thread commits it
and settles the awaited future (``db/group_commit.py``). Without group commit
(PostgreSQL, or turned off) the write takes a worker thread like everything else.

Async-native drivers would save the hop of the other methods, but SQLite has none
worth the name and the sync core is what the benchmark measures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from threadkeep.db.engine import Database
from threadkeep.db.integrity import DatabaseFacts, StorageReport
from threadkeep.db.migrate import MigrationReport
from threadkeep.db.quarantine import DamagedValue, QuarantinedValue
from threadkeep.events import Broker
from threadkeep.models import (
    AuditEntry,
    CleanupPlan,
    CleanupReport,
    Conversation,
    ConversationStats,
    Message,
    MessageDraft,
    OwnerStats,
    Page,
    Run,
    SearchHit,
)
from threadkeep.settings import Settings
from threadkeep.store import UNSET, ConversationStore, open_store
from threadkeep.store._base import _Unset
from threadkeep.store.imports import ConversationImport, ImportResult

__all__ = ["AsyncConversationStore", "open_async_store"]


async def open_async_store(
    url: str | os.PathLike[str] | None = None,
    *,
    owner: str = "local",
    settings: Settings | None = None,
    broker: Broker | None = None,
) -> AsyncConversationStore:
    """:func:`threadkeep.open_store`, awaitable (opening may migrate the database)."""
    store = await asyncio.to_thread(open_store, url, owner=owner, settings=settings, broker=broker)
    return AsyncConversationStore(store)


class AsyncConversationStore:
    """The coroutine twin of :class:`ConversationStore` (same methods, same rules)."""

    def __init__(self, store: ConversationStore) -> None:
        self._store = store

    @property
    def sync(self) -> ConversationStore:
        """The sync store underneath (for code that runs in a worker thread already)."""
        return self._store

    @property
    def owner(self) -> str:
        return self._store.owner

    @property
    def settings(self) -> Settings:
        return self._store.settings

    @property
    def broker(self) -> Broker:
        return self._store.broker

    @property
    def database(self) -> Database:
        """The underlying database handle (engine, dialect, SQLite library)."""
        return self._store.database

    def as_owner(self, owner: str) -> AsyncConversationStore:
        """A store scoped to ``owner`` that shares this one's engine and broker."""
        return AsyncConversationStore(self._store.as_owner(owner))

    async def close(self) -> None:
        """Release the database connections."""
        await asyncio.to_thread(self._store.close)

    async def __aenter__(self) -> AsyncConversationStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<AsyncConversationStore owner={self._store.owner!r}>"

    async def create_conversation(
        self,
        *,
        id: str | None = None,
        title: str | None = None,
        mode: str = "chat",
        context: dict[str, Any] | None = None,
        tags: Iterable[str] = (),
        pinned: bool = False,
    ) -> Conversation:
        """Create a conversation; ``id`` must be a UUID (a UUIDv7 is made when omitted)."""
        return await asyncio.to_thread(
            self._store.create_conversation,
            id=id,
            title=title,
            mode=mode,
            context=context,
            tags=tags,
            pinned=pinned,
        )

    async def get_conversation(self, id: str) -> Conversation:
        """The conversation with this id, or ``NotFound``."""
        return await asyncio.to_thread(self._store.get_conversation, id)

    async def get_or_create_conversation(self, id: str, **fields: Any) -> Conversation:
        """The conversation with this id, created with ``fields`` if it does not exist."""
        return await asyncio.to_thread(self._store.get_or_create_conversation, id, **fields)

    async def list_conversations(
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
        oldest_first: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Conversation]:
        """Conversations, most recently updated first (``oldest_first``: least recently),
        one keyset page at a time."""
        return await asyncio.to_thread(
            self._store.list_conversations,
            status=status,
            provider=provider,
            model=model,
            mode=mode,
            tag=tag,
            updated_after=updated_after,
            updated_before=updated_before,
            created_after=created_after,
            created_before=created_before,
            pinned_first=pinned_first,
            oldest_first=oldest_first,
            limit=limit,
            cursor=cursor,
        )

    async def update_conversation(
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
        """Change the given fields; return the updated conversation."""
        return await asyncio.to_thread(
            self._store.update_conversation,
            id,
            title=title,
            context=context,
            context_merge=context_merge,
            pinned=pinned,
            tags=tags,
            mode=mode,
        )

    async def set_title_if_untitled(self, id: str, title: str) -> Conversation | None:
        """Give the conversation ``title`` only while it has none (a generated title)."""
        return await asyncio.to_thread(self._store.set_title_if_untitled, id, title)

    async def archive_conversation(self, id: str) -> Conversation:
        """Move the conversation to the archive (a soft delete, undone by unarchive)."""
        return await asyncio.to_thread(self._store.archive_conversation, id)

    async def unarchive_conversation(self, id: str) -> Conversation:
        """Bring an archived conversation back to the active list."""
        return await asyncio.to_thread(self._store.unarchive_conversation, id)

    async def delete_conversation(self, id: str) -> None:
        """Delete the conversation, its messages and its runs for good."""
        return await asyncio.to_thread(self._store.delete_conversation, id)

    async def fork_conversation(
        self,
        id: str,
        *,
        up_to_seq: int | None = None,
        title: str | None = None,
    ) -> Conversation:
        """Copy messages ``1..up_to_seq`` (all by default) into a new conversation."""
        return await asyncio.to_thread(
            self._store.fork_conversation, id, up_to_seq=up_to_seq, title=title
        )

    async def append_message(
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
        """Append one message; its seq is the conversation's next (checked here, then
        written with the appends queued beside it: no worker thread on SQLite)."""
        pending = self._store._message_append(
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
        )
        return (await pending.write_async())[0]

    async def append_messages(
        self,
        conversation_id: str,
        drafts: Sequence[MessageDraft],
        *,
        expected_last_seq: int | None = None,
    ) -> list[Message]:
        """Append several messages atomically (all or none), in order; return them."""
        pending = self._store._messages_append(conversation_id, drafts, expected_last_seq)
        return await pending.write_async()

    async def update_message(
        self,
        conversation_id: str,
        message_id: str,
        *,
        content: str | _Unset = UNSET,
        status: str | _Unset = UNSET,
        metadata: Any = UNSET,
        tokens: int | _Unset | None = UNSET,
    ) -> Message:
        """Change a stored message in place (a streaming reply growing, a framework upsert)."""
        return await asyncio.to_thread(
            self._store.update_message,
            conversation_id,
            message_id,
            content=content,
            status=status,
            metadata=metadata,
            tokens=tokens,
        )

    async def get_messages(
        self,
        conversation_id: str,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[Message]:
        """Messages with ``after_seq < seq < before_seq``, by seq (ascending by default)."""
        return await asyncio.to_thread(
            self._store.get_messages,
            conversation_id,
            after_seq=after_seq,
            before_seq=before_seq,
            limit=limit,
            descending=descending,
        )

    async def tail_messages(self, conversation_id: str, n: int) -> list[Message]:
        """The last ``n`` messages, oldest first, reading only those rows."""
        return await asyncio.to_thread(self._store.tail_messages, conversation_id, n)

    async def get_message(self, conversation_id: str, message_id: str) -> Message:
        """The message with this id in the conversation, or ``NotFound``."""
        return await asyncio.to_thread(self._store.get_message, conversation_id, message_id)

    async def pop_message(self, conversation_id: str) -> Message | None:
        """Remove and return the last message; ``None`` when there are no messages."""
        return await asyncio.to_thread(self._store.pop_message, conversation_id)

    async def delete_message(self, conversation_id: str, message_id: str) -> Message:
        """Delete one message by id and return it (``NotFound`` if there is none)."""
        return await asyncio.to_thread(self._store.delete_message, conversation_id, message_id)

    async def clear_messages(self, conversation_id: str) -> int:
        """Delete every message of the conversation (it stays); return how many."""
        return await asyncio.to_thread(self._store.clear_messages, conversation_id)

    async def conversation_stats(self, conversation_id: str) -> ConversationStats:
        """Counts, tokens and first/last activity, from counters and two index lookups."""
        return await asyncio.to_thread(self._store.conversation_stats, conversation_id)

    async def owner_stats(self, *, all_owners: bool = False) -> OwnerStats:
        """How many conversations the owner has in each status, and their messages and
        tokens in total, from the per-conversation counters (no message is read)."""
        return await asyncio.to_thread(self._store.owner_stats, all_owners=all_owners)

    # ------------------------------------------------------------------ search

    async def search(
        self,
        query: str,
        *,
        role: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: str | None = "active",
        updated_after: dt.datetime | None = None,
        updated_before: dt.datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Page[SearchHit]:
        """Messages and conversation titles matching ``query``, best first (SPEC S5)."""
        return await asyncio.to_thread(
            self._store.search,
            query,
            role=role,
            provider=provider,
            model=model,
            status=status,
            updated_after=updated_after,
            updated_before=updated_before,
            limit=limit,
            cursor=cursor,
        )

    async def start_run(
        self,
        conversation_id: str,
        *,
        provider: str,
        model: str | None = None,
        resumed_session_id: str | None = None,
        turn: int | None = None,
    ) -> Run:
        """Record the start of an agent turn (status ``running``)."""
        return await asyncio.to_thread(
            self._store.start_run,
            conversation_id,
            provider=provider,
            model=model,
            resumed_session_id=resumed_session_id,
            turn=turn,
        )

    async def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        provider_session_id: str | None = None,
        usage: dict[str, Any] | None = None,
        error: str | None = None,
        retried_without_resume: bool = False,
    ) -> Run:
        """Record the end of a run: ``completed``, ``failed``, ``cancelled`` or ``interrupted``."""
        return await asyncio.to_thread(
            self._store.finish_run,
            run_id,
            status=status,
            provider_session_id=provider_session_id,
            usage=usage,
            error=error,
            retried_without_resume=retried_without_resume,
        )

    async def get_run(self, run_id: str) -> Run:
        """The run with this id, or ``NotFound``."""
        return await asyncio.to_thread(self._store.get_run, run_id)

    async def list_runs(self, conversation_id: str) -> list[Run]:
        """The conversation's runs, oldest first."""
        return await asyncio.to_thread(self._store.list_runs, conversation_id)

    async def mark_interrupted_runs(self, *, all_owners: bool = False) -> list[Run]:
        """Mark runs left ``queued``/``running`` as ``interrupted``; return them."""
        return await asyncio.to_thread(self._store.mark_interrupted_runs, all_owners=all_owners)

    async def take_turn(self, conversation_id: str, *, holder: str, lease_seconds: float) -> int:
        """Queue a send for ``conversation_id``'s turn; its ticket (``store/run_turns.py``)."""
        return await asyncio.to_thread(
            self._store.take_turn, conversation_id, holder=holder, lease_seconds=lease_seconds
        )

    async def turns_ahead(self, conversation_id: str, ticket: int) -> int:
        """How many live tickets are before ``ticket`` (0: it holds the turn)."""
        return await asyncio.to_thread(self._store.turns_ahead, conversation_id, ticket)

    async def renew_turn(self, ticket: int, *, lease_seconds: float) -> bool:
        """Extend ``ticket``'s lease; whether a cancel of its run was asked for."""
        return await asyncio.to_thread(self._store.renew_turn, ticket, lease_seconds=lease_seconds)

    async def release_turn(self, ticket: int) -> None:
        """Give the turn up (or stop waiting for it). Idempotent."""
        await asyncio.to_thread(self._store.release_turn, ticket)

    async def request_run_cancel(self, run_id: str) -> bool:
        """Ask the process running ``run_id`` to cancel it; whether one holds it."""
        return await asyncio.to_thread(self._store.request_run_cancel, run_id)

    async def backup(self, path: str | os.PathLike[str]) -> Path:
        """Copy the live SQLite database to ``path`` (online; writers keep going)."""
        return await asyncio.to_thread(self._store.backup, path)

    async def restore(self, path: str | os.PathLike[str]) -> None:
        """Replace this SQLite database's content with the backup at ``path``."""
        return await asyncio.to_thread(self._store.restore, path)

    async def schema_revision(self) -> str | None:
        """The database's current Alembic revision."""
        return await asyncio.to_thread(self._store.schema_revision)

    @staticmethod
    def latest_schema_revision() -> str | None:
        """The newest revision this version of threadkeep knows."""
        return ConversationStore.latest_schema_revision()

    async def upgrade_schema(self) -> MigrationReport:
        """Bring the database to the latest revision (what ``migrate_on_open`` does)."""
        return await asyncio.to_thread(self._store.upgrade_schema)

    # ------------------------------------------------------------ retention and audit

    async def plan_cleanup(
        self, *, now: dt.datetime | None = None, all_owners: bool = False
    ) -> CleanupPlan:
        """What cleanup would do at ``now``; changes nothing (a dry run)."""
        return await asyncio.to_thread(self._store.plan_cleanup, now=now, all_owners=all_owners)

    async def apply_cleanup(
        self,
        plan: CleanupPlan | None = None,
        *,
        now: dt.datetime | None = None,
        all_owners: bool = False,
    ) -> CleanupReport:
        """Carry out ``plan`` (by default a fresh one); report what was trashed and purged."""
        return await asyncio.to_thread(
            self._store.apply_cleanup, plan, now=now, all_owners=all_owners
        )

    async def database_size(self) -> int:
        """Bytes the database takes (SQLite file + WAL; PostgreSQL: threadkeep's tables)."""
        return await asyncio.to_thread(self._store.database_size)

    async def storage_warning(self) -> str | None:
        """A sentence when the database is past ``storage_warning_bytes``, else ``None``."""
        return await asyncio.to_thread(self._store.storage_warning)

    async def record_audit(
        self,
        action: str,
        *,
        conversation_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record an action done outside the store's own writes (a no-op when audit is off)."""
        await asyncio.to_thread(
            self._store.record_audit, action, conversation_id=conversation_id, detail=detail
        )

    async def audit_entries(
        self,
        *,
        since: dt.datetime | None = None,
        action: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[AuditEntry]:
        """This owner's audit entries, newest first, one keyset page at a time."""
        return await asyncio.to_thread(
            self._store.audit_entries, since=since, action=action, limit=limit, cursor=cursor
        )

    async def expire_audit(
        self, *, now: dt.datetime | None = None, all_owners: bool = False
    ) -> int:
        """Delete audit entries older than ``audit_retention_days``; return how many."""
        return await asyncio.to_thread(self._store.expire_audit, now=now, all_owners=all_owners)

    # -- bulk import (store/imports.py)

    async def import_conversations(self, items: Iterable[ConversationImport]) -> ImportResult:
        """Write every item with its messages in one transaction (a lazy ``items`` is
        read in the worker thread)."""
        return await asyncio.to_thread(self._store.import_conversations, items)

    # -- maintenance, database-wide (store/maintenance.py)

    async def database_facts(self) -> DatabaseFacts:
        """The engine, library, settings in force and schema revision, read back live."""
        return await asyncio.to_thread(self._store.database_facts)

    async def check_storage(self) -> StorageReport:
        """SQLite's ``PRAGMA integrity_check``, or amcheck on PostgreSQL when installed."""
        return await asyncio.to_thread(self._store.check_storage)

    async def search_index_problems(self) -> list[str]:
        """What is wrong with the full-text index (empty when it matches the data)."""
        return await asyncio.to_thread(self._store.search_index_problems)

    async def rebuild_search_index(self) -> list[str]:
        """Rebuild the full-text index from the data; returns the indexes rebuilt."""
        return await asyncio.to_thread(self._store.rebuild_search_index)

    async def find_damaged_values(
        self, table: str, *, cursor: str | None = None, batch_size: int = 500
    ) -> Page[DamagedValue]:
        """The damaged values in one batch of ``table``, and the next batch's cursor."""
        return await asyncio.to_thread(
            self._store.find_damaged_values, table, cursor=cursor, batch_size=batch_size
        )

    async def quarantine_values(self, values: Sequence[DamagedValue]) -> list[QuarantinedValue]:
        """Move damaged values to the quarantine table and put safe values in their place."""
        return await asyncio.to_thread(self._store.quarantine_values, values)
