"""How an adapter finds its conversation and its store (SPEC S11).

Frameworks name sessions with strings of their own — ``"user_123"``, ``"support:42"``,
a LangChain ``session_id`` — while threadkeep's conversations have UUIDs. The same
string must reach the same conversation every time, in every process, with nothing to
look up: :func:`conversation_id_for` is a UUIDv5 (RFC 9562, SHA-1 name-based) of the
owner and the string under a fixed threadkeep namespace. The owner is part of the name,
so two users who both say ``"default"`` get two conversations, never each other's. A
string that already is a conversation's UUID is used as it is, so an adapter can also
be pointed at a conversation made elsewhere (the CLI, the server, an import).

:func:`adapter_store` gives an adapter its store: the one passed in (scoped to
``owner`` when one is given), or the embedded default opened from the settings, which
the adapter then owns and closes.
"""

from __future__ import annotations

import uuid

from threadkeep.errors import InvalidInput
from threadkeep.ids import check_uuid
from threadkeep.store import ConversationStore, open_store

__all__ = ["SESSION_NAMESPACE", "adapter_store", "conversation_id_for"]

#: The namespace of session-name UUIDs; fixed forever, or every mapping would move.
SESSION_NAMESPACE = uuid.UUID("5d1b1f8e-4a52-4f3c-9a3e-7c2f0b6d8e41")


def conversation_id_for(session_id: str, owner: str) -> str:
    """The conversation a framework's ``session_id`` names, for ``owner``.

    A UUID is taken as the conversation's own id; any other non-empty string maps to
    ``uuid5(SESSION_NAMESPACE, owner + NUL + session_id)``.
    """
    if not isinstance(session_id, str) or not session_id:
        raise InvalidInput(
            f"a session id must be a non-empty string such as 'user_123', got {session_id!r:.80}"
        )
    try:
        return check_uuid(session_id, what="session id")
    except InvalidInput:
        return str(uuid.uuid5(SESSION_NAMESPACE, f"{owner}\x00{session_id}"))


def adapter_store(
    store: ConversationStore | None, owner: str | None
) -> tuple[ConversationStore, bool]:
    """The store an adapter uses and whether the adapter opened it (and must close it).

    ``store=None`` opens the embedded default (settings, ``THREADKEEP_*``); ``owner``
    scopes the store to that owner (default: the store's own owner).
    """
    if store is None:
        return (open_store() if owner is None else open_store(owner=owner)), True
    if owner is not None and owner != store.owner:
        return store.as_owner(owner), False
    return store, False
