"""Group commit on SQLite: concurrent appends share one transaction (db/group_commit.py).

Guards against the ways sharing a commit can go wrong: an acknowledged append that was
never committed, a failing append taking its batch-mates down (or a commit failure
leaving some of them written), seqs that skip or repeat when many appends of one
conversation land in one transaction, and an idempotent retry stored twice when both
copies land in the same batch.

Batches are formed deterministically, not by luck of timing: the test holds the SQLite
writer with a real write transaction (``Database.write``), starts the appending threads
(or coroutines, on an event loop in a thread of its own), waits (with a deadline) until
group commit reports them all queued, then lets go — the first of them leads one
transaction holding all of them (the writer thread leads for a coroutine). The
free-running races check only outcomes, never how long anything took.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.store.races import race
from threadkeep import (
    AsyncConversationStore,
    Conflict,
    ConversationStore,
    Message,
    MessageDraft,
    NotFound,
    Settings,
    StoreUnavailable,
    open_store,
)
from threadkeep.db.engine import GroupCommitStats

# Hang protection only: how long a queued append may take to show up in the stats.
QUEUE_DEADLINE_S = 30.0


def _open(path: Path, **settings: Any) -> ConversationStore:
    return open_store(path / "threadkeep.db", settings=Settings.load(**settings))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    with _open(tmp_path) as opened:
        yield opened


def _stats(store: ConversationStore) -> GroupCommitStats:
    stats = store.database.group_commit_stats()
    assert stats is not None, "group commit is on by default on SQLite"
    return stats


@dataclass
class Outcome:
    result: Any = None
    error: BaseException | None = None
    #: For a coroutine append: stop waiting for it (as a client that hangs up).
    cancel: Callable[[], bool] | None = None


class LoopThread:
    """An event loop running in a thread of its own, for the coroutine appends."""

    def __enter__(self) -> LoopThread:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever)
        self._thread.start()
        return self

    def submit(self, call: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        async def run() -> Any:
            return await call()

        return asyncio.run_coroutine_threadsafe(run(), self.loop)

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class HeldWriter:
    """Holds the SQLite writer so that appends queue behind it, one at a time, in order."""

    def __init__(self, store: ConversationStore, loop: LoopThread | None = None) -> None:
        self.store = store
        self.loop = loop
        self.threads: list[threading.Thread] = []
        self.outcomes: list[Outcome] = []
        self.pending: list[tuple[concurrent.futures.Future[Any], Outcome]] = []
        self._base = 0

    def __enter__(self) -> HeldWriter:
        self._write = self.store.database.write()
        self._write.__enter__()
        self._base = _stats(self.store).queued
        return self

    def queue(self, call: Callable[[], Any]) -> Outcome:
        """Start ``call`` in a thread and wait until its append is queued (arrival order)."""
        outcome = Outcome()

        def run() -> None:
            try:
                outcome.result = call()
            except BaseException as error:
                outcome.error = error

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)
        self.outcomes.append(outcome)
        self._wait_queued(lambda: thread.is_alive() or outcome.error is None)
        return outcome

    def queue_async(self, call: Callable[[], Any]) -> Outcome:
        """Start the coroutine ``call()`` on the loop and wait until its append is queued."""
        assert self.loop is not None, "HeldWriter(store, loop) for coroutine appends"
        outcome = Outcome()
        future = self.loop.submit(call)
        outcome.cancel = future.cancel
        self.pending.append((future, outcome))
        self.outcomes.append(outcome)
        self._wait_queued(lambda: not future.done())
        return outcome

    def _wait_queued(self, still_running: Callable[[], bool]) -> None:
        deadline = time.monotonic() + QUEUE_DEADLINE_S
        while _stats(self.store).queued < self._base + len(self.outcomes):
            assert still_running(), "the append ended before it queued"
            assert time.monotonic() < deadline, "append never queued behind the writer"
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        self._write.__exit__(None, None, None)  # commits the (empty) held transaction
        for thread in self.threads:
            thread.join()
        for future, outcome in self.pending:
            try:
                outcome.result = future.result(timeout=QUEUE_DEADLINE_S)
            except BaseException as error:
                outcome.error = error


def _seqs(store: ConversationStore, conversation_id: str) -> list[int]:
    return [m.seq for m in store.get_messages(conversation_id)]


def test_appends_queued_behind_the_writer_commit_in_one_transaction(
    store: ConversationStore,
) -> None:
    """Ten appends that queued while the writer was busy are written by one transaction,
    in arrival order, with consecutive seqs; each caller gets its own message."""
    conv = store.create_conversation()
    store.append_message(conv.id, "user", "before")
    before = _stats(store)

    def append(i: int) -> Callable[[], Message]:
        return lambda: store.append_message(conv.id, "user", f"m{i}")

    with HeldWriter(store) as held:
        outcomes = [held.queue(append(i)) for i in range(10)]
    after = _stats(store)
    assert after.transactions - before.transactions == 1
    assert after.appends - before.appends == 10
    assert after.largest_batch == 10
    assert after.queued == 0
    results = [o.result for o in outcomes]
    assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
    assert [(m.seq, m.content) for m in results] == [(i + 2, f"m{i}") for i in range(10)]
    assert store.get_messages(conv.id)[1:] == results
    stored = store.get_conversation(conv.id)
    assert (stored.message_count, stored.last_seq) == (11, 11)


def test_a_failing_append_fails_alone_while_its_batch_mates_commit(
    store: ConversationStore,
) -> None:
    """Each append of a batch runs in its own savepoint: a wrong ``expected_last_seq``, a
    missing conversation and a message id already used fail only their own caller, with
    their own error; a retry of an idempotency key in the same batch returns the first
    copy; everything else in that one transaction commits."""
    first, second = store.create_conversation(), store.create_conversation()
    taken = store.append_message(first.id, "user", "taken", id="taken-id")
    missing = str(uuid.uuid4())
    before = _stats(store)
    with HeldWriter(store) as held:
        ok_first = held.queue(
            lambda: store.append_message(first.id, "user", "a", expected_last_seq=1)
        )
        stale = held.queue(
            lambda: store.append_message(first.id, "user", "stale", expected_last_seq=1)
        )
        gone = held.queue(lambda: store.append_message(missing, "user", "nowhere"))
        reused = held.queue(lambda: store.append_message(first.id, "user", "dup", id="taken-id"))
        ok_second = held.queue(
            lambda: store.append_messages(
                second.id, [MessageDraft("user", "b1"), MessageDraft("assistant", "b2")]
            )
        )

        def keyed_append() -> Message:
            return store.append_message(second.id, "user", "k", idempotency_key="k")

        keyed = held.queue(keyed_append)
        retry = held.queue(keyed_append)
        last = held.queue(lambda: store.append_message(first.id, "user", "c", expected_last_seq=2))
    after = _stats(store)
    assert (after.transactions - before.transactions, after.appends - before.appends) == (1, 8)

    assert isinstance(stale.error, Conflict) and "expected last seq 1, it is 2" in str(stale.error)
    assert isinstance(gone.error, NotFound)
    assert isinstance(reused.error, Conflict) and "already exists" in str(reused.error)
    for outcome in (ok_first, ok_second, keyed, retry, last):
        assert outcome.error is None, outcome.error
    assert keyed.result == retry.result

    assert [(m.seq, m.content) for m in store.get_messages(first.id)] == [
        (1, "taken"),
        (2, "a"),
        (3, "c"),
    ]
    assert store.get_messages(first.id)[0] == taken
    stored_second = store.get_messages(second.id)
    assert [(m.seq, m.content) for m in stored_second] == [(1, "b1"), (2, "b2"), (3, "k")]
    assert stored_second[:2] == ok_second.result
    assert stored_second[2] == keyed.result
    counters = [store.get_conversation(c) for c in (first.id, second.id)]
    assert [(c.message_count, c.last_seq) for c in counters] == [(3, 3), (3, 3)]


def _poison_commits(store: ConversationStore) -> None:
    """Make any transaction that stores a message with content ``poison`` fail at COMMIT.

    A trigger writes a row whose foreign key is checked only at commit (``DEFERRABLE
    INITIALLY DEFERRED``, ``foreign_keys=ON``): the statement succeeds, and SQLite's own
    COMMIT then refuses the whole transaction — a real commit failure, not a mock.
    """
    with store.database.write() as conn:
        for statement in (
            "CREATE TABLE poison_parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE poison_child (parent INTEGER "
            "REFERENCES poison_parent(id) DEFERRABLE INITIALLY DEFERRED)",
            "CREATE TRIGGER poison AFTER INSERT ON messages WHEN NEW.content = 'poison' "
            "BEGIN INSERT INTO poison_child VALUES (42); END",
        ):
            conn.execute(sa.text(statement))


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "idempotency-keys"])
def test_a_commit_failure_fails_the_whole_batch_and_writes_nothing(
    store: ConversationStore, keyed: bool
) -> None:
    """When the shared COMMIT fails, no append of the batch is acknowledged and none is
    written — not even those whose own step succeeded — and the writer stays usable.
    (With idempotency keys the appends also run SQLAlchemy statements, whose
    transaction state must be cleaned up too.)"""
    conv = store.create_conversation()
    store.append_message(conv.id, "user", "kept")
    _poison_commits(store)

    def append(content: str, n: int) -> Callable[[], Message]:
        key = f"key-{n}" if keyed else None
        return lambda: store.append_message(conv.id, "user", content, idempotency_key=key)

    with HeldWriter(store) as held:
        outcomes = [held.queue(append(c, n)) for n, c in enumerate(["a", "poison", "b"])]
    for outcome in outcomes:
        assert isinstance(outcome.error, StoreUnavailable), outcome.error
        assert "FOREIGN KEY" in str(outcome.error)
        assert "none of them was written" in str(outcome.error)
    assert [m.content for m in store.get_messages(conv.id)] == ["kept"]
    stored = store.get_conversation(conv.id)
    assert (stored.message_count, stored.last_seq) == (1, 1)

    # A lone poisoned append fails the plain way; the writer goes on working.
    with pytest.raises(StoreUnavailable, match="FOREIGN KEY"):
        append("poison", 9)()
    again = [append("a", 0)(), append("b", 2)()]
    assert [m.seq for m in again] == [2, 3]
    assert _seqs(store, conv.id) == [1, 2, 3]


def test_without_group_commit_each_append_is_its_own_transaction(tmp_path: Path) -> None:
    """``group_commit=False`` keeps the old behaviour: appends waiting together are still
    separate transactions, so a commit failure takes down only the append that caused it."""
    with _open(tmp_path, group_commit=False) as store:
        assert store.database.group_commit_stats() is None
        conv = store.create_conversation()
        _poison_commits(store)
        outcomes: list[Outcome] = []
        threads = []
        with store.database.write():
            for content in ("a", "poison", "b"):
                outcome = Outcome()

                def run(content: str = content, outcome: Outcome = outcome) -> None:
                    try:
                        outcome.result = store.append_message(conv.id, "user", content)
                    except BaseException as error:
                        outcome.error = error

                outcomes.append(outcome)
                threads.append(threading.Thread(target=run))
                threads[-1].start()
        for thread in threads:
            thread.join()
        errors = {o.error.__class__ for o in outcomes}
        assert errors == {type(None), StoreUnavailable}
        assert isinstance(outcomes[1].error, StoreUnavailable)
        assert sorted(m.content for m in store.get_messages(conv.id)) == ["a", "b"]
        assert _seqs(store, conv.id) == [1, 2]


@pytest.mark.parametrize("shared", [True, False], ids=["one-conversation", "many-conversations"])
def test_many_threads_appending_store_each_message_once_with_gapless_seqs(
    store: ConversationStore, shared: bool
) -> None:
    """24 threads appending at once (single appends, atomic pairs, and keyed appends each
    sent twice) get back exactly what is stored: every returned message once, under its
    returned seq, each conversation's seqs 1..n, counters equal to n."""
    threads, rounds = 24, 25
    conversations = [store.create_conversation().id for _ in range(1 if shared else threads)]
    returned: list[list[Message]] = [[] for _ in range(threads)]

    def writer(w: int) -> Callable[[], None]:
        cid = conversations[0 if shared else w]

        def work() -> None:
            for r in range(rounds):
                if r % 5 == 0:
                    returned[w].extend(
                        store.append_messages(
                            cid, [MessageDraft("user", f"{w}-{r}-a"), MessageDraft("tool", "b")]
                        )
                    )
                elif r % 5 == 1:
                    key = f"{w}-{r}"
                    first = store.append_message(cid, "user", key, idempotency_key=key)
                    assert store.append_message(cid, "user", key, idempotency_key=key) == first
                    returned[w].append(first)
                else:
                    returned[w].append(store.append_message(cid, "user", f"{w}-{r}"))

        return work

    before = _stats(store)
    assert race(*(writer(w) for w in range(threads))) == []
    after = _stats(store)

    acknowledged = [m for messages in returned for m in messages]
    ids = Counter(m.id for m in acknowledged)
    assert max(ids.values()) == 1, "a message was returned to two appends"
    stored = {cid: store.get_messages(cid) for cid in conversations}
    for cid, messages in stored.items():
        assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
        conversation = store.get_conversation(cid)
        assert (conversation.message_count, conversation.last_seq) == (
            len(messages),
            len(messages),
        )
    by_id = {m.id: m for messages in stored.values() for m in messages}
    assert len(by_id) == len(acknowledged) == threads * (rounds + rounds // 5)
    assert all(by_id[m.id] == m for m in acknowledged), "a returned message differs from storage"
    # Every keyed retry was an append call too; all went through group commit.
    calls = threads * (rounds + rounds // 5)
    assert after.appends - before.appends == calls
    assert after.transactions - before.transactions <= calls


def test_async_store_appends_share_commits(tmp_path: Path) -> None:
    """The async facade's appends queue for the writer without worker threads: many
    concurrent awaits all land once, gapless, in fewer commits than appends."""

    async def main() -> list[Message]:
        with _open(tmp_path) as sync_store:
            astore = AsyncConversationStore(sync_store)
            conv = await astore.create_conversation()
            return list(
                await asyncio.gather(
                    *(astore.append_message(conv.id, "user", f"m{i}") for i in range(40))
                )
            )

    results = asyncio.run(main())
    with _open(tmp_path) as store:
        stored = store.get_messages(results[0].conversation_id)
    assert sorted(m.seq for m in results) == list(range(1, 41))
    assert {m.id: m for m in stored} == {m.id: m for m in results}


def test_coroutine_and_thread_appends_share_one_queue_and_one_commit(
    store: ConversationStore,
) -> None:
    """Appends from coroutines (the async store: no worker thread) and from threads,
    queued while the writer was busy, are written by one transaction in arrival order;
    a coroutine's own failure fails it alone."""
    conv = store.create_conversation()
    astore = AsyncConversationStore(store)
    missing = str(uuid.uuid4())
    before = _stats(store)
    with LoopThread() as loop, HeldWriter(store, loop) as held:
        first = held.queue_async(lambda: astore.append_message(conv.id, "user", "c1"))
        second = held.queue(lambda: store.append_message(conv.id, "user", "t1"))
        gone = held.queue_async(lambda: astore.append_message(missing, "user", "nowhere"))
        batch = held.queue_async(
            lambda: astore.append_messages(
                conv.id, [MessageDraft("user", "c2"), MessageDraft("assistant", "c3")]
            )
        )
        stale = held.queue_async(
            lambda: astore.append_message(conv.id, "user", "stale", expected_last_seq=0)
        )
        last = held.queue(lambda: store.append_message(conv.id, "user", "t2"))
    after = _stats(store)
    assert (after.transactions - before.transactions, after.appends - before.appends) == (1, 6)
    for outcome in (first, second, batch, last):
        assert outcome.error is None, outcome.error
    assert isinstance(gone.error, NotFound)
    assert isinstance(stale.error, Conflict)
    stored = store.get_messages(conv.id)
    assert [(m.seq, m.content) for m in stored] == [
        (1, "c1"),
        (2, "t1"),
        (3, "c2"),
        (4, "c3"),
        (5, "t2"),
    ]
    assert [first.result, second.result, *batch.result, last.result] == stored


def test_a_commit_failure_fails_every_coroutine_append_of_the_batch(
    store: ConversationStore,
) -> None:
    """The writer thread answers a failed shared commit like a leading thread does:
    every append of the batch raises StoreUnavailable and nothing is written."""
    conv = store.create_conversation()
    astore = AsyncConversationStore(store)
    _poison_commits(store)

    def append(content: str) -> Callable[[], Any]:
        return lambda: astore.append_message(conv.id, "user", content)

    with LoopThread() as loop, HeldWriter(store, loop) as held:
        outcomes = [held.queue_async(append(content)) for content in ("a", "poison", "b")]
    for outcome in outcomes:
        assert isinstance(outcome.error, StoreUnavailable), outcome.error
    assert store.get_messages(conv.id) == []


def test_a_cancelled_coroutine_append_is_still_written_and_announced(
    store: ConversationStore,
) -> None:
    """An append that queued is written even if its caller stops waiting (a client that
    hung up): it is stored, its ``message.created`` event goes out, and the appends
    queued after it keep their order."""
    conv = store.create_conversation()
    astore = AsyncConversationStore(store)
    seen: list[tuple[str, int | None]] = []
    unsubscribe = store.broker.subscribe(
        lambda event: seen.append((event.type, event.data.get("seq")))
    )
    with LoopThread() as loop, HeldWriter(store, loop) as held:
        abandoned = held.queue_async(lambda: astore.append_message(conv.id, "user", "abandoned"))
        assert abandoned.cancel is not None and abandoned.cancel()
        after = held.queue_async(lambda: astore.append_message(conv.id, "user", "next"))
    assert isinstance(abandoned.error, concurrent.futures.CancelledError)
    assert after.error is None, after.error
    unsubscribe()
    assert [(m.seq, m.content) for m in store.get_messages(conv.id)] == [
        (1, "abandoned"),
        (2, "next"),
    ]
    assert ("message.created", 1) in seen and ("message.created", 2) in seen


def test_the_writer_thread_ends_when_the_store_closes(tmp_path: Path) -> None:
    """The writer thread starts with the first coroutine append; closing the store's
    connections ends it, and the next coroutine append starts a new one."""
    with _open(tmp_path) as store:
        astore = AsyncConversationStore(store)
        conv = store.create_conversation()
        assert not _stats(store).writer_thread
        asyncio.run(astore.append_message(conv.id, "user", "one"))
        assert _stats(store).writer_thread
        store.database.dispose()
        _wait_until(lambda: not _stats(store).writer_thread, "the writer thread never ended")
        assert asyncio.run(astore.append_message(conv.id, "user", "two")).seq == 2
        assert _stats(store).writer_thread
    _wait_until(lambda: not _stats(store).writer_thread, "the writer thread outlived the store")


def _wait_until(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + QUEUE_DEADLINE_S  # hang protection only
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.001)


@pytest.mark.postgres
def test_postgresql_commits_without_group_commit(postgres_url: str) -> None:
    """PostgreSQL groups concurrent commits itself: appends take the plain write path."""
    with open_store(postgres_url, settings=Settings.load()) as store:
        assert store.database.group_commit_stats() is None
        conv = store.create_conversation()
        assert store.append_message(conv.id, "user", "x").seq == 1
