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

The leader is an ordinary caller thread (threads are the unit: the server runs sync
routes in a thread pool and the async store forwards to threads). When its batch is
done it hands the lead to the next queued append, if any, before waking its
batch-mates. Writes other than appends keep the plain :meth:`Database.write` path and
queue on the same writer lock.

PostgreSQL needs none of this: its server commits concurrent transactions together
(``commit_delay``/WAL flush grouping), so ``Database.write_grouped`` is a plain write
there, as it is on SQLite with ``group_commit`` off.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection

from threadkeep.errors import StoreUnavailable

__all__ = ["MAX_BATCH", "GroupCommit", "GroupCommitStats"]

T = TypeVar("T")

# Appends per transaction at most: enough that the sync is shared widely, few enough
# that one transaction never holds the writer for long.
MAX_BATCH = 256

_SAVEPOINT = "threadkeep_append"


@dataclass(frozen=True, slots=True)
class GroupCommitStats:
    """What group commit did so far (diagnostics): ``appends`` ran in ``transactions``,
    the largest batch held ``largest_batch``; ``queued`` appends are waiting or being
    written right now."""

    transactions: int
    appends: int
    largest_batch: int
    queued: int


class _BatchBroken(Exception):
    """The shared transaction cannot go on (SQLite rolled it back, a savepoint failed)."""


class _Waiter(Generic[T]):
    """One queued append: its work, and what became of it."""

    __slots__ = ("done", "error", "result", "wake", "work")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.wake: threading.Lock | None = None
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """The queue of appends waiting for the SQLite writer, and its leader's loop.

    ``write`` opens the plain write transaction (``Database.write``: the held writer
    connection, ``BEGIN IMMEDIATE``, ``COMMIT`` on a clean exit, errors translated);
    ``translated`` turns a driver error into the ``StoreUnavailable`` it means.
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
        # Every append not yet finished, in arrival order; the head leads (the batch
        # being written stays at the head until it is done).
        self._queue: deque[_Waiter[Any]] = deque()
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
            )

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)`` in a write transaction, possibly shared; return its result.

        ``work`` must not commit or roll back, and raises only for its own failure.
        """
        waiter = _Waiter(work)
        with self._mutex:
            self._queue.append(waiter)
            leads = len(self._queue) == 1
            if not leads:
                waiter.wake = threading.Lock()
                waiter.wake.acquire()
        if not leads:
            # Released by a leader: either our batch is done, or we lead the next one.
            waiter.wake.acquire()  # type: ignore[union-attr]
            if waiter.done:
                return waiter.outcome()
        self._lead()
        return waiter.outcome()

    def _take(self) -> list[_Waiter[Any]]:
        with self._mutex:
            return list(islice(self._queue, self._max_batch))

    def _lead(self) -> None:
        """Write the batch at the head of the queue, then pass the lead on."""
        batch: list[_Waiter[Any]] = []
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
            self._finish(batch)

    def _run_batch(self, conn: Connection, batch: list[_Waiter[Any]]) -> None:
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

    def _fail(self, batch: list[_Waiter[Any]], error: BaseException) -> None:
        """The shared transaction did not commit: every append of the batch failed."""
        if len(batch) == 1:
            batch[0].error = error  # a plain write's own error, already translated
            return
        for waiter in batch:
            # One error object per caller: each thread raises (and tracebacks) its own.
            own = StoreUnavailable(
                f"{error} — a batch of {len(batch)} appends committed together was not "
                "committed; none of them was written, retry"
            )
            own.__cause__ = error
            waiter.result = None
            waiter.error = own
        if not isinstance(error, Exception):
            batch[0].error = error  # KeyboardInterrupt and the like go to the leader

    def _finish(self, batch: list[_Waiter[Any]]) -> None:
        """Take the batch off the queue, wake the next leader, then the batch-mates."""
        with self._mutex:
            for _ in batch:
                self._queue.popleft()
            following = self._queue[0] if self._queue else None
            self._transactions += 1
            self._appends += len(batch)
            self._largest = max(self._largest, len(batch))
        if following is not None:
            following.wake.release()  # type: ignore[union-attr]
        for waiter in batch[1:]:
            waiter.done = True
            waiter.wake.release()  # type: ignore[union-attr]
