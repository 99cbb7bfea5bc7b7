"""Many processes appending to one conversation at once (SPEC S2.2, S2.4).

The real test: 8 processes x 500 appends to one conversation, on a SQLite file and on
PostgreSQL, each process with its own store. Afterwards the seqs are exactly 1..4000,
no append failed, the counters agree, and every worker finds each of its messages under
the seq it was told.

The negative controls show the test can fail: the naive allocator — ``max(seq)+1`` read
in a deferred transaction, then ``INSERT`` — run the same way against the same schema
does lose, on both engines. Without them a pass could just mean the processes never
overlapped.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.durability.workers import (
    append_worker,
    naive_postgres_worker,
    naive_sqlite_worker,
    run_workers,
)
from threadkeep import Settings, open_store

WORKERS = 8
APPENDS = 500
# The controls stop at the first lost race; this only bounds a control that never loses.
NAIVE_WORKERS = 4
NAIVE_MAX_ATTEMPTS = 3000


def _new_conversation(url: str) -> str:
    with open_store(url, settings=Settings.load()) as store:
        return store.create_conversation(title="race").id


def _check_concurrent_appends(url: str, synchronous: str) -> None:
    conversation_id = _new_conversation(url)
    reports = run_workers(
        append_worker,
        [(url, conversation_id, w, APPENDS, synchronous) for w in range(WORKERS)],
    )

    fatal = {r["worker"]: r["fatal"] for r in reports if "fatal" in r}
    assert not fatal, f"workers died: {fatal}"
    failures = {r["worker"]: r["failures"] for r in reports if r["failures"]}
    assert not failures, f"errors reached callers: {failures}"

    with open_store(url, settings=Settings.load()) as store:
        conversation = store.get_conversation(conversation_id)
        stored = store.get_messages(conversation_id)
        with store.database.read() as conn:
            raw_seqs = [
                int(seq)
                for (seq,) in conn.execute(
                    sa.text("SELECT seq FROM messages WHERE conversation_id = :c ORDER BY seq"),
                    {"c": conversation_id},
                )
            ]

    total = WORKERS * APPENDS
    assert raw_seqs == list(range(1, total + 1)), "seqs are not exactly 1..N in the table"
    assert [m.seq for m in stored] == list(range(1, total + 1))
    assert conversation.message_count == total
    assert conversation.last_seq == total

    by_id = {m.id: m for m in stored}
    for report in reports:
        worker = report["worker"]
        acked: list[tuple[int, str]] = [(int(s), str(i)) for s, i in report["acked"]]
        assert [i for _, i in acked] == [f"w{worker}-{n}" for n in range(APPENDS)]
        for seq, message_id in acked:
            message = by_id[message_id]
            assert message.seq == seq, (
                f"{message_id} acknowledged as seq {seq}, stored {message.seq}"
            )
            assert message.content == f"worker {worker} message {message_id.split('-')[1]}"
        # One worker appends one after another, so its own seqs must increase.
        seqs = [seq for seq, _ in acked]
        assert seqs == sorted(seqs)
    duplicates = [s for s, n in Counter(s for r in reports for s, _ in r["acked"]).items() if n > 1]
    assert not duplicates, f"one seq acknowledged to two callers: {duplicates[:10]}"


@pytest.mark.slow
def test_eight_processes_append_to_one_conversation_on_sqlite(sqlite_url: str) -> None:
    """Guards against lost or duplicated seqs and "database is locked" under many writers.

    8 processes, each with its own store on the same SQLite file, append 500 messages
    each to one conversation at once. A writer must wait for the ``BEGIN IMMEDIATE``
    write lock (busy timeout) instead of failing the way a deferred transaction fails
    when it tries to upgrade (see the control below), and seqs come from the counter
    row under that lock, so they are exactly 1..4000.

    Runs with ``synchronous=NORMAL``: it changes only when the WAL is fsynced (power
    loss durability, which a multi-process race cannot observe), not the locking under
    test, and keeps 4000 commits quick on a small CI machine.
    """
    _check_concurrent_appends(sqlite_url, synchronous="NORMAL")


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_processes_append_to_one_conversation_on_postgres(postgres_url: str) -> None:
    """Guards against duplicate seqs and unique violations under concurrent writers.

    8 processes x 500 appends to one conversation on PostgreSQL (READ COMMITTED): the
    seq must come from ``UPDATE conversations SET last_seq = last_seq + 1 ... RETURNING``
    under the row lock, so concurrent appends queue on the row rather than reading the
    same ``max(seq)`` (see the control below).
    """
    _check_concurrent_appends(postgres_url, synchronous="FULL")


def _check_naive_control(target: Any, url: str, conversation_id: str) -> list[str]:
    import multiprocessing

    stop = multiprocessing.get_context("spawn").Event()
    reports = run_workers(
        target,
        [(url, conversation_id, w, NAIVE_MAX_ATTEMPTS, stop) for w in range(NAIVE_WORKERS)],
    )
    fatal = {r["worker"]: r["fatal"] for r in reports if "fatal" in r}
    assert not fatal, f"control workers died: {fatal}"
    errors: list[str] = [e for r in reports for e in r["errors"]]
    attempts = sum(int(r["attempts"]) for r in reports)
    assert errors, (
        f"the naive max(seq)+1 allocator never lost a race in {attempts} attempts by "
        f"{NAIVE_WORKERS} processes: the concurrency test above would prove nothing here"
    )
    return errors


@pytest.mark.slow
def test_control_naive_max_seq_plus_one_fails_on_sqlite(sqlite_url: str) -> None:
    """Negative control: shows the race the SQLite test guards against is real.

    Several processes run ``BEGIN`` (deferred) / ``SELECT max(seq)+1`` / ``INSERT`` /
    ``COMMIT`` on the store's own schema. A deferred transaction starts as a reader;
    when it writes after another process committed (or while one holds the write lock),
    SQLite cannot upgrade its stale snapshot and returns SQLITE_BUSY at once — "database
    is locked" reaches the caller although the busy timeout is 30 s, because SQLite does
    not run the busy handler for a transaction that already reads. Duplicate seqs cannot
    happen on SQLite (writers are serialised); the failure is the error. The store avoids
    it by taking the write lock up front (``BEGIN IMMEDIATE``).

    Workers stop at the first error; ``NAIVE_MAX_ATTEMPTS`` only bounds a run that
    never loses, which fails this test.
    """
    conversation_id = _new_conversation(sqlite_url)
    path = str(make_url(sqlite_url).database)
    errors = _check_naive_control(naive_sqlite_worker, path, conversation_id)
    assert all("database is locked" in e or "UNIQUE constraint" in e for e in errors), errors
    assert any("database is locked" in e for e in errors), errors


@pytest.mark.slow
@pytest.mark.postgres
def test_control_naive_max_seq_plus_one_fails_on_postgres(postgres_url: str) -> None:
    """Negative control: shows the race the PostgreSQL test guards against is real.

    Several processes run ``SELECT coalesce(max(seq), 0) + 1`` then ``INSERT`` in one
    READ COMMITTED transaction each, without locking the conversation row. Two of them
    read the same maximum; the second ``INSERT`` waits on the unique index and then
    fails with a unique violation on ``(conversation_id, seq)``. The store avoids it by
    allocating from the counter row under its row lock.
    """
    conversation_id = _new_conversation(postgres_url)
    errors = _check_naive_control(naive_postgres_worker, postgres_url, conversation_id)
    assert all("UniqueViolation" in e for e in errors), errors
