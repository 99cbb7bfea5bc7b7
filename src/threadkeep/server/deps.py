"""Request dependencies: the app's state and the store scoped to the caller.

``OwnerStore`` is what a route asks for: ``state.store.as_owner(owner)`` for the owner
``auth.current_owner`` resolved, so every lookup is scoped by owner in the store
(another user's object is "not found" by construction, ARCHITECTURE.md);
``AsyncOwnerStore`` is the same store's async twin, for an ``async`` route (the
append: its write waits for the commit without a thread, ``aio.py``). The owner is
resolved once per request (``auth.py`` keeps it on ``request.state``), whichever of
``Owner``, ``OwnerStore`` and ``AsyncOwnerStore`` a route asks for.

``OwnerRuntime`` is the agent runtime for the caller (``api/send.py``): made per
request on the caller's async store, with the app's run queue, plugin manager and
background work (a title after a first reply), which outlives the request and is
awaited at shutdown (``state.Sends``).

Every dependency here is ``async``: FastAPI runs a sync dependency in its thread pool,
a hop per request; these take one only when the owner's lookup needs it (``auth.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from threadkeep.aio import AsyncConversationStore
from threadkeep.runtime.send import Runtime
from threadkeep.server.auth import current_owner
from threadkeep.server.state import ServerState
from threadkeep.store import ConversationStore

__all__ = [
    "AsyncOwnerStore",
    "Owner",
    "OwnerRuntime",
    "OwnerStore",
    "State",
    "server_state",
]


async def server_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.threadkeep
    return state


State = Annotated[ServerState, Depends(server_state)]
Owner = Annotated[str, Depends(current_owner)]


async def owner_store(request: Request) -> ConversationStore:
    """The caller's store, its calls counted and timed (``metrics.py``)."""
    state: ServerState = request.app.state.threadkeep
    owner = await current_owner(request)
    return state.metrics.instrument(state.store.as_owner(owner))


async def async_owner_store(request: Request) -> AsyncConversationStore:
    """The caller's store as its async twin, its calls counted and timed."""
    state: ServerState = request.app.state.threadkeep
    owner = await current_owner(request)
    return state.metrics.instrument_async(AsyncConversationStore(state.store.as_owner(owner)))


OwnerStore = Annotated[ConversationStore, Depends(owner_store)]
AsyncOwnerStore = Annotated[AsyncConversationStore, Depends(async_owner_store)]


async def owner_runtime(request: Request) -> Runtime:
    """The agent runtime for the caller (their async store, the app's queue)."""
    state: ServerState = request.app.state.threadkeep
    return Runtime(
        await async_owner_store(request),
        state.queue,
        settings=state.settings,
        manager=state.plugins,
        background=state.sends.background,
    )


OwnerRuntime = Annotated[Runtime, Depends(owner_runtime)]
