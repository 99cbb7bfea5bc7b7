"""Bulk import: many conversations with all their messages, in one transaction.

:meth:`ImportsMixin.import_conversations` is what ``threadkeep.transfer.importer``
writes through once it has read and checked a whole input; it is also usable on its
own. Every item is a :class:`ConversationImport` carrying an ``import_key`` — a digest
of where it came from — and:

* an item whose ``import_key`` this owner already has (or that came earlier in the
  same call) is skipped, so importing the same source twice duplicates nothing —
  unless it is ``appendable`` and its source has grown (below);
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
transaction back, so the call is all or nothing. :func:`import_checker` runs
those checks alone, without a database, for a reader that wants to refuse a bad
input before taking the write lock. One ``conversation.created`` event (with
``imported=True``) per written conversation is published after the commit.

**Sources that grow.** A Claude Code transcript, a Codex rollout or an Agents SDK
session gains messages after it was imported. An ``appendable`` item records in its
conversation's ``context["source"]`` what it was imported from (``import_checks.py``:
how many messages, a digest of their identities — role, kind and id of each, so a reply
that grows keeps its identity — a digest of the last one's body, and the
conversation's ``last_seq``). A later import of the same key compares, inside the write
transaction and under the conversation's row lock:

* the same messages, the same last body: nothing is written (idempotent);
* more messages, of which the first ``messages`` have the recorded digest: the new
  ones are appended as an append would (seqs reserved from the counter row, the message
  cap applied, counters and preview kept), and the record is brought up to date; a
  last message whose body changed (a reply still being written at the first import) is
  rewritten in place — the conversation is counted in ``updated``;
* anything else — the first messages differ (an edited ChatGPT branch, another source
  under the same id), fewer messages, or a conversation changed in threadkeep since
  (its ``last_seq`` is not the recorded ``seq``) — is skipped, with a sentence saying
  why in ``skip_reasons``, so a person can delete it and import it again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from threadkeep.db import conversations as conversation_rows
from threadkeep.db import imports as import_rows
from threadkeep.db import messages as message_rows
from threadkeep.db.engine import Connection
from threadkeep.ids import new_id
from threadkeep.models import Conversation
from threadkeep.store._base import StoreBase, _conversation_values, _now
from threadkeep.store.audit import write_audit
from threadkeep.store.import_checks import (
    Checker,
    ConversationImport,
    MessageImport,
    Prepared,
    body_digest,
    identities,
    import_checker,
    recorded_source,
)
from threadkeep.store.retention import cap_messages

__all__ = [
    "ConversationImport",
    "ImportResult",
    "ImportsMixin",
    "MessageImport",
    "import_checker",
]

# Messages are inserted this many at a time, so a huge conversation never sits in
# memory as rows twice.
_BATCH = 2_000


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What :meth:`ImportsMixin.import_conversations` wrote.

    ``conversation_ids`` are the ids written, in input order; ``skipped`` the import
    keys passed over (already imported, or changed: see ``skip_reasons``);
    ``renamed`` how many items got a new id because theirs was taken; ``redacted``
    what ``redact_on_write`` masked, by kind. ``updated`` are the conversations a
    grown source added to, ``appended`` the messages it added (not in ``messages``);
    ``skip_reasons`` says, one sentence per item, why a known source that changed was
    skipped rather than appended to.
    """

    conversation_ids: tuple[str, ...]
    messages: int
    skipped: tuple[str, ...]
    renamed: int
    redacted: dict[str, int]
    updated: tuple[str, ...] = ()
    appended: int = 0
    skip_reasons: tuple[str, ...] = ()


