"""The value objects threadkeep hands out: conversations, messages, runs, pages.

They are frozen, slotted dataclasses rather than pydantic models: the store builds
thousands of them per second on the read paths (tail, list), and a dataclass costs a
fraction of a validated model there (see ``bench/``). Validation belongs at the edges —
the store checks what callers pass in, the server's request schemas check HTTP bodies —
so these objects trust what the database returns.

All datetimes are timezone-aware UTC. ``metadata`` and ``context`` are plain JSON
values; treat them as read-only (the dataclass is frozen, its dict is not copied).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, get_args

__all__ = [
    "AUDIT_ACTIONS",
    "CONVERSATION_STATUSES",
    "MESSAGE_KINDS",
    "MESSAGE_ROLES",
    "MESSAGE_STATUSES",
    "RUN_STATUSES",
    "AuditEntry",
    "CleanupItem",
    "CleanupPlan",
    "CleanupReport",
    "Conversation",
    "ConversationFilter",
    "ConversationStats",
    "ForkedFrom",
    "JSONObject",
    "Message",
    "MessageDraft",
    "OwnerStats",
    "Page",
    "Run",
    "SearchGroup",
    "SearchHit",
    "group_hits",
    "trusted_builder",
]

T = TypeVar("T")

JSONObject = dict[str, Any]

Role = Literal["user", "assistant", "system", "tool"]
Kind = Literal["text", "tool_call", "tool_result", "system_artifact", "error"]
MessageStatus = Literal["complete", "streaming", "incomplete"]
ConversationStatus = Literal["active", "archived", "trash"]
RunStatus = Literal["queued", "running", "completed", "failed", "cancelled", "interrupted"]

MESSAGE_ROLES: frozenset[str] = frozenset(get_args(Role))
MESSAGE_KINDS: frozenset[str] = frozenset(get_args(Kind))
MESSAGE_STATUSES: frozenset[str] = frozenset(get_args(MessageStatus))
CONVERSATION_STATUSES: frozenset[str] = frozenset(get_args(ConversationStatus))
RUN_STATUSES: frozenset[str] = frozenset(get_args(RunStatus))


@dataclass(frozen=True, slots=True)
class ForkedFrom:
    """Where a forked conversation was branched: the source and the last copied seq."""

    conversation_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class Conversation:
    """A thread of messages owned by one user (SPEC S1)."""

    id: str
    owner: str
    title: str | None
    mode: str
    provider: str | None
    provider_session_id: str | None
    model: str | None
    context: JSONObject
    status: str
    pinned: bool
    tags: tuple[str, ...]
    created_at: dt.datetime
    updated_at: dt.datetime
    message_count: int
    last_seq: int
    token_count: int
    preview: str | None
    forked_from: ForkedFrom | None
    trashed_at: dt.datetime | None
    """When cleanup moved it to the trash (status ``trash``); ``None`` otherwise."""


@dataclass(frozen=True, slots=True)
class Message:
    """One stored message; ``seq`` is 1, 2, 3, ... gapless within its conversation.

    A conversation's seqs are contiguous: ``1..message_count``, unless the message cap
    (``max_messages_per_conversation``) pruned the oldest, which leaves
    ``last_seq - message_count + 1 .. last_seq``.
    """

    id: str
    conversation_id: str
    seq: int
    role: str
    kind: str
    content: str
    status: str
    metadata: Any
    tokens: int | None
    run_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A message to append, for :meth:`ConversationStore.append_messages`.

    The same fields as :meth:`ConversationStore.append_message` takes; checked by the
    store when appended, not when built.
    """

    role: str
    content: str
    kind: str = "text"
    metadata: Any = None
    tokens: int | None = None
    run_id: str | None = None
    status: str = "complete"
    id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Run:
    """One agent turn on a conversation (SPEC S1)."""

    id: str
    conversation_id: str
    provider: str
    model: str | None
    status: str
    resumed_session_id: str | None
    provider_session_id: str | None
    retried_without_resume: bool
    error: str | None
    usage: JSONObject | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ConversationStats:
    """Counts and activity of one conversation, read from its counters (no scan)."""

    conversation_id: str
    message_count: int
    last_seq: int
    token_count: int
    created_at: dt.datetime
    updated_at: dt.datetime
    first_message_at: dt.datetime | None
    last_message_at: dt.datetime | None

    @property
    def age(self) -> dt.timedelta:
        """Time since the conversation was created."""
        return dt.datetime.now(dt.UTC) - self.created_at


