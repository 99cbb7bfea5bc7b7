"""One run at a time per conversation, in arrival order, across processes (SPEC S4.5).

A :class:`RunQueue` hands out turns: ``async with queue.turn(store, conversation_id):``
waits until every send that asked earlier for the same conversation — in this process
or in any other process on the same database — has finished, then holds the turn until
its block ends (also when it fails or is cancelled). Sends to different conversations
never wait for each other.

**How** (the store's ``run_turns.py`` has the table's side):

1. The send takes a **ticket** in the database (``take_turn``): an autoincrement row,
   so tickets are ordered as they were taken, whichever process took them.
2. It waits until no live ticket is ahead of its own (``turns_ahead``), asking again
   when a send of this process releases its turn (at once) and otherwise with a
   backoff from 20 ms to 0.5 s (another process's release: no cross-process signal is
   needed, and the wait is idle, not spinning).
3. A **keeper** task renews the ticket's lease every :data:`RENEW_SECONDS` while the
   send waits and runs, and reads back whether another process asked to cancel the run
   (``request_run_cancel``); if so it cancels the task running it. A process killed
   mid-run stops renewing: after :data:`LEASE_SECONDS` (at once on the same host,
   where a dead pid is plain to see) its ticket is dead, the next send goes ahead and
   the run is marked ``interrupted``.
4. At the end the ticket is deleted (``release_turn``), shielded from cancellation.

A local :class:`asyncio.Lock` per conversation is taken after the database grants the
turn. It is uncontended while the database works; if the store cannot be reached when
a send asks for its ticket (``StoreUnavailable``), the send goes on with the local
lock alone (SPEC S4.8: the reply still comes), ordered within this process.

One queue serves one event loop of one process — the server makes one per app, the
CLI one per session — and is handed to every :class:`~threadkeep.runtime.send.Runtime`.
It keeps per-conversation state only while a conversation has a send waiting or
running. It also knows which task runs which run, so that :meth:`RunQueue.cancel`
can stop a run of this process and :meth:`RunQueue.cancel_run` one of any process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from threadkeep.aio import AsyncConversationStore
from threadkeep.errors import NotFound, StoreUnavailable
from threadkeep.store.run_turns import claim_holder, drop_holder, process_holder

__all__ = ["LEASE_SECONDS", "RENEW_SECONDS", "HeldTurn", "RunQueue", "stop_task"]

log = logging.getLogger(__name__)

#: A ticket not renewed for this long is dead (its holder on another host died).
LEASE_SECONDS = 30.0
#: How often a holder renews its lease and looks for a cancel from another process.
RENEW_SECONDS = 1.0
_POLL_FIRST = 0.02
_POLL_MAX = 0.5


def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` unless it is over or already being cancelled.

    A second cancel would land while the send records its run ``cancelled`` (a write
    the pipeline shields) and end the task before that write is done.
    """
    if not task.done() and not task.cancelling():
        task.cancel()


class HeldTurn:
    """A conversation's turn, held by a send for the length of its block."""

    def __init__(self, ticket: int | None) -> None:
        #: The database ticket; ``None`` when the store could not be reached for one.
        #: The send's run is started with it (``start_run(turn=...)``): a live holder's
        #: run is not marked ``interrupted`` by another process starting up, and can be
        #: cancelled from one.
        self.ticket = ticket
        self.run_id: str | None = None


