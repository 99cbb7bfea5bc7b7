"""Writers killed with SIGKILL at random moments lose nothing they acknowledged (S12.1).

Each of 20 rounds starts several writer processes (``writer.py``) appending to the same
conversation and kills each of them with SIGKILL at a random moment — mostly while
appends are in flight, in some rounds while the process is still opening the store. A
writer writes ``ack <seq> <id>`` (flushed) only after ``append_message`` returned.
After the last round the store is reopened and must hold every acknowledged message
under its acknowledged seq with its content, seqs exactly 1..N, counters equal to N,
and (SQLite) a file that passes ``PRAGMA integrity_check``.

Writers are forked from a ``multiprocessing`` fork server that has imported threadkeep
(and nothing else: it is a fresh interpreter, not a fork of this process), so a round
costs a few forks rather than interpreter start-ups; each writer opens its own store.

The kill schedule is random; its seed is in every failure message, and
``DURABILITY_CRASH_SEED`` reuses one (the timing of the writers still varies).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.durability.writer import expected_content, write_until_killed
from threadkeep import Settings, open_store
from threadkeep.db.sqlite_driver import sqlite_module

ROUNDS = 20
WRITERS_PER_ROUND = 3
# Every STARTUP_KILL_EVERY-th round kills the writers without waiting for them to open
# the store, so a crash while opening (and checking the schema revision) is covered too.
STARTUP_KILL_EVERY = 5
MAX_KILL_DELAY_S = 0.2
MAX_STARTUP_KILL_DELAY_S = 0.1
# Hang protection only: a writer that never gets ready is a failure, not a slow pass.
READY_TIMEOUT_S = 120.0


@dataclass
class CrashLog:
    """What the writers acknowledged, over all rounds."""

    seed: int
    acked: dict[str, int] = field(default_factory=dict)  # message id -> seq
    rounds_with_acks: int = 0

    def where(self) -> str:
        return f"(random seed {self.seed})"


@dataclass
class Writer:
    process: BaseProcess
    output: Path
    errors: Path

    def error_text(self) -> str:
        if not self.errors.exists():
            return "(no traceback)"
        return self.errors.read_text(encoding="utf-8")[-3000:]


def _writer_context() -> ForkServerContext:
    """A fork server that has imported threadkeep: a writer starts in a fork, not a boot."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(
        ["threadkeep", "tests.durability.writer", "sqlalchemy.dialects.postgresql.psycopg"]
    )
    return ctx


def _acks(output: Path) -> list[tuple[int, str]]:
    """``(seq, id)`` of every complete ``ack`` line; a line cut by the kill is ignored."""
    if not output.exists():
        return []
    found = []
    for line in output.read_text(encoding="utf-8").splitlines(keepends=True):
        if line.startswith("ack ") and line.endswith("\n"):
            _, seq, message_id = line.split()
            found.append((int(seq), message_id))
    return found