@dataclass(frozen=True, slots=True)
class OwnerStats:
    """An owner's totals: conversations per status (every status, zeros included),
    and the messages and tokens in all of them, summed from the conversations' counters.

    ``owner`` is ``None`` for the totals over every owner."""

    owner: str | None
    conversations: dict[str, int]
    messages: int
    tokens: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset-paginated listing.

    ``next_cursor`` is an opaque string to pass back as ``cursor=`` for the next page,
    or ``None`` on the last page.
    """

    items: list[T]
    next_cursor: str | None = None

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result (SPEC S5): a message, or a conversation whose title matched.

    A title hit has ``message_id``, ``seq`` and ``role`` ``None``. ``snippet`` is HTML:
    the text is escaped and matched words are wrapped in ``<mark>…</mark>``. ``score``
    is higher for better matches (the engine's relevance: BM25 on SQLite, ``ts_rank``
    on PostgreSQL — compare scores within one result list only).
    """

    conversation_id: str
    conversation_title: str | None
    message_id: str | None
    seq: int | None
    role: str | None
    snippet: str
    score: float
    created_at: dt.datetime
    updated_at: dt.datetime
    """The message's creation time (a title hit: the conversation's) and the
    conversation's last update."""


@dataclass(frozen=True, slots=True)
class SearchGroup:
    """A conversation's hits, for a sidebar: in the order of its best hit."""

    conversation_id: str
    conversation_title: str | None
    hits: tuple[SearchHit, ...]


def group_hits(hits: Iterable[SearchHit]) -> list[SearchGroup]:
    """Group hits by conversation, keeping the rank order of each one's best hit."""
    groups: dict[str, list[SearchHit]] = {}
    for hit in hits:
        groups.setdefault(hit.conversation_id, []).append(hit)
    return [
        SearchGroup(cid, found[0].conversation_title, tuple(found)) for cid, found in groups.items()
    ]


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """What :meth:`ConversationStore.list_conversations` narrows a listing by."""

    status: str | None = "active"
    provider: str | None = None
    model: str | None = None
    mode: str | None = None
    tag: str | None = None
    updated_after: dt.datetime | None = None
    updated_before: dt.datetime | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


# ------------------------------------------------------------- retention and audit