class RunQueue:
    """The turns of each conversation, for the sends of this process (module doc)."""

    def __init__(self) -> None:
        #: How this process's tickets are marked (host, pid and a random token).
        self.holder = process_holder(secrets.token_hex(4))
        claim_holder(self.holder)
        # A queue dropped with tickets it could not release (the store was down) leaves
        # them dead at once for this process, not only when their lease lapses.
        weakref.finalize(self, drop_holder, self.holder)
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, int] = {}  # sends holding or awaiting each turn
        self._sleepers: dict[str, set[asyncio.Event]] = {}  # waiting for a local release
        self._running: dict[str, asyncio.Task[Any]] = {}  # run id -> the task running it

    @asynccontextmanager
    async def turn(
        self, store: AsyncConversationStore, conversation_id: str
    ) -> AsyncIterator[HeldTurn]:
        """Wait for ``conversation_id``'s turn, hold it for the block, pass it on.

        ``NotFound`` when the conversation is not ``store``'s owner's.
        """
        self._holders[conversation_id] = self._holders.get(conversation_id, 0) + 1
        try:
            try:
                ticket: int | None = await store.take_turn(
                    conversation_id, holder=self.holder, lease_seconds=LEASE_SECONDS
                )
            except StoreUnavailable:
                ticket = None
            held = HeldTurn(ticket)
            if ticket is None:
                async with self._local_lock(conversation_id):
                    yield held
                return
            keeper = asyncio.ensure_future(self._keep(store, held))
            try:
                await self._wait(store, conversation_id, ticket)
                async with self._local_lock(conversation_id):
                    yield held
            finally:
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)
                with contextlib.suppress(StoreUnavailable):  # its lease will lapse instead
                    await asyncio.shield(store.release_turn(ticket))
                self._wake(conversation_id)
        finally:
            left = self._holders[conversation_id] - 1
            if left:
                self._holders[conversation_id] = left
            else:  # nobody holds or awaits it: forget the conversation
                del self._holders[conversation_id]
                self._locks.pop(conversation_id, None)

    @contextmanager
    def running(self, run_id: str) -> Iterator[None]:
        """Mark the current task as the one running ``run_id`` for the block, so that
        :meth:`cancel` can stop it (the send pipeline wraps each run in it)."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task under asyncio
            yield
            return
        self._running[run_id] = task
        try:
            yield
        finally:
            if self._running.get(run_id) is task:
                del self._running[run_id]

    def cancel(self, run_id: str) -> bool:
        """Cancel the run ``run_id`` if this process runs it; ``False`` when it does not.

        The run's task is cancelled: the pipeline finishes the run ``cancelled`` (what
        was streamed stays stored, ``incomplete``) and passes the cancellation on.
        """
        task = self._running.get(run_id)
        if task is None or task.done():
            return False
        stop_task(task)
        return True

    def task_of(self, run_id: str) -> asyncio.Task[Any] | None:
        """The task running ``run_id`` in this process, if any."""
        return self._running.get(run_id)

    async def cancel_run(self, store: AsyncConversationStore, run_id: str) -> bool:
        """Cancel ``store``'s owner's run ``run_id``, wherever it runs.

        ``NotFound`` for an unknown or another owner's run, ``Conflict`` for a finished
        one. A run of this process is cancelled at once; one of another process is
        flagged, and that process cancels it within :data:`RENEW_SECONDS`. ``False``:
        no live process runs it (nothing to cancel).
        """
        run = await store.get_run(run_id)  # NotFound: nothing of another owner is touched
        if run.status in ("queued", "running") and self.cancel(run.id):
            return True
        return await store.request_run_cancel(run.id)  # Conflict once finished

    def waiting(self, conversation_id: str) -> int:
        """How many sends of this process hold or await ``conversation_id``'s turn."""
        return self._holders.get(conversation_id, 0)

    # ------------------------------------------------------------------ internals

    @asynccontextmanager
    async def _local_lock(self, conversation_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = self._locks[conversation_id] = asyncio.Lock()
        async with lock:
            yield

    async def _wait(self, store: AsyncConversationStore, conversation_id: str, ticket: int) -> None:
        """Return once no live ticket is ahead of ``ticket``."""
        delay = _POLL_FIRST
        while True:
            with contextlib.suppress(StoreUnavailable):  # keep waiting; the keeper renews
                if await store.turns_ahead(conversation_id, ticket) == 0:
                    return
            wake = asyncio.Event()
            sleepers = self._sleepers.setdefault(conversation_id, set())
            sleepers.add(wake)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), delay)
            finally:
                sleepers.discard(wake)
                if not sleepers:
                    self._sleepers.pop(conversation_id, None)
            delay = min(delay * 2, _POLL_MAX)

    def _wake(self, conversation_id: str) -> None:
        for wake in self._sleepers.get(conversation_id, ()):
            wake.set()

    async def _keep(self, store: AsyncConversationStore, held: HeldTurn) -> None:
        """Renew ``held``'s lease until cancelled; act on a cancel from elsewhere."""
        if held.ticket is None:
            return
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                cancel = await store.renew_turn(held.ticket, lease_seconds=LEASE_SECONDS)
            except StoreUnavailable:
                continue  # the lease outlasts a short outage; try again
            except NotFound:
                log.warning(
                    "turn ticket %s was judged dead while its send went on (the process "
                    "stalled longer than the %s s lease)",
                    held.ticket,
                    LEASE_SECONDS,
                )
                return
            if cancel and held.run_id is not None:
                self.cancel(held.run_id)
