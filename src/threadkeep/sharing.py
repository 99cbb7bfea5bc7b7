"""Share links (SPEC S6.5): read-only, redacted snapshots of a conversation.

:func:`create_share` reads one of the owner's conversations through the store (its
title, then its messages a page at a time), masks secrets in the title and every
message with :mod:`threadkeep.redact` — always, whatever ``redact_exports`` says: a
link is for people who are not the owner — and stores the result as a snapshot. Later
changes to the conversation do not reach the link; to show them, make a new link. A
snapshot holds the title, the conversation's creation time, when it was shared, and
per message its role, kind, status, content and time: no ids, no owner, no metadata,
no context, nothing about other conversations.

The link's token is 32 random bytes (``secrets.token_urlsafe``), returned once; only
its SHA-256 is stored, so a copy of the database does not reveal live links (a fast
hash suffices for a 256-bit random value, as for API keys). :func:`shared_snapshot`
finds a snapshot by token with no owner at all: it is what the public page shows.

Revoking a link deletes its row and snapshot; deleting (or the cleanup purging) the
conversation deletes its links with it (foreign key ``ON DELETE CASCADE``). Everything
else is scoped to the store's owner: another owner's conversation or share is
``NotFound``, exactly like an id that does not exist. With ``audit_log`` on, making and
revoking a link are recorded (``share``, ``unshare``) in the same transaction.

A snapshot is kept whole in one row, so its messages' content may total at most
:data:`MAX_SNAPSHOT_BYTES`; a larger conversation is refused with ``TooLarge`` (fork the
part to share and share the fork).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Any

from threadkeep.db import conversations as conversation_rows
from threadkeep.db import shares as share_rows
from threadkeep.db.engine import Database
from threadkeep.db.shares import Share
from threadkeep.errors import NotFound, TooLarge
from threadkeep.ids import check_uuid, new_id
from threadkeep.inputs import check_limit
from threadkeep.models import Page
from threadkeep.redact import Redactor
from threadkeep.store import ConversationStore
from threadkeep.store.audit import write_audit

__all__ = [
    "MAX_SNAPSHOT_BYTES",
    "NewShare",
    "Share",
    "SharedMessage",
    "Snapshot",
    "create_share",
    "list_shares",
    "revoke_share",
    "shared_snapshot",
]

log = logging.getLogger(__name__)

#: Most bytes of message content (UTF-8) one snapshot may hold.
MAX_SNAPSHOT_BYTES = 32 * 1024 * 1024
_TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}")
_PAGE = 1_000
_SNAPSHOT_VERSION = 1
_UNKNOWN = "share link not found: it never existed or was revoked"


@dataclass(frozen=True, slots=True)
class SharedMessage:
    """One message of a snapshot, as a visitor sees it."""

    role: str
    kind: str
    status: str
    content: str
    created_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "kind": self.kind,
            "status": self.status,
            "content": self.content,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a share link shows: the conversation as it was when shared, redacted."""

    title: str | None
    created_at: dt.datetime
    shared_at: dt.datetime
    messages: tuple[SharedMessage, ...]

    def to_dict(self) -> dict[str, Any]:
        """The snapshot as JSON (what is stored, and what the public JSON returns)."""
        return {
            "version": _SNAPSHOT_VERSION,
            "title": self.title,
            "created_at": self.created_at.isoformat(),
            "shared_at": self.shared_at.isoformat(),
            "messages": [message.to_dict() for message in self.messages],
        }

    @classmethod
    def from_dict(cls, value: Any) -> Snapshot:
        """A snapshot from its stored JSON; ``ValueError``/``TypeError``/``KeyError`` if
        it is not one."""
        if not isinstance(value, dict) or value.get("version") != _SNAPSHOT_VERSION:
            raise ValueError("not a snapshot")
        title = value["title"]
        if title is not None and not isinstance(title, str):
            raise TypeError("title")
        messages = []
        for item in value["messages"]:
            role, kind, status, content = (
                item["role"],
                item["kind"],
                item["status"],
                item["content"],
            )
            if not all(isinstance(field, str) for field in (role, kind, status, content)):
                raise TypeError("message")
            messages.append(
                SharedMessage(role, kind, status, content, _datetime(item["created_at"]))
            )
        return cls(
            title=title,
            created_at=_datetime(value["created_at"]),
            shared_at=_datetime(value["shared_at"]),
            messages=tuple(messages),
        )


