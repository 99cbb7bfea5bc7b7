"""Request dependencies: the app's state and the store scoped to the caller.

``OwnerStore`` is what a route asks for: ``state.store.as_owner(owner)`` for the owner
``auth.current_owner`` resolved, so every lookup is scoped by owner in the store
(another user's object is "not found" by construction, ARCHITECTURE.md). The owner is
resolved once per request (``auth.py`` keeps it on ``request.state``), whichever of
``Owner`` and ``OwnerStore`` a route asks for.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from threadkeep.server.auth import current_owner
from threadkeep.server.state import ServerState
from threadkeep.store import ConversationStore

__all__ = ["Owner", "OwnerStore", "State", "server_state"]


async def server_state(request: Request) -> ServerState:
    # ``async``: no I/O here, and a sync dependency costs a thread-pool hop per request.
    state: ServerState = request.app.state.threadkeep
    return state


State = Annotated[ServerState, Depends(server_state)]
Owner = Annotated[str, Depends(current_owner)]


def owner_store(request: Request) -> ConversationStore:
    """The caller's store. Authentication (which reads the database) and scoping in one
    dependency, so a request makes one thread-pool hop for them, not three."""
    state: ServerState = request.app.state.threadkeep
    owner = current_owner(request)
    return state.metrics.instrument(state.store.as_owner(owner))


OwnerStore = Annotated[ConversationStore, Depends(owner_store)]
