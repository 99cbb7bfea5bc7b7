"""Process targets for the concurrency tests, and a runner that starts them with spawn.

Every target reports one JSON-able ``dict`` on the results queue — what it wrote and
every error it saw — instead of raising, so the parent can assert that no error reached
any caller and say which worker saw what. A target that fails before its loop reports a
``fatal`` traceback.

The spawn context gives each worker a fresh interpreter: its own SQLite library choice,
its own engine, no file descriptors inherited from the parent's store.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.synchronize import Barrier, Event
from typing import Any

__all__ = [
    "append_worker",
    "first_open_worker",
    "naive_postgres_worker",
    "naive_sqlite_worker",
    "run_workers",
]

Report = dict[str, Any]

# Hang protection only (a worker stuck on a lock forever), never a performance bound.
_BARRIER_TIMEOUT_S = 120.0
_RESULTS_TIMEOUT_S = 300.0


def run_workers(target: Callable[..., None], args: Sequence[tuple[Any, ...]]) -> list[Report]:
    """Run ``target(*args[i], barrier, results)`` in one spawned process per ``args[i]``.

    All workers meet at a barrier before their loop, so they really run at the same
    time. Returns the reports ordered by ``worker``; fails if a process did not exit 0.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(args))
    results: multiprocessing.Queue[Report] = ctx.Queue()
    processes = [
        ctx.Process(target=target, args=(*worker_args, barrier, results), daemon=True)
        for worker_args in args
    ]
    for process in processes:
        process.start()
    reports: list[Report] = []
    try:
        # Drain the queue before joining: a child blocks at exit until its data is read.
        for _ in processes:
            reports.append(results.get(timeout=_RESULTS_TIMEOUT_S))
    except queue.Empty:
        codes = [p.exitcode for p in processes]
        raise AssertionError(
            f"only {len(reports)} of {len(processes)} workers reported; exit codes {codes}"
        ) from None
    finally:
        for process in processes:
            process.join(timeout=_RESULTS_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()
        results.close()
        results.join_thread()
    codes = [p.exitcode for p in processes]
    assert codes == [0] * len(processes), f"worker exit codes {codes}; reports {reports}"
    return sorted(reports, key=lambda report: int(report["worker"]))


def _fatal(worker: int, results: multiprocessing.Queue[Report]) -> None:
    results.put({"worker": worker, "fatal": traceback.format_exc()})


def append_worker(
    url: str,
    conversation_id: str,
    worker: int,
    count: int,
    synchronous: str,
    barrier: Barrier,
    results: multiprocessing.Queue[Report],
) -> None:
    """Open a store of its own and append ``count`` messages through ``append_message``."""
    try:
        from threadkeep import Settings, open_store

        settings = Settings.load(sqlite_synchronous=synchronous)
        acked: list[tuple[int, str]] = []
        failures: list[str] = []
        with open_store(url, settings=settings) as store:
            barrier.wait(timeout=_BARRIER_TIMEOUT_S)
            for i in range(count):
                message_id = f"w{worker}-{i}"
                try:
                    message = store.append_message(
                        conversation_id, "user", f"worker {worker} message {i}", id=message_id
                    )
                except Exception as error:  # every error is a finding: report, go on
                    failures.append(f"{message_id}: {type(error).__name__}: {error}")
                else:
                    acked.append((message.seq, message.id))
        results.put({"worker": worker, "acked": acked, "failures": failures})
    except BaseException:
        _fatal(worker, results)


def _naive_row(conversation_id: str, message_id: str, seq: int) -> dict[str, Any]:
    at = dt.datetime.now(dt.UTC)
    return {
        "id": message_id,
        "conversation_id": conversation_id,
        "seq": seq,
        "role": "user",
        "kind": "text",
        "content": f"naive {message_id}",
        "status": "complete",
        "created_at": at,
        "updated_at": at,
    }


def _as_sqlite_text(row: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as the store keeps them on SQLite: naive UTC ISO text."""
    stamp = row["created_at"].replace(tzinfo=None).isoformat(" ")
    return {**row, "created_at": stamp, "updated_at": stamp}


def naive_sqlite_worker(
    path: str,
    conversation_id: str,
    worker: int,
    max_attempts: int,
    stop: Event,
    barrier: Barrier,
    results: multiprocessing.Queue[Report],
) -> None:
    """``SELECT max(seq)+1`` then ``INSERT`` in a deferred transaction (plain ``BEGIN``).

    Raw DB-API through the same SQLite library threadkeep uses, with a generous busy
    timeout, as a naive caller would write it. Stops at its first error (and tells the
    others to stop) or after ``max_attempts``.
    """
    try:
        from threadkeep.db.sqlite_driver import sqlite_module

        module = sqlite_module().module
        conn = module.connect(path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        errors: list[str] = []
        attempts = 0
        barrier.wait(timeout=_BARRIER_TIMEOUT_S)
        try:
            while attempts < max_attempts and not stop.is_set():
                attempts += 1
                row = _naive_row(conversation_id, f"naive-{worker}-{attempts}", 0)
                try:
                    conn.execute("BEGIN")
                    (row["seq"],) = conn.execute(
                        "SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE conversation_id = ?",
                        (conversation_id,),
                    ).fetchone()
                    conn.execute(
                        "INSERT INTO messages (id, conversation_id, seq, role, kind, content, "
                        "status, created_at, updated_at) VALUES (:id, :conversation_id, :seq, "
                        ":role, :kind, :content, :status, :created_at, :updated_at)",
                        _as_sqlite_text(row),
                    )
                    conn.execute("COMMIT")
                except module.Error as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    stop.set()
        finally:
            conn.close()
        results.put({"worker": worker, "attempts": attempts, "errors": errors})
    except BaseException:
        _fatal(worker, results)


def naive_postgres_worker(
    url: str,
    conversation_id: str,
    worker: int,
    max_attempts: int,
    stop: Event,
    barrier: Barrier,
    results: multiprocessing.Queue[Report],
) -> None:
    """``SELECT max(seq)+1`` then ``INSERT`` under READ COMMITTED, without the row lock.

    Uses threadkeep's own table definition through SQLAlchemy Core (so the values are
    typed exactly as the store types them) but none of its locking.
    """
    try:
        import sqlalchemy as sa

        from threadkeep.db.schema import messages

        engine = sa.create_engine(url, pool_size=1, max_overflow=0)
        next_seq = (
            sa.select(sa.func.coalesce(sa.func.max(messages.c.seq), 0) + 1)
            .where(messages.c.conversation_id == conversation_id)
            .scalar_subquery()
        )
        errors: list[str] = []
        attempts = 0
        try:
            with engine.connect() as warm:  # connect before the barrier, not after
                warm.execute(sa.text("SELECT 1"))
            barrier.wait(timeout=_BARRIER_TIMEOUT_S)
            while attempts < max_attempts and not stop.is_set():
                attempts += 1
                row = _naive_row(conversation_id, f"naive-{worker}-{attempts}", 0)
                try:
                    with engine.begin() as conn:
                        row["seq"] = conn.execute(sa.select(next_seq)).scalar_one()
                        conn.execute(messages.insert().values(row))
                except sa.exc.DBAPIError as error:
                    errors.append(f"{type(error.orig).__name__}: {error.orig}")
                    stop.set()
        finally:
            engine.dispose()
        results.put({"worker": worker, "attempts": attempts, "errors": errors})
    except BaseException:
        _fatal(worker, results)


def first_open_worker(
    urls: Sequence[str],
    action: str,
    worker: int,
    barrier: Barrier,
    results: multiprocessing.Queue[Report],
) -> None:
    """Open each of ``urls`` in turn, every worker at the same moment (one barrier each).

    ``action`` says how far each open goes: ``create`` only runs ``open_store``'s file
    and directory creation (no migration, no connection); ``connect`` also makes the
    first connection (the pragmas, the switch to WAL) by reading the schema revision;
    ``migrate`` migrates on open and creates a conversation.
    """
    try:
        from threadkeep import Settings, open_store

        settings = Settings.load(migrate_on_open=action == "migrate")
        failures: list[str] = []
        for url in urls:
            barrier.wait(timeout=_BARRIER_TIMEOUT_S)
            try:
                with open_store(url, settings=settings) as store:
                    if action == "connect":
                        store.schema_revision()
                    elif action == "migrate":
                        store.create_conversation(title=f"worker {worker}")
            except Exception as error:  # every error is a finding: report, go on
                failures.append(f"{url}: {type(error).__name__}: {error}")
        results.put({"worker": worker, "failures": failures})
    except BaseException:
        _fatal(worker, results)
