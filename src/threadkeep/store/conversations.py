"""Conversations: create, read, list, update, archive, delete, fork."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any, cast

from threadkeep.db import conversations as conversation_rows
from threadkeep.db import messages as message_rows
from threadkeep.db.engine import Connection
from threadkeep.errors import Conflict, InvalidInput, NotFound
from threadkeep.ids import check_uuid, new_id
from threadkeep.inputs import (
    check_context,
    check_conversation_status,
    check_limit,
    check_nonnegative,
    check_short_text,
    check_tags,
    check_title,
    merge_patch,
)
from threadkeep.models import (
    Conversation,
    ConversationFilter,
    ForkedFrom,
    Page,
)
from threadkeep.store._base import (
    UNSET,
    StoreBase,
    _check_bool,
    _check_datetime,
    _conversation_values,
    _now,
    _Unset,
)
from threadkeep.store.audit import write_audit

__all__ = ["ConversationsMixin"]


class ConversationsMixin(StoreBase):
    """The conversations part of :class:`~threadkeep.store.ConversationStore`."""

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
            title=self._on_write(check_title, title),
            mode=str(check_short_text(mode, "mode")),
            provider=None,
            provider_session_id=None,
            model=None,
            context=self._on_write(check_context, context, self._settings.max_message_bytes),
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
            trashed_at=None,
        )
        with self._db.write() as conn:
            if not conversation_rows.insert(conn, _conversation_values(conversation)):
                raise Conflict(f"conversation id {conversation_id} is already in use")
            write_audit(self, conn, "create", conversation_id, {"title": conversation.title})
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
        oldest_first: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Conversation]:
        """Conversations, most recently updated first, one keyset page at a time.

        ``status`` is ``active``, ``archived``, ``trash`` (what cleanup moved there) or
        ``None``/``"all"``. ``oldest_first`` lists least recently updated first instead
        (with ``pinned_first``: the pinned ones oldest first, then the others). Pass the
        returned ``next_cursor`` back as ``cursor`` (with the same filters,
        ``pinned_first`` and ``oldest_first``) for the next page; a cursor from the
        other order is ``InvalidInput``. Newest first, a conversation updated while
        someone pages moves to the top and is not seen again; oldest first it moves to
        the end and is seen there, so a walk never misses one. Each item carries
        ``message_count`` and ``preview`` (the start of the latest user/assistant text
        message).
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
        pinned_first = _check_bool(pinned_first, "pinned_first")
        oldest_first = _check_bool(oldest_first, "oldest_first")
        after = (
            None
            if cursor is None
            else conversation_rows.decode_cursor(cursor, pinned_first, oldest_first=oldest_first)
        )
        with self._db.query() as conn:
            items, next_key = conversation_rows.list_page(
                conn,
                self._owner,
                where,
                limit=limit,
                pinned_first=pinned_first,
                oldest_first=oldest_first,
                after=after,
            )
        return Page(
            items=items,
            next_cursor=None
            if next_key is None
            else conversation_rows.encode_cursor(next_key, oldest_first=oldest_first),
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
            changes["title"] = self._on_write(check_title, title)
        if not isinstance(context, _Unset):
            changes["context"] = self._on_write(check_context, context, limit)
        if not isinstance(pinned, _Unset):
            changes["pinned"] = _check_bool(pinned, "pinned")
        if not isinstance(tags, _Unset):
            changes["tags"] = check_tags(tags)
        if not isinstance(mode, _Unset):
            changes["mode"] = check_short_text(mode, "mode")
        merge = (
            None
            if isinstance(context_merge, _Unset)
            else self._on_write(check_context, context_merge, limit)
        )
        with self._db.write() as conn:
            current = conversation_rows.get(conn, self._owner, conversation_id, for_update=True)
            if current is None:
                raise self._not_found(conversation_id)
            if merge is not None:
                changes["context"] = check_context(merge_patch(current.context, merge), limit)
            if "title" in changes and changes["title"] != current.title:
                changes["updated_at"] = self._renamed(conn, current, changes["title"])
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

    def set_title_if_untitled(self, id: str, title: str) -> Conversation | None:
        """Give the conversation ``title`` only while it has none (a generated title,
        SPEC S4.6): a title someone set — even a moment before — is never overwritten.

        Return the updated conversation, or ``None`` when it already had a title (then
        nothing changes).
        """
        conversation_id = check_uuid(id, what="conversation id")
        value = self._on_write(check_title, title)
        if value is None:
            raise InvalidInput("a generated title cannot be empty")
        with self._db.write() as conn:
            current = conversation_rows.get(conn, self._owner, conversation_id, for_update=True)
            if current is None:
                raise self._not_found(conversation_id)
            if current.title is not None:
                return None
            at = self._renamed(conn, current, value)
            conversation_rows.update(
                conn, self._owner, conversation_id, {"title": value, "updated_at": at}
            )
        self._publish(
            [self._event("conversation.updated", conversation_id, fields=["title", "updated_at"])]
        )
        return dataclasses.replace(current, title=value, updated_at=at)

    def _renamed(self, conn: Connection, current: Conversation, title: str | None) -> dt.datetime:
        """Inside the write: a title change is audited as a rename and moves
        ``updated_at`` (returned)."""
        rename = {"old_title": current.title, "new_title": title}
        write_audit(self, conn, "rename", current.id, rename)
        return _now()

    def archive_conversation(self, id: str) -> Conversation:
        """Move the conversation to the archive (a soft delete, undone by unarchive).

        A conversation in the trash moves to the archive, out of cleanup's reach.
        """
        return self._set_status(id, "archived")

    def unarchive_conversation(self, id: str) -> Conversation:
        """Bring an archived conversation, or one in the trash, back to the active list."""
        return self._set_status(id, "active")

    def _set_status(self, id: str, status: str) -> Conversation:
        conversation_id = check_uuid(id, what="conversation id")
        with self._db.write() as conn:
            current = conversation_rows.get(conn, self._owner, conversation_id, for_update=True)
            if current is None:
                raise self._not_found(conversation_id)
            if current.status != status:
                # Leaving the trash clears trashed_at: only cleanup puts it there.
                changes = {"status": status, "trashed_at": None}
                conversation_rows.update(conn, self._owner, conversation_id, changes)
                action = "archive" if status == "archived" else "unarchive"
                write_audit(self, conn, action, conversation_id, {"from": current.status})
        if current.status == status:
            return current
        kind = "conversation.archived" if status == "archived" else "conversation.unarchived"
        self._publish([self._event(kind, conversation_id, previous_status=current.status)])
        return dataclasses.replace(current, status=status, trashed_at=None)

    def delete_conversation(self, id: str) -> None:
        """Delete the conversation, its messages and its runs for good."""
        conversation_id = check_uuid(id, what="conversation id")
        with self._db.write() as conn:
            if self._settings.audit_log:
                # Read the title first, so the entry says what was deleted.
                gone = conversation_rows.get(conn, self._owner, conversation_id, for_update=True)
                detail = None if gone is None else {"title": gone.title}
                write_audit(self, conn, "delete", conversation_id, detail)
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
        """Copy the messages up to ``up_to_seq`` (all by default) into a new conversation.

        The fork keeps the source's mode, context, tags, provider and model (not its
        provider session, which holds the later messages), takes ``title`` or the
        source's title, records ``forked_from`` and keeps message ids (they are unique
        per conversation).
        """
        source_id = check_uuid(id, what="conversation id")
        check_nonnegative(up_to_seq, "up_to_seq")
        new_title = self._on_write(check_title, title)
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
                trashed_at=None,
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
            detail = {"title": fork.title, "forked_from": source_id, "up_to_seq": last}
            write_audit(self, conn, "create", fork_id, detail)
        self._publish([self._event("conversation.created", fork_id, forked_from=source_id)])
        return fork
