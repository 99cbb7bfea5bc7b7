"""Races between writers of one store, on SQLite and PostgreSQL (STYLE 6).

Threads share one store (it is thread-safe: a pool underneath), start together at a
barrier, and the test asserts what must hold after all of them are done — never how
long anything took. On SQLite every write holds the database write lock; on PostgreSQL
only row locks order writers, so a read-modify-write that does not lock its row loses
updates there.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.store.races import race
from threadkeep import Conflict, ConversationStore, MessageDraft


def test_concurrent_appends_keep_seqs_gapless(store: ConversationStore) -> None:
    """Writers appending at once get unique, gapless seqs and counters that add up (S2.4)."""
    conv = store.create_conversation()

    def writer(name: str) -> Callable[[], None]:
        def work() -> None:
            for i in range(15):
                if i % 3 == 0:
                    store.append_messages(
                        conv.id, [MessageDraft("user", f"{name}{i}a", tokens=1)] * 2
                    )
                else:
                    store.append_message(conv.id, "user", f"{name}{i}", tokens=1)

        return work

    assert race(writer("a"), writer("b"), writer("c")) == []
    messages = store.get_messages(conv.id)
    assert [m.seq for m in messages] == list(range(1, 61))
    after = store.get_conversation(conv.id)
    assert (after.message_count, after.last_seq, after.token_count) == (60, 60, 60)


def test_token_count_survives_concurrent_updates(store: ConversationStore) -> None:
    """token_count equals the sum of message tokens when updates race appends.

    Guards against update_message computing the new token_count from a conversation row
    it read without locking it (a lost update on PostgreSQL).
    """
    conv = store.create_conversation()
    targets = [store.append_message(conv.id, "assistant", "x", tokens=0) for _ in range(2)]

    def updater(message_id: str) -> Callable[[], None]:
        def work() -> None:
            for tokens in range(1, 40):
                store.update_message(conv.id, message_id, tokens=tokens)

        return work

    def appender() -> None:
        for _ in range(40):
            store.append_message(conv.id, "user", "y", tokens=1)

    assert race(updater(targets[0].id), updater(targets[1].id), appender, appender) == []
    total = sum(m.tokens or 0 for m in store.get_messages(conv.id))
    assert total == 2 * 39 + 2 * 40
    assert store.get_conversation(conv.id).token_count == total


def test_a_run_finishes_once_under_a_race(store: ConversationStore) -> None:
    """Two processes finishing the same run at once: one wins, the other gets Conflict.

    Guards against finish_run checking the run's status without locking its row.
    """
    conv = store.create_conversation()

    def finish(run_id: str, status: str, finished: list[str]) -> Callable[[], None]:
        def work() -> None:
            store.finish_run(run_id, status=status)
            finished.append(status)

        return work

    for _ in range(15):
        run = store.start_run(conv.id, provider="echo")
        finished: list[str] = []
        errors = race(finish(run.id, "completed", finished), finish(run.id, "failed", finished))
        assert len(finished) == 1, f"both finishes succeeded: {finished}"
        assert [type(e) for e in errors] == [Conflict]
        assert store.get_run(run.id).status == finished[0]


def test_concurrent_retries_with_one_key_write_once(store: ConversationStore) -> None:
    """Retries of one idempotent append racing each other store a single message."""
    conv = store.create_conversation()
    results: list[str] = []

    def retry() -> None:
        results.append(store.append_message(conv.id, "user", "once", idempotency_key="k").id)

    assert race(retry, retry, retry, retry) == []
    assert len(set(results)) == 1
    assert [m.id for m in store.get_messages(conv.id)] == results[:1]
    assert store.get_conversation(conv.id).message_count == 1


def test_concurrent_get_or_create_creates_once(store: ConversationStore) -> None:
    """Callers racing get_or_create on one id all get the same, single conversation."""
    given = "0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c"
    results: list[str] = []

    def get_or_create() -> None:
        results.append(store.get_or_create_conversation(given, title="t").id)

    assert race(get_or_create, get_or_create, get_or_create, get_or_create) == []
    assert results == [given] * 4
    assert [c.id for c in store.list_conversations(status="all")] == [given]
