"""One run at a time per conversation, in arrival order (SPEC S4.5) — within a process.

A :class:`RunQueue` hands out turns: ``async with queue.turn(conversation_id):`` waits
until every send that asked earlier for the same conversation has finished, then holds
the turn until its block ends (also when it fails or is cancelled). Sends to different
conversations never wait for each other. The order is FIFO: each conversation's turns
are an :class:`asyncio.Lock`, whose waiters are woken in the order they queued.

One queue serves a whole process (the server makes one per app, the CLI one per
session) and is handed to every :class:`~threadkeep.runtime.send.Runtime`; it holds an
entry only while a conversation has a run going or waiting, so it does not grow with
the number of conversations ever sent to.

Across processes (two servers on one PostgreSQL, two processes on one SQLite file) a
database-side lock is still to come; :meth:`RunQueue.waiting` reports this process's
queue only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["RunQueue"]


class RunQueue:
    """The turns of each conversation of this process (see the module doc)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, int] = {}  # sends holding or awaiting each lock

    @asynccontextmanager
    async def turn(self, conversation_id: str) -> AsyncIterator[None]:
        """Wait for ``conversation_id``'s turn, hold it for the block, pass it on."""
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        self._holders[conversation_id] = self._holders.get(conversation_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            left = self._holders[conversation_id] - 1
            if left:
                self._holders[conversation_id] = left
            else:  # nobody holds or awaits it: forget the conversation
                del self._holders[conversation_id]
                del self._locks[conversation_id]

    def waiting(self, conversation_id: str) -> int:
        """How many sends of this process hold or await ``conversation_id``'s turn."""
        return self._holders.get(conversation_id, 0)