def _wait_ready(writer: Writer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not (writer.output.exists() and writer.output.read_bytes().startswith(b"ready\n")):
        if not writer.process.is_alive():
            pytest.fail(
                f"writer exited {writer.process.exitcode} before ready: {writer.error_text()}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"writer not ready after {READY_TIMEOUT_S}s: {writer.error_text()}")
        time.sleep(0.005)


def _run_round(
    ctx: ForkServerContext,
    url: str,
    conversation_id: str,
    number: int,
    rng: random.Random,
    folder: Path,
    log: CrashLog,
) -> None:
    writers: list[Writer] = []
    try:
        for k in range(WRITERS_PER_ROUND):
            name = f"r{number}w{k}"
            output, errors = folder / f"{name}.out", folder / f"{name}.err"
            process = ctx.Process(
                target=write_until_killed,
                args=(url, conversation_id, name, str(output), str(errors)),
                daemon=True,
            )
            process.start()
            writers.append(Writer(process, output, errors))
        if number % STARTUP_KILL_EVERY == STARTUP_KILL_EVERY - 1:
            time.sleep(rng.uniform(0, MAX_STARTUP_KILL_DELAY_S))
        else:
            for writer in writers:
                _wait_ready(writer)
        for writer in rng.sample(writers, len(writers)):
            time.sleep(rng.uniform(0, MAX_KILL_DELAY_S))
            writer.process.kill()  # SIGKILL
    finally:
        for writer in writers:
            if writer.process.is_alive():
                writer.process.kill()
            writer.process.join()

    acked_this_round = 0
    for writer in writers:
        # Anything but death by SIGKILL means the writer stopped on its own: an append
        # raised (e.g. "database is locked" after a peer died holding the lock).
        assert writer.process.exitcode == -signal.SIGKILL, (
            f"writer {writer.output.stem} exited {writer.process.exitcode} {log.where()}: "
            f"{writer.error_text()}"
        )
        for seq, message_id in _acks(writer.output):
            assert message_id not in log.acked, f"{message_id} acknowledged twice {log.where()}"
            log.acked[message_id] = seq
            acked_this_round += 1
    if acked_this_round:
        log.rounds_with_acks += 1


def _check_survivors(url: str, conversation_id: str, log: CrashLog) -> None:
    with open_store(url, settings=Settings.load()) as store:
        conversation = store.get_conversation(conversation_id)
        stored = store.get_messages(conversation_id)
        with store.database.read() as conn:
            raw = conn.execute(
                sa.text("SELECT seq, id FROM messages WHERE conversation_id = :c ORDER BY seq"),
                {"c": conversation_id},
            ).all()

    total = len(raw)
    where = log.where()
    assert [int(seq) for seq, _ in raw] == list(range(1, total + 1)), f"seq gap/dup {where}"
    assert len(stored) == total, f"{total - len(stored)} stored rows unreadable {where}"
    assert conversation.message_count == total, where
    assert conversation.last_seq == total, where

    by_id = {m.id: m for m in stored}
    lost = sorted(set(log.acked) - set(by_id))
    assert not lost, f"{len(lost)} acknowledged appends lost, e.g. {lost[:5]} {where}"
    moved = {i: (s, by_id[i].seq) for i, s in log.acked.items() if by_id[i].seq != s}
    assert not moved, f"acknowledged seq != stored seq: {dict(list(moved.items())[:5])} {where}"
    wrong = [m.id for m in stored if m.content != expected_content(m.id)]
    assert not wrong, f"content differs for {wrong[:5]} {where}"
    # Unacknowledged appends (killed between commit and print) may be there too; all
    # stored messages come from the writers.
    assert all(m.id.startswith("r") and m.role == "user" for m in stored), where


def _crash_rounds(url: str, tmp_path: Path) -> CrashLog:
    chosen = os.environ.get("DURABILITY_CRASH_SEED")
    seed = int(chosen) if chosen else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    log = CrashLog(seed=seed)
    with open_store(url, settings=Settings.load()) as store:
        conversation_id = store.create_conversation(title="crash").id
    ctx = _writer_context()
    for number in range(ROUNDS):
        folder = tmp_path / f"round{number}"
        folder.mkdir()
        _run_round(ctx, url, conversation_id, number, rng, folder, log)
    # Guards against a test that passes because no writer ever got to append.
    assert log.rounds_with_acks >= ROUNDS // 2, (
        f"only {log.rounds_with_acks} of {ROUNDS} rounds acknowledged anything {log.where()}"
    )
    _check_survivors(url, conversation_id, log)
    return log


@pytest.mark.slow
def test_sigkilled_sqlite_writers_lose_no_acknowledged_append(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Guards against losing an acknowledged append, or a torn file, when writers die.

    Three writers per round on one SQLite file with the shipped settings
    (``synchronous=FULL``, WAL), each killed at a random moment — in the middle of a
    ``BEGIN IMMEDIATE`` transaction, between commit and acknowledgement, during a WAL
    checkpoint, or while opening. The survivors of a round keep appending while a peer
    dies holding the write lock, and must not fail. Afterwards: nothing acknowledged is
    lost or moved, seqs are gapless and unique, the counters agree, and SQLite's own
    ``integrity_check`` and ``foreign_key_check`` pass.
    """
    _crash_rounds(sqlite_url, tmp_path)
    # Checked with the same SQLite library threadkeep uses, after the store is closed.
    module = sqlite_module().module
    conn = module.connect(str(make_url(sqlite_url).database))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkilled_postgres_writers_lose_no_acknowledged_append(
    postgres_url: str, tmp_path: Path
) -> None:
    """Guards against lost appends or seq gaps when PostgreSQL clients die mid-transaction.

    The same rounds on PostgreSQL: a writer killed while it holds the conversation's row
    lock must not leave a reserved-but-unused seq (its transaction rolls back, counter
    included) nor block the survivors, and every acknowledged append is there.
    """
    _crash_rounds(postgres_url, tmp_path)
