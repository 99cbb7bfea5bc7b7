"""Group commit: concurrent SQLite appends share one transaction and one sync.

SQLite admits one writer at a time, and at ``synchronous=FULL`` every ``COMMIT`` waits
for the disk. Appends that arrive while another write holds the writer therefore queue
here, and the first of them — the *leader* — runs every append queued by the time it
gets the writer in ONE ``BEGIN IMMEDIATE`` transaction, each inside its own
``SAVEPOINT``, then sends ONE ``COMMIT``: one sync for the whole batch.

The rules:

* **Each append fails alone.** An append's own error (``NotFound``, ``Conflict`` on
  ``expected_last_seq``, a message id already used) rolls back to its savepoint and is
  raised to its own caller; its batch-mates carry on. Appends run in the order they
  queued, so a later append sees an earlier one's rows (seqs stay gapless and ordered;
  an idempotent retry queued behind its first copy returns the first copy's message).
* **Acknowledged only after the commit.** Every caller returns — and publishes its
  events — only after the batch's ``COMMIT`` succeeded. If the ``COMMIT`` (or the
  ``BEGIN``) fails, every append of the batch fails with ``StoreUnavailable``, also one
  whose own step had failed: a ``Conflict`` computed against batch-mates that were then
  rolled back would describe a state that never existed. Nothing is half-written: the
  transaction is rolled back whole. The same holds when SQLite drops the transaction
  itself in the middle (a full disk, an I/O error): the batch is not committed.
* **No waiting for company.** There is no timer: a lone append finds the queue empty,
  leads a batch of one and runs exactly as a plain write (no savepoint); batches form
  only from appends that queued while the previous transaction was being written.

Who leads: a thread that calls :meth:`GroupCommit.run` leads its own batch when its
append reaches the head of the queue. An append from a coroutine
(:meth:`GroupCommit.run_async`, what the async store and the server's append route
use) has no thread to lend: when it reaches the head, the queue's **writer thread**
leads for it. So an async append costs no thread-pool hop — the event loop queues it
and awaits a future that the writer settles after the commit — and sync and async
appends share one queue, one order and one commit. When a batch is done its leader
hands the lead to the next queued append, if any, before waking its batch-mates.
Writes other than appends keep the plain :meth:`Database.write` path and queue on the
same writer lock.

An async append is settled on its own event loop, where its ``then`` (the store's
step after the commit: build the answer, publish the events) runs — also when the
awaiting task was cancelled meanwhile: an append that was queued is written and
announced; only its answer goes unread. The writer thread starts with the first async
append and ends at :meth:`GroupCommit.close` once nothing is queued for it (the next
async append starts a new one).

PostgreSQL needs none of this: its server commits concurrent transactions together
(``commit_delay``/WAL flush grouping), so ``Database.write_grouped`` is a plain write
there, as it is on SQLite with ``group_commit`` off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection

from threadkeep.errors import StoreUnavailable

__all__ = ["MAX_BATCH", "GroupCommit", "GroupCommitStats"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Appends per transaction at most: enough that the sync is shared widely, few enough
# that one transaction never holds the writer for long.
MAX_BATCH = 256

_SAVEPOINT = "threadkeep_append"


@dataclass(frozen=True, slots=True)
class GroupCommitStats:
    """What group commit did so far (diagnostics): ``appends`` ran in ``transactions``,
    the largest batch held ``largest_batch``; ``queued`` appends are waiting or being
    written right now; ``writer_thread``: whether the thread that leads for coroutine
    appends is running."""

    transactions: int
    appends: int
    largest_batch: int
    queued: int
    writer_thread: bool = False


class _BatchBroken(Exception):
    """The shared transaction cannot go on (SQLite rolled it back, a savepoint failed)."""


class _Queued(Generic[T]):
    """One queued append: its work, and what became of it."""

    __slots__ = ("error", "result", "work")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]

    def settle(self) -> None:
        """Tell the caller its batch is done (``result``/``error`` are set)."""
        raise NotImplementedError


class _Waiter(_Queued[T]):
    """An append from a thread, which blocks on ``wake``.

    ``wake`` is released once, by the leader before it: either the batch holding this
    append is done (``done``), or this append heads the queue and its thread leads.
    """

    __slots__ = ("done", "wake")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        super().__init__(work)
        self.wake = threading.Lock()
        self.wake.acquire()
        self.done = False

    def settle(self) -> None:
        self.done = True
        self.wake.release()


class _AsyncWaiter(_Queued[T]):
    """One queued append from a coroutine: settled on its event loop, through ``then``."""

    __slots__ = ("future", "loop", "then")

    def __init__(
        self,
        work: Callable[[Connection], T],
        then: Callable[[T], Any],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(work)
        self.then = then
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()

    def settle(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._complete)
        except RuntimeError:  # the loop is closed: nobody is left to answer
            log.warning("an async append finished after its event loop closed")

    def _complete(self) -> None:
        """On the loop: ``then`` runs even if the awaiting task is gone (events go out)."""
        answer: Any = None
        if self.error is None:
            try:
                answer = self.then(self.result)  # type: ignore[arg-type]
            except BaseException as error:
                self.error = error
        if self.future.cancelled():
            return
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(answer)


class GroupCommit:
    """The queue of appends waiting for the SQLite writer, and its leaders' loop.

    ``write`` opens the plain write transaction (``Database.write``: the held writer
    connection, ``BEGIN IMMEDIATE``, ``COMMIT`` on a clean exit, errors translated);
    ``translated`` turns a driver error into the ``StoreUnavailable`` it means.

    The state, under ``_mutex``: the queue (every append not yet finished, in arrival
    order; the batch being written stays at its head until done), whether some leader
    holds the lead (``_led``), and how many leads were handed to the writer thread and
    not yet taken (``_assigned``: 0 or 1, as there is one lead).
    """

    def __init__(
        self,
        write: Callable[[], contextlib.AbstractContextManager[Connection]],
        translated: Callable[[BaseException], StoreUnavailable | None],
        *,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._write = write
        self._translated = translated
        self._max_batch = max_batch
        self._mutex = threading.Lock()
        self._queue: deque[_Queued[Any]] = deque()
        self._led = False
        self._assigned = 0
        self._writer_wakes = threading.Condition(self._mutex)
        self._writer_running = False
        self._closing = False
        self._transactions = 0
        self._appends = 0
        self._largest = 0

    def stats(self) -> GroupCommitStats:
        with self._mutex:
            return GroupCommitStats(
                transactions=self._transactions,
                appends=self._appends,
                largest_batch=self._largest,
                queued=len(self._queue),
                writer_thread=self._writer_running,
            )

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in a write transaction, possibly shared; return its result.

        ``work`` must not commit or roll back, and raises only for its own failure.
        """
        waiter = _Waiter(work)
        if not self._enqueue(waiter):
            # Released by a leader: either our batch is done, or we lead the next one.
            waiter.wake.acquire()
            if waiter.done:
                return waiter.outcome()
        self._lead(waiter)
        return waiter.outcome()

    async def run_async(self, work: Callable[[Connection], T], then: Callable[[T], R]) -> R:
        """``then(work(conn))``, with ``work`` run like :meth:`run`'s by whichever thread
        leads its batch (the writer thread when no thread of the caller's) and ``then``
        on this event loop after the commit. The loop never waits on the database."""
        waiter = _AsyncWaiter(work, then, asyncio.get_running_loop())
        if self._enqueue(waiter):
            self._hand_to_writer()
        answer: R = await waiter.future
        return answer

    def close(self) -> None:
        """Let the writer thread end once nothing is queued for it (it drains first)."""
        with self._mutex:
            self._closing = True
            self._writer_wakes.notify_all()

    def _enqueue(self, waiter: _Queued[Any]) -> bool:
        """Queue ``waiter``; whether it takes the lead (nobody held it)."""
        with self._mutex:
            self._queue.append(waiter)
            if self._led:
                return False
            self._led = True
            return True

    def _hand_to_writer(self) -> None:
        """Give the lead to the writer thread (started if it is not running)."""
        with self._mutex:
            self._assigned += 1
            self._closing = False
            if self._writer_running:
                self._writer_wakes.notify()
                return
            self._writer_running = True
        threading.Thread(
            target=self._writer_loop, name="threadkeep-group-commit", daemon=True
        ).start()

    def _writer_loop(self) -> None:
        """The writer thread: lead each batch handed to it; end when closed and idle."""
        while True:
            with self._mutex:
                while not self._assigned and not self._closing:
                    self._writer_wakes.wait()
                if not self._assigned:
                    self._writer_running = False
                    return
                self._assigned -= 1
            self._lead(None)

    def _take(self) -> list[_Queued[Any]]:
        with self._mutex:
            return list(islice(self._queue, self._max_batch))

    def _lead(self, leader: _Queued[Any] | None) -> None:
        """Write the batch at the head of the queue, then pass the lead on.

        ``leader``: the calling thread's own append (at the head), which it answers
        itself; ``None`` for the writer thread, which answers the whole batch.
        """
        batch: list[_Queued[Any]] = []
        try:
            with self._write() as conn:
                # Taken once the writer is ours: everything that queued meanwhile joins.
                batch = self._take()
                if len(batch) == 1:
                    # A lone append: exactly a plain write; its error rolls it back.
                    batch[0].result = batch[0].work(conn)
                else:
                    self._run_batch(conn, batch)
        except BaseException as error:
            if not batch:  # BEGIN failed: nothing ran; the queued appends fail with it
                batch = self._take()
            self._fail(batch, error)
        finally:
            self._finish(batch, leader)

    def _run_batch(self, conn: Connection, batch: list[_Queued[Any]]) -> None:
        """Each append in its own savepoint: its error undoes it alone."""
        raw: Any = conn.connection.driver_connection
        for waiter in batch:
            raw.execute(f"SAVEPOINT {_SAVEPOINT}")
            try:
                waiter.result = waiter.work(conn)
            except Exception as error:
                try:
                    raw.execute(f"ROLLBACK TO {_SAVEPOINT}")
                    raw.execute(f"RELEASE {_SAVEPOINT}")
                except Exception as broken:
                    raise _BatchBroken(f"cannot undo one append of a batch: {broken}") from error
                if not raw.in_transaction:
                    # SQLite ended the transaction itself (I/O error, full disk): the
                    # batch-mates written before this one are gone too.
                    raise _BatchBroken(f"the transaction was rolled back: {error}") from error
                waiter.error = self._translated(error) or error
                continue
            raw.execute(f"RELEASE {_SAVEPOINT}")

    def _fail(self, batch: list[_Queued[Any]], error: BaseException) -> None:
        """The shared transaction did not commit: every append of the batch failed."""
        if len(batch) == 1:
            batch[0].error = error  # a plain write's own error, already translated
            return
        for waiter in batch:
            # One error object per caller: each raises (and tracebacks) its own.
            own = StoreUnavailable(
                f"{error} — a batch of {len(batch)} appends committed together was not "
                "committed; none of them was written, retry"
            )
            own.__cause__ = error
            waiter.result = None
            waiter.error = own
        if not isinstance(error, Exception):
            batch[0].error = error  # KeyboardInterrupt and the like go to the leader

    def _finish(self, batch: list[_Queued[Any]], leader: _Queued[Any] | None) -> None:
        """Take the batch off the queue, hand the lead on, then answer the batch."""
        with self._mutex:
            for _ in batch:
                self._queue.popleft()
            following = self._queue[0] if self._queue else None
            self._led = following is not None
            self._transactions += 1
            self._appends += len(batch)
            self._largest = max(self._largest, len(batch))
        if isinstance(following, _Waiter):
            following.wake.release()  # its thread leads
        elif following is not None:
            self._hand_to_writer()
        for waiter in batch:
            if waiter is not leader:
                waiter.settle()
