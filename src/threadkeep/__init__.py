"""threadkeep: a durable conversation store for LLM chat apps and agents.

The public surface is exactly ``__all__`` (a test keeps it so)::

    from threadkeep import open_store

    with open_store("chats.db") as store:
        conversation = store.create_conversation(title="Hello")
        store.append_message(conversation.id, "user", "Hi!")
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from threadkeep.aio import AsyncConversationStore, open_async_store
from threadkeep.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    StoreUnavailable,
    ThreadkeepError,
    TooLarge,
)
from threadkeep.models import (
    AuditEntry,
    CleanupItem,
    CleanupPlan,
    CleanupReport,
    Conversation,
    ConversationStats,
    ForkedFrom,
    Message,
    MessageDraft,
    Page,
    Run,
    SearchGroup,
    SearchHit,
    group_hits,
)
from threadkeep.settings import Settings
from threadkeep.store import UNSET, ConversationStore, open_store

try:
    __version__ = _version("threadkeep")
except _PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "UNSET",
    "AsyncConversationStore",
    "AuditEntry",
    "CleanupItem",
    "CleanupPlan",
    "CleanupReport",
    "Conflict",
    "Conversation",
    "ConversationStats",
    "ConversationStore",
    "ForkedFrom",
    "InvalidInput",
    "Message",
    "MessageDraft",
    "NotFound",
    "Page",
    "Run",
    "SearchGroup",
    "SearchHit",
    "Settings",
    "StoreUnavailable",
    "ThreadkeepError",
    "TooLarge",
    "__version__",
    "group_hits",
    "open_async_store",
    "open_store",
]
