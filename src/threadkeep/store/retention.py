"""Retention (SPEC S7.1-S7.3): the message cap, cleanup into a restorable trash, size.

**Message cap** (``max_messages_per_conversation``, off by default):
:func:`cap_messages` runs inside ``append_messages``' transaction, right after the
insert, and deletes the oldest messages past the cap, so no reader ever sees the
conversation over it and the counters (``message_count``, ``token_count``,
``preview``) are corrected in the same commit. Seqs keep growing: a capped
conversation holds ``last_seq - cap + 1 .. last_seq``. An idempotency key is
remembered as long as its message is stored (as with pop and clear).

**Cleanup** is a plan, then an apply. Every rule is off unless its setting is set
(silent deletion is what users of peer tools complain about most):

* ``cleanup_inactive_days``: active conversations not updated for that long go to the
  trash (status ``trash``, ``trashed_at`` set; ``updated_at`` stays);
* ``cleanup_max_per_owner``: each owner keeps that many active conversations, newest
  first; the older ones go to the trash. Pinned ones count toward the number;
* ``cleanup_purge_after_days``: conversations in the trash that long are deleted for
  good, with their messages and runs.

Pinned conversations are exempt from every rule. :meth:`RetentionMixin.plan_cleanup`
lists exactly what would go, reading ids, owners, titles and times only;
:meth:`RetentionMixin.apply_cleanup` applies a plan in batches, one transaction each,
re-reading every item under the lock first: a conversation updated, pinned, archived,
restored or deleted since the plan is left alone and reported as skipped. The trash is
restorable (``unarchive_conversation``) until it is purged.

**Storage warning**: :meth:`RetentionMixin.storage_warning` compares
:meth:`RetentionMixin.database_size` with ``storage_warning_bytes``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from threadkeep.db import messages as message_rows
from threadkeep.db import retention as retention_rows
from threadkeep.db.engine import Connection
from threadkeep.errors import InvalidInput
from threadkeep.events import Event
from threadkeep.models import CleanupItem, CleanupPlan, CleanupReport
from threadkeep.store._base import _PREVIEW_ROLES, StoreBase, _check_bool, _check_datetime, _now
from threadkeep.store.audit import (
    audit_entry,
    expire_audit_entries,
    write_audit,
    write_audit_entries,
)

__all__ = ["BATCH_MESSAGES", "BATCH_SIZE", "RetentionMixin", "cap_messages"]

# Conversations per transaction: few enough that the write lock is never held for long,
# enough that commits do not dominate (100,000 trashed in seconds on SQLite). A purge
# deletes whole histories (messages and their search entries cascade), so its batches
# also stop at BATCH_MESSAGES messages (a single larger conversation goes alone).
BATCH_SIZE = 500
BATCH_MESSAGES = 20_000


def _batches(items: Sequence[CleanupItem]) -> Iterator[list[CleanupItem]]:
    batch: list[CleanupItem] = []
    messages = 0
    for item in items:
        weight = item.message_count if item.action == "purge" else 0
        if batch and (len(batch) >= BATCH_SIZE or messages + weight > BATCH_MESSAGES):
            yield batch
            batch, messages = [], 0
        batch.append(item)
        messages += weight
    if batch:
        yield batch


def cap_messages(
    store: StoreBase, conn: Connection, conversation_id: str, fresh: Sequence[dict[str, Any]]
) -> int:
    """Delete the oldest messages past the cap, in the append's transaction.

    ``fresh`` are the rows just inserted, with their seqs (the last one is the
    conversation's ``last_seq``). Returns how many messages were pruned.
    """
    cap = store.settings.max_messages_per_conversation
    if cap is None or not fresh:
        return 0
    last = int(fresh[-1]["seq"])
    if last <= cap:
        return 0  # seqs start at 1, so there cannot be more than ``cap`` messages
    through = last - cap
    count, tokens = retention_rows.prune_through(conn, conversation_id, through)
    if count == 0:
        return 0
    newest_text = next(
        (row for row in reversed(fresh) if row["kind"] == "text" and row["role"] in _PREVIEW_ROLES),
        None,
    )
    # The append set the preview from its newest text message; if the batch had none,
    # or the cap pruned it (a batch larger than the cap), read the newest one left.
    stale = newest_text is None or newest_text["seq"] <= through
    preview = store._preview(message_rows.latest_text(conn, conversation_id)) if stale else None
    retention_rows.shrink_counters(
        conn,
        store.owner,
        conversation_id,
        count=count,
        tokens=tokens,
        preview=preview,
        set_preview=stale,
    )
    return count


def _still_applies(
    item: CleanupItem, state: retention_rows.ConversationState | None, owner: str | None
) -> bool:
    """Whether the conversation is as the plan saw it (else cleanup leaves it alone).

    ``owner`` is the plan's (``None``: every owner): nothing outside it is touched.
    """
    if state is None or state.owner != item.owner or state.pinned:
        return False
    if owner is not None and state.owner != owner:
        return False
    if item.action == "trash":
        return state.status == "active" and state.updated_at == item.updated_at
    return state.status == "trash" and state.trashed_at == item.trashed_at


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class RetentionMixin(StoreBase):
    """The retention part of :class:`~threadkeep.store.ConversationStore`."""

    def plan_cleanup(
        self, *, now: dt.datetime | None = None, all_owners: bool = False
    ) -> CleanupPlan:
        """What cleanup would do at ``now`` (default: the current time); changes nothing.

        This owner's conversations, or every owner's with ``all_owners=True`` (what a
        server's daily run does). With no cleanup setting set the plan is empty and
        says that cleanup is off.
        """
        at = _check_datetime(now, "now") or _now()
        _check_bool(all_owners, "all_owners")
        settings = self._settings
        owner = None if all_owners else self._owner
        plan = CleanupPlan(
            planned_at=at,
            owner=owner,
            inactive_days=settings.cleanup_inactive_days,
            max_per_owner=settings.cleanup_max_per_owner,
            purge_after_days=settings.cleanup_purge_after_days,
        )
        if not plan.enabled:
            return plan
        items: list[CleanupItem] = []
        inactive_cutoff = (
            None if plan.inactive_days is None else at - dt.timedelta(days=plan.inactive_days)
        )
        with self._db.read() as conn:
            if inactive_cutoff is not None:
                items += retention_rows.inactive(conn, owner, inactive_cutoff)
            if plan.max_per_owner is not None:
                items += retention_rows.over_limit(conn, owner, plan.max_per_owner, inactive_cutoff)
            if plan.purge_after_days is not None:
                purge_cutoff = at - dt.timedelta(days=plan.purge_after_days)
                items += retention_rows.expired_trash(conn, owner, purge_cutoff)
        return dataclasses.replace(plan, items=tuple(items))

    def apply_cleanup(
        self,
        plan: CleanupPlan | None = None,
        *,
        now: dt.datetime | None = None,
        all_owners: bool = False,
    ) -> CleanupReport:
        """Carry out ``plan`` (by default a fresh :meth:`plan_cleanup`); report what it did.

        Items are applied in batches (:data:`BATCH_SIZE` conversations, and for purges
        at most :data:`BATCH_MESSAGES` messages), each in one transaction that first
        re-reads its conversations under the lock: one updated, pinned, archived,
        restored or deleted since the plan is left alone (``skipped``).
        ``now`` stamps ``trashed_at`` (default: the current time). A given plan keeps
        its own scope: ``all_owners`` only chooses the scope of a fresh plan (and
        ``all_owners=True`` with a one-owner plan is refused). Every run also deletes
        audit entries older than ``audit_retention_days``, and with ``audit_log`` on
        records one ``trash``/``delete`` entry per conversation and one ``cleanup``
        entry with the counts.
        """
        at = _check_datetime(now, "now") or _now()
        _check_bool(all_owners, "all_owners")
        if plan is None:
            plan = self.plan_cleanup(now=at, all_owners=all_owners)
        elif not isinstance(plan, CleanupPlan):
            raise InvalidInput(f"plan must be a CleanupPlan, got {type(plan).__name__}")
        elif all_owners and not plan.all_owners:
            raise InvalidInput(
                f"this plan covers owner {plan.owner!r} only; make it with "
                "plan_cleanup(all_owners=True) to clean up every owner"
            )
        elif not plan.all_owners and plan.owner != self._owner:
            raise InvalidInput(
                f"this plan was made for owner {plan.owner!r}; apply it with that owner's "
                "store (as_owner)"
            )
        done: dict[str, list[CleanupItem]] = {"trash": [], "purge": []}
        skipped: list[CleanupItem] = []
        seen: set[str] = set()
        for items in (plan.to_trash, plan.to_purge):
            unique = []
            for item in items:
                if item.conversation_id not in seen:  # a plan naming one twice acts once
                    seen.add(item.conversation_id)
                    unique.append(item)
            for batch in _batches(unique):
                applied = self._apply_batch(plan.owner, batch, at)
                done_ids = {item.conversation_id for item in applied}
                skipped += [item for item in batch if item.conversation_id not in done_ids]
                for item in applied:
                    done[item.action].append(item)
        with self._db.write() as conn:
            expired = expire_audit_entries(self, conn, at, all_owners=plan.all_owners)
            if plan.enabled:
                detail = {
                    "trashed": len(done["trash"]),
                    "purged": len(done["purge"]),
                    "skipped": len(skipped),
                    "audit_expired": expired,
                    "all_owners": plan.all_owners,
                }
                write_audit(self, conn, "cleanup", None, detail, at=at)
        return CleanupReport(
            applied_at=at,
            owner=plan.owner,
            enabled=plan.enabled,
            trashed=tuple(done["trash"]),
            purged=tuple(done["purge"]),
            skipped=tuple(skipped),
            audit_expired=expired,
        )

    def _apply_batch(
        self, owner: str | None, batch: list[CleanupItem], at: dt.datetime
    ) -> list[CleanupItem]:
        """Apply the items of one batch that still apply, in one transaction."""
        if not batch:
            return []
        with self._db.write() as conn:
            states = retention_rows.lock_states(conn, [item.conversation_id for item in batch])
            applied = [
                item
                for item in batch
                if _still_applies(item, states.get(item.conversation_id), owner)
            ]
            to_trash = [item.conversation_id for item in applied if item.action == "trash"]
            to_purge = [item.conversation_id for item in applied if item.action == "purge"]
            if to_trash:
                retention_rows.trash(conn, to_trash, at)
            if to_purge:
                retention_rows.purge(conn, to_purge)
            entries = [
                audit_entry(
                    self,
                    "trash" if item.action == "trash" else "delete",
                    item.conversation_id,
                    {"by": "cleanup", "reason": item.reason, "title": item.title},
                    actor=item.owner,
                    at=at,
                )
                for item in applied
            ]
            write_audit_entries(self.settings, conn, entries)
        self._publish(
            Event(
                type="conversation.archived" if item.action == "trash" else "conversation.deleted",
                owner=item.owner,
                conversation_id=item.conversation_id,
                data={"reason": "cleanup", "status": "trash"}
                if item.action == "trash"
                else {"reason": "cleanup"},
            )
            for item in applied
        )
        return applied

    def database_size(self) -> int:
        """Bytes the database takes.

        SQLite: the database file plus its write-ahead log. PostgreSQL: the total size
        (data, indexes, TOAST) of threadkeep's own tables in the schema the connection
        uses, not the whole database, which other applications may share.
        """
        return retention_rows.database_size(self._db)

    def storage_warning(self) -> str | None:
        """A sentence for people when the database is past ``storage_warning_bytes``.

        ``None`` when the setting is off or the database is within it. The CLI prints
        it after commands; the server logs it.
        """
        limit = self._settings.storage_warning_bytes
        if limit is None:
            return None
        size = self.database_size()
        if size <= limit:
            return None
        exact = "" if limit < 1024 else f" ({limit:,} bytes)"
        return (
            f"the database {self._db.describe()} is {_human_size(size)}, over the "
            f"{_human_size(limit)}{exact} set by storage_warning_bytes: see what cleanup "
            "would remove with `threadkeep cleanup --dry-run`, or raise the setting"
        )