def _datetime(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive datetime")
    return parsed


@dataclass(frozen=True, slots=True)
class NewShare:
    """A link just made: the share, its token (the only copy), and what redaction
    masked in the snapshot, counted by kind."""

    share: Share
    token: str
    redacted: dict[str, int]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_share(store: ConversationStore, conversation_id: str) -> NewShare:
    """Share a redacted snapshot of the store owner's conversation ``conversation_id``.

    ``NotFound`` if the owner has no such conversation; ``TooLarge`` if its messages
    pass :data:`MAX_SNAPSHOT_BYTES`.
    """
    conversation = store.get_conversation(conversation_id)
    redactor = Redactor(store.settings.redact_patterns)
    counts: Counter[str] = Counter()

    def masked(text: str) -> str:
        clean, found = redactor.redact_text(text)
        counts.update(found)
        return clean

    messages: list[SharedMessage] = []
    size = 0
    after = 0
    while True:
        page = store.get_messages(conversation.id, after_seq=after, limit=_PAGE)
        for message in page:
            size += len(message.content.encode())
            if size > MAX_SNAPSHOT_BYTES:
                raise TooLarge(
                    f"conversation {conversation.id} is too large to share: its messages "
                    f"pass {MAX_SNAPSHOT_BYTES // (1024 * 1024)} MiB; fork the part to share "
                    "(`threadkeep fork ID --up-to-seq N`) and share the fork"
                )
            messages.append(
                SharedMessage(
                    message.role,
                    message.kind,
                    message.status,
                    masked(message.content),
                    message.created_at,
                )
            )
        if len(page) < _PAGE:
            break
        after = page[-1].seq
    now = dt.datetime.now(dt.UTC)
    snapshot = Snapshot(
        title=None if conversation.title is None else masked(conversation.title),
        created_at=conversation.created_at,
        shared_at=now,
        messages=tuple(messages),
    )
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    share = Share(
        id=new_id(),
        conversation_id=conversation.id,
        title=snapshot.title,
        message_count=len(messages),
        created_at=now,
    )
    with store.database.write() as conn:
        # The conversation may have been deleted since it was read.
        if not conversation_rows.exists(conn, store.owner, conversation.id):
            raise NotFound(f"conversation {conversation.id} not found")
        share_rows.insert(
            conn,
            {
                "id": share.id,
                "owner": store.owner,
                "conversation_id": share.conversation_id,
                "token_hash": _token_hash(token),
                "title": share.title,
                "message_count": share.message_count,
                "snapshot": snapshot.to_dict(),
                "created_at": now,
            },
        )
        write_audit(store, conn, "share", conversation.id, {"share_id": share.id}, at=now)
    return NewShare(share=share, token=token, redacted=dict(counts))


def list_shares(
    store: ConversationStore,
    *,
    conversation_id: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page[Share]:
    """The store owner's share links, newest first, a keyset page at a time (of one
    conversation when ``conversation_id`` is given). Pass ``next_cursor`` back as
    ``cursor``, with the same filter."""
    cid = None if conversation_id is None else check_uuid(conversation_id, what="conversation id")
    limit = check_limit(limit)
    before = None if cursor is None else share_rows.decode_cursor(cursor)
    with store.database.read() as conn:
        items, key = share_rows.page(
            conn, store.owner, conversation_id=cid, limit=limit, before_id=before
        )
    return Page(items=items, next_cursor=None if key is None else share_rows.encode_cursor(key))


def revoke_share(store: ConversationStore, share_id: str) -> Share:
    """Revoke the store owner's share link ``share_id``: its token stops working at
    once and its snapshot is deleted. Returns the share as it was; ``NotFound`` if the
    owner has no such share."""
    sid = check_uuid(share_id, what="share id")
    with store.database.write() as conn:
        gone = share_rows.delete(conn, store.owner, sid)
        if gone is None:
            raise NotFound(f"share {sid} not found")
        write_audit(store, conn, "unshare", gone.conversation_id, {"share_id": sid})
    return gone


def shared_snapshot(database: Database, token: str) -> Snapshot:
    """The snapshot behind a share link's token, for anyone holding it.

    ``NotFound`` — the same for every reason — if the token is malformed, unknown or
    revoked, or its stored snapshot is damaged (logged, by share id).
    """
    if not isinstance(token, str) or _TOKEN.fullmatch(token) is None:
        raise NotFound(_UNKNOWN)
    with database.read() as conn:
        found = share_rows.snapshot(conn, _token_hash(token))
    if found is None:
        raise NotFound(_UNKNOWN)
    share_id, stored = found
    try:
        return Snapshot.from_dict(stored)
    except (ValueError, TypeError, KeyError):
        log.warning("share %s: its stored snapshot is damaged and cannot be shown", share_id)
        raise NotFound(_UNKNOWN) from None
