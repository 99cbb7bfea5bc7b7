"""Request dependencies: the app's state and the store scoped to the caller.

``OwnerStore`` is what a route asks for: ``state.store.as_owner(owner)`` for the owner
``auth.current_owner`` resolved, so every lookup is scoped by owner in the store
(another user's object is "not found" by construction, ARCHITECTURE.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from threadkeep.server.auth import current_owner
from threadkeep.server.state import ServerState
from threadkeep.store import ConversationStore

__all__ = ["Owner", "OwnerStore", "State", "server_state"]


def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.threadkeep
    return state


State = Annotated[ServerState, Depends(server_state)]
Owner = Annotated[str, Depends(current_owner)]


def owner_store(state: State, owner: Owner) -> ConversationStore:
    return state.metrics.instrument(state.store.as_owner(owner))


OwnerStore = Annotated[ConversationStore, Depends(owner_store)]
