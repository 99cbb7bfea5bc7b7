"""The audit log (SPEC S7.5): who did what to which conversation, and when.

Off unless the setting ``audit_log`` is on. Entries are written by the store **in the
same transaction as the change they record** (:func:`write_audit`, called by the
conversation methods and by cleanup), so an entry exists if and only if the change
committed — a subscriber to the event stream could miss a change (its process dies
after the commit) or log one that never happened. Work that changes nothing in the
database (an export) records itself with :meth:`AuditMixin.record_audit`.

The actor is the owner the store is scoped to; cleanup records its trash and purge
entries under the owner of each conversation, with ``{"by": "cleanup"}`` in the detail,
and one ``cleanup`` entry per run, with its counts, under the owner who ran it.
Entries older than ``audit_retention_days`` are deleted by :meth:`expire_audit` and by
every cleanup run.

The log outlives what it records (a deleted conversation's title stays for the
retention period), so every string of a detail — keys too — is redacted before it is
written, with the built-in secret kinds and the ``redact_patterns`` setting, whatever
``redact_exports``/``redact_on_write`` say: a title that held an API key is kept as
``[REDACTED:openai]``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from threadkeep.db import audit as audit_rows
from threadkeep.db import conversations as conversation_rows
from threadkeep.db.engine import Connection
from threadkeep.errors import InvalidInput
from threadkeep.ids import check_uuid
from threadkeep.inputs import check_choice, check_json, check_limit
from threadkeep.models import AUDIT_ACTIONS, AuditEntry, Page
from threadkeep.redact import Redactor
from threadkeep.settings import Settings
from threadkeep.store._base import StoreBase, _check_bool, _check_datetime, _now

__all__ = [
    "AuditMixin",
    "audit_entry",
    "expire_audit_entries",
    "write_audit",
    "write_audit_entries",
]


def write_audit(
    store: StoreBase,
    conn: Connection,
    action: str,
    conversation_id: str | None = None,
    detail: dict[str, Any] | None = None,
    *,
    actor: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Record ``action`` inside the caller's transaction (a no-op when audit is off)."""
    if store.settings.audit_log:
        write_audit_entries(
            store.settings,
            conn,
            [audit_entry(store, action, conversation_id, detail, actor=actor, at=at)],
        )


def audit_entry(
    store: StoreBase,
    action: str,
    conversation_id: str | None = None,
    detail: dict[str, Any] | None = None,
    *,
    actor: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """One entry for :func:`write_audit_entries` (the actor defaults to the store's owner)."""
    return {
        "at": _now() if at is None else at,
        "actor": store.owner if actor is None else actor,
        "action": action,
        "conversation_id": conversation_id,
        "detail": detail,
    }


def write_audit_entries(
    settings: Settings, conn: Connection, entries: Sequence[dict[str, Any]]
) -> None:
    """Record many entries at once inside the caller's transaction (no-op when off).

    Each detail is redacted first (see the module docstring); ``entries`` are not changed.
    Takes the settings, not a store, so that writers of entries with no owner's store
    at hand (API key changes, ``accounts.py``) record them the same way.
    """
    if settings.audit_log:
        redactor = _redactor(tuple(settings.redact_patterns.items()))
        audit_rows.insert(
            conn,
            [
                entry
                if not entry.get("detail")
                else {**entry, "detail": _redacted(redactor, entry)}
                for entry in entries
            ],
        )


@functools.lru_cache(maxsize=8)
def _redactor(patterns: tuple[tuple[str, str], ...]) -> Redactor:
    """One compiled redactor per set of extra patterns (settings are immutable)."""
    return Redactor(dict(patterns))


def _redacted(redactor: Redactor, entry: dict[str, Any]) -> Any:
    try:
        return redactor.redact_value(entry["detail"])[0]
    except RecursionError:  # the redactor walks JSON recursively; keep no unchecked text
        return {"redacted": "detail nested too deeply to check for secrets"}


def expire_audit_entries(
    store: StoreBase, conn: Connection, at: dt.datetime, *, all_owners: bool
) -> int:
    """Delete entries older than ``audit_retention_days`` before ``at``, in ``conn``."""
    before = at - dt.timedelta(days=store.settings.audit_retention_days)
    return audit_rows.expire(conn, None if all_owners else store.owner, before)


class AuditMixin(StoreBase):
    """The audit part of :class:`~threadkeep.store.ConversationStore`."""

    def record_audit(
        self,
        action: str,
        *,
        conversation_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record an action done outside the store's own writes (an export, an import).

        ``action`` is one of ``AUDIT_ACTIONS``; ``detail`` a JSON object (counts, a
        format, a file name). A ``conversation_id`` must be one of this owner's
        conversations (``NotFound`` otherwise). The input is checked even when audit is
        off, and then nothing is written.
        """
        check_choice(action, AUDIT_ACTIONS, "audit action")
        cid = (
            None if conversation_id is None else check_uuid(conversation_id, what="conversation id")
        )
        if detail is not None and not isinstance(detail, dict):
            raise InvalidInput(
                f"audit detail must be a JSON object (dict) or None, got {detail!r:.40}"
            )
        check_json(detail, "audit detail", self._settings.max_message_bytes)
        if not self._settings.audit_log:
            if cid is not None:  # the same answer with audit on or off
                with self._db.query() as reader:
                    if not conversation_rows.exists(reader, self._owner, cid):
                        raise self._not_found(cid)
            return
        with self._db.write() as conn:
            if cid is not None and not conversation_rows.exists(conn, self._owner, cid):
                raise self._not_found(cid)
            write_audit(self, conn, action, cid, detail)

    def audit_entries(
        self,
        *,
        since: dt.datetime | None = None,
        action: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[AuditEntry]:
        """This owner's audit entries, newest first, one keyset page at a time.

        ``since`` keeps entries at or after that time; ``action`` one kind of action.
        Pass the returned ``next_cursor`` back as ``cursor`` (with the same filters).
        """
        since = _check_datetime(since, "since")
        if action is not None:
            check_choice(action, AUDIT_ACTIONS, "audit action")
        limit = check_limit(limit)
        after = None if cursor is None else audit_rows.decode_cursor(cursor)
        with self._db.read() as conn:
            entries, key = audit_rows.page(
                conn, self._owner, since=since, action=action, limit=limit, after=after
            )
        return Page(
            items=entries, next_cursor=None if key is None else audit_rows.encode_cursor(key)
        )

    def expire_audit(self, *, now: dt.datetime | None = None, all_owners: bool = False) -> int:
        """Delete audit entries older than ``audit_retention_days``; return how many.

        Only this owner's entries, or everyone's with ``all_owners=True``. Runs whether
        or not ``audit_log`` is on, so turning it off does not keep old entries forever.
        """
        at = _check_datetime(now, "now") or _now()
        _check_bool(all_owners, "all_owners")
        with self._db.write() as conn:
            return expire_audit_entries(self, conn, at, all_owners=all_owners)