class ImportsMixin(StoreBase):
    """The bulk-import part of :class:`~threadkeep.store.ConversationStore`."""

    def import_conversations(self, items: Iterable[ConversationImport]) -> ImportResult:
        """Write every item (with its messages) in one transaction; see the module doc.

        Returns what was written, skipped and renamed. Any error — in an item, or
        raised by a lazy ``items`` while it is read — rolls everything back.
        """
        checker = Checker(self._settings, _now(), self._preview_of_rows)
        written: list[tuple[str, int]] = []
        skipped: list[str] = []
        reasons: list[str] = []
        updated: list[tuple[str, int]] = []
        renamed = 0
        redacted: Counter[str] = Counter()
        seen: set[str] = set()
        with self._db.write() as conn:
            for item in items:
                prepared = checker.prepare(item, self._owner)
                key = item.import_key
                if key in seen:  # the same source twice in one call
                    skipped.append(key)
                    continue
                seen.add(key)
                known = import_rows.imported_as(conn, self._owner, key)
                if known is not None:
                    outcome = self._grown(conn, item, prepared, known, redacted)
                    if isinstance(outcome, int):
                        updated.append((known, outcome))
                    else:
                        skipped.append(key)
                        if outcome is not None:
                            reasons.append(f"{item.place or key}: {outcome}")
                    continue
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
            [
                *(
                    self._event("conversation.created", cid, imported=True, messages=count)
                    for cid, count in written
                ),
                *(
                    self._event(
                        "conversation.updated",
                        cid,
                        fields=["messages"],
                        imported=True,
                        appended=count,
                    )
                    for cid, count in updated
                ),
            ]
        )
        return ImportResult(
            conversation_ids=tuple(cid for cid, _ in written),
            messages=sum(count for _, count in written),
            skipped=tuple(skipped),
            renamed=renamed,
            redacted=dict(redacted),
            updated=tuple(cid for cid, _ in updated),
            appended=sum(count for _, count in updated),
            skip_reasons=tuple(reasons),
        )

    def _grown(
        self,
        conn: Connection,
        item: ConversationImport,
        prepared: Prepared,
        cid: str,
        redacted: Counter[str],
    ) -> int | str | None:
        """Bring conversation ``cid``, imported from ``item``'s source before, up to date
        with it (see the module doc): the number of messages appended when it was
        updated, a reason when it was skipped because it changed, ``None`` when there
        is nothing to do."""
        if not item.appendable:
            return None
        existing = conversation_rows.get(conn, self._owner, cid, for_update=True)
        recorded = None if existing is None else recorded_source(existing.context)
        if existing is None or recorded is None:
            return None
        count, digest, last, seq = recorded
        messages = list(item.messages)
        if len(messages) < count or identities(messages[:count]) != digest:
            return (
                f"its source no longer starts with the {count:,} messages imported from it "
                "(edited, or another source with the same id); skipped — delete conversation "
                f"{cid} to import it again"
            )
        refresh = count > 0 and body_digest(messages[count - 1]) != last
        if len(messages) == count and not refresh:
            return None
        if existing.last_seq != seq:
            return (
                f"conversation {cid} has changed in threadkeep since it was imported; what "
                "its source added since was not taken"
            )
        # The rows are the newest of the source's messages when the cap pruned the item.
        offset = len(messages) - len(prepared.messages)
        return self._append_grown(
            conn, existing, prepared, count - offset, refresh, item.place, redacted
        )

    def _append_grown(
        self,
        conn: Connection,
        existing: Conversation,
        prepared: Prepared,
        known: int,
        refresh: bool,
        place: str,
        redacted: Counter[str],
    ) -> int:
        """Append the rows past the ``known`` first (and rewrite the last known one when
        ``refresh``); return how many were appended. What redaction masked in the rows
        written is added to ``redacted``."""
        cid = existing.id
        rows = prepared.messages
        fresh = rows[max(0, known) :]
        for found in prepared.row_redacted[max(0, known - 1 if refresh else known) :]:
            redacted.update(found)
        at = max(existing.updated_at, prepared.conversation.updated_at)
        tokens = 0
        changed = rows[known - 1] if refresh and known >= 1 else None
        if changed is not None:
            stored = message_rows.get_one(conn, self._owner, cid, changed["id"])
            if stored is not None:
                keys = ("content", "metadata", "tokens", "status", "updated_at")
                message_rows.update_one(conn, cid, stored.id, {key: changed[key] for key in keys})
                tokens = (changed["tokens"] or 0) - (stored.tokens or 0)
        last_seq = existing.last_seq
        if fresh:
            preview = self._preview_of_rows(fresh)
            tokens += sum(row["tokens"] or 0 for row in fresh)
            reserved = message_rows.reserve_seqs(
                conn, self._owner, cid, len(fresh), tokens=tokens, at=at, preview=preview
            )
            if reserved is None:  # the row is locked: only a broken database gets here
                raise self._not_found(cid)
            last_seq = reserved
            for position, row in enumerate(fresh, start=last_seq - len(fresh) + 1):
                row["conversation_id"] = cid
                row["seq"] = position
            for start in range(0, len(fresh), _BATCH):
                message_rows.insert(conn, fresh[start : start + _BATCH])
            cap_messages(self, conn, cid, fresh)
        values: dict[str, Any] = {}
        if not fresh:
            values.update(token_count=existing.token_count + tokens, updated_at=at)
        if changed is not None:
            values["preview"] = self._preview(message_rows.latest_text(conn, cid))
        context = dict(existing.context)
        context["source"] = {**prepared.conversation.context["source"], "seq": last_seq}
        values["context"] = context
        if existing.title is None and prepared.conversation.title is not None:
            values["title"] = prepared.conversation.title
        conversation_rows.update(conn, self._owner, cid, values)
        write_audit(
            self, conn, "import", cid, {"messages": len(fresh), "appended": True, "source": place}
        )
        return len(fresh)
