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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, get_args

__all__ = [
    "CONVERSATION_STATUSES",
    "MESSAGE_KINDS",
    "MESSAGE_ROLES",
    "MESSAGE_STATUSES",
    "RUN_STATUSES",
    "Conversation",
    "ConversationFilter",
    "ConversationStats",
    "ForkedFrom",
    "JSONObject",
    "Message",
    "MessageDraft",
    "Page",
    "Run",
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
    """One stored message; ``seq`` is 1, 2, 3, ... gapless within its conversation."""

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