AuditAction = Literal[
    "create",
    "rename",
    "archive",
    "unarchive",
    "trash",
    "delete",
    "export",
    "import",
    "cleanup",
    "share",
    "unshare",
    "key_create",
    "key_revoke",
]
AUDIT_ACTIONS: frozenset[str] = frozenset(get_args(AuditAction))


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit log entry (SPEC S7.5): who (``actor``, an owner) did what, and when."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    conversation_id: str | None
    detail: JSONObject | None

    def to_dict(self) -> JSONObject:
        """The entry as JSON-ready values (datetimes in ISO 8601)."""
        return {
            "id": self.id,
            "at": _iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "conversation_id": self.conversation_id,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class CleanupItem:
    """One conversation cleanup plans to move to the trash or to purge, and why.

    ``action`` is ``trash`` or ``purge``; ``reason`` is ``inactive`` (not updated for
    ``cleanup_inactive_days``), ``over_limit`` (past ``cleanup_max_per_owner``) or
    ``expired_trash`` (in the trash for ``cleanup_purge_after_days``).
    """

    conversation_id: str
    owner: str
    title: str | None
    action: str
    reason: str
    updated_at: dt.datetime
    trashed_at: dt.datetime | None
    message_count: int = 0

    def to_dict(self) -> JSONObject:
        return {
            "conversation_id": self.conversation_id,
            "owner": self.owner,
            "title": self.title,
            "action": self.action,
            "reason": self.reason,
            "updated_at": _iso(self.updated_at),
            "trashed_at": _iso(self.trashed_at),
            "message_count": self.message_count,
        }


_CLEANUP_OFF = (
    "cleanup is off: set cleanup_inactive_days, cleanup_max_per_owner or "
    "cleanup_purge_after_days to turn it on"
)


def _conversations(n: int) -> str:
    return f"{n} conversation{'' if n == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class CleanupPlan:
    """What a cleanup would do now (a dry run): exactly the conversations that would go.

    ``owner`` is ``None`` when the plan covers every owner. The rules are the settings
    in force when it was made (``None``: that rule is off).
    """

    planned_at: dt.datetime
    owner: str | None
    inactive_days: int | None
    max_per_owner: int | None
    purge_after_days: int | None
    items: tuple[CleanupItem, ...] = ()

    @property
    def enabled(self) -> bool:
        """Whether any cleanup rule is on."""
        rules = (self.inactive_days, self.max_per_owner, self.purge_after_days)
        return any(rule is not None for rule in rules)

    @property
    def all_owners(self) -> bool:
        return self.owner is None

    @property
    def to_trash(self) -> tuple[CleanupItem, ...]:
        return tuple(item for item in self.items if item.action == "trash")

    @property
    def to_purge(self) -> tuple[CleanupItem, ...]:
        return tuple(item for item in self.items if item.action == "purge")

    @property
    def summary(self) -> str:
        """One sentence for people: what applying this plan would do."""
        if not self.enabled:
            return _CLEANUP_OFF
        return (
            f"cleanup would move {_conversations(len(self.to_trash))} to the trash "
            f"and purge {len(self.to_purge)}"
        )

    def to_dict(self) -> JSONObject:
        """The plan as JSON-ready values (``threadkeep cleanup --dry-run --json``)."""
        return {
            "enabled": self.enabled,
            "summary": self.summary,
            "planned_at": _iso(self.planned_at),
            "owner": self.owner,
            "all_owners": self.all_owners,
            "rules": {
                "cleanup_inactive_days": self.inactive_days,
                "cleanup_max_per_owner": self.max_per_owner,
                "cleanup_purge_after_days": self.purge_after_days,
            },
            "counts": {"trash": len(self.to_trash), "purge": len(self.to_purge)},
            "trash": [item.to_dict() for item in self.to_trash],
            "purge": [item.to_dict() for item in self.to_purge],
        }


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """What a cleanup run did: moved to the trash, purged, and left alone.

    ``skipped`` holds planned items that changed between the plan and the apply
    (updated, pinned, archived, restored, deleted): cleanup leaves those alone.
    ``audit_expired`` counts audit entries deleted for being older than
    ``audit_retention_days``.
    """

    applied_at: dt.datetime
    owner: str | None
    enabled: bool
    trashed: tuple[CleanupItem, ...] = ()
    purged: tuple[CleanupItem, ...] = ()
    skipped: tuple[CleanupItem, ...] = ()
    audit_expired: int = 0

    @property
    def summary(self) -> str:
        """One sentence for people: what the run did."""
        if not self.enabled:
            return _CLEANUP_OFF
        text = (
            f"cleanup moved {_conversations(len(self.trashed))} to the trash "
            f"and purged {len(self.purged)}"
        )
        if self.skipped:
            text += f"; {len(self.skipped)} changed since the plan and were left alone"
        return text

    def to_dict(self) -> JSONObject:
        """The report as JSON-ready values (``threadkeep cleanup --json``)."""
        return {
            "enabled": self.enabled,
            "summary": self.summary,
            "applied_at": _iso(self.applied_at),
            "owner": self.owner,
            "all_owners": self.owner is None,
            "counts": {
                "trashed": len(self.trashed),
                "purged": len(self.purged),
                "skipped": len(self.skipped),
                "audit_expired": self.audit_expired,
            },
            "trashed": [item.to_dict() for item in self.trashed],
            "purged": [item.to_dict() for item in self.purged],
            "skipped": [item.to_dict() for item in self.skipped],
        }


def trusted_builder(cls: type[T]) -> Callable[..., T]:
    """A fast positional constructor of a frozen, slotted dataclass, for trusted values.

    A frozen dataclass's ``__init__`` stores each field through
    ``object.__setattr__``, about four times the cost of a plain slot store; on the
    read paths (a tail of 20 messages, a listing of 50 conversations) that is most of
    the Python time. This builds the same object through a mutable twin with the same
    slots and then gives it its real class, so the result *is* a ``cls`` — frozen,
    equal and hashing like one made by ``cls(...)``. Only for values that need no
    checks: the store uses it for rows it reads back.
    """
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    twin_ns: dict[str, Any] = {"__annotations__": dict.fromkeys(names, object)}
    twin: Any = dataclass(slots=True, eq=False, repr=False)(
        type(f"_{cls.__name__}Twin", (), twin_ns)
    )

    def build(*values: Any) -> T:
        obj = twin(*values)
        obj.__class__ = cls
        return obj  # type: ignore[no-any-return]

    return build
