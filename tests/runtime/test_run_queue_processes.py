"""One run at a time per conversation, first come first served, across processes
(SPEC S4.5) — on one SQLite file and on one PostgreSQL database.

Guards against two processes (two servers on one database, a server and the CLI)
streaming replies into the same conversation at once — interleaved messages, a run
that starts before the one ahead of it ended — and against a queue that a dead or
stalled process blocks for ever. Each child (``queued_sender.py``) has its own
:class:`RunQueue`, so only the database can order them.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from tests.runtime.scripted import Scripted, with_scripted
from threadkeep import AsyncConversationStore, ConversationStore, Settings, open_store
from threadkeep.runtime.providers.base import TextDelta
from threadkeep.runtime.run_queue import RunQueue
from threadkeep.runtime.send import RunFinished

REPO_ROOT = Path(__file__).resolve().parents[2]
# Hang protection only: how long a child may take to say what the test waits for.
DEADLINE_S = 60.0


class Child:
    """A ``queued_sender`` process and the lines it prints."""

    def __init__(self, db_url: str, conversation_id: str, label: str, errors: IO[str]) -> None:
        self.label = label
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.runtime.queued_sender", db_url, conversation_id, label],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )

    def expect(self, prefix: str) -> str:
        """The next line, which must start with ``prefix``."""
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith(prefix), f"{self.label}: expected {prefix!r}, got {line!r}"
        return line.strip()

    def close(self) -> None:
        """Kill the child if it still runs; reap it; close its pipes."""
        self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()

    def go_on(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()


def tickets(store: ConversationStore, conversation_id: str) -> int:
    with store.database.read() as conn:
        query = sa.text("SELECT count(*) FROM run_turns WHERE conversation_id = :c")
        return int(conn.execute(query, {"c": conversation_id}).scalar_one())


def wait_for_tickets(store: ConversationStore, conversation_id: str, count: int) -> None:
    """Until ``count`` sends have queued (a child queues soon after it starts)."""
    deadline = time.monotonic() + DEADLINE_S
    for _ in range(100_000):
        if tickets(store, conversation_id) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert tickets(store, conversation_id) == count


def test_sends_from_three_processes_run_one_at_a_time_in_arrival_order(
    db_url: str, tmp_path: Path
) -> None:
    with open_store(db_url, settings=Settings.load()) as store:
        conv = store.create_conversation()
        errors = (tmp_path / "children.err").open("w")
        spawned: list[Child] = []
        try:
            first = Child(db_url, conv.id, "first", errors)
            spawned.append(first)
            first_run = first.expect("streaming first").split()[2]
            # The first holds the turn; the second and then the third queue behind it.
            second = Child(db_url, conv.id, "second", errors)
            spawned.append(second)
            wait_for_tickets(store, conv.id, 2)
            third = Child(db_url, conv.id, "third", errors)
            spawned.append(third)
            wait_for_tickets(store, conv.id, 3)

            # A process starting up (a second server) leaves a live process's run alone.
            assert store.mark_interrupted_runs(all_owners=True) == []
            assert store.get_run(first_run).status == "running"

            first.go_on()
            first.expect("finished completed")
            second.expect("streaming second")
            second.go_on()
            second.expect("finished completed")
            third.expect("streaming third")
            third.go_on()
            third.expect("finished completed")
            for child in spawned:
                assert child.process.wait(timeout=DEADLINE_S) == 0
        finally:
            for child in spawned:
                child.close()
            errors.close()

        messages = [(m.role, m.content) for m in store.get_messages(conv.id)]
        assert messages == [
            ("user", "first"),
            ("assistant", "reply first"),
            ("user", "second"),
            ("assistant", "reply second"),
            ("user", "third"),
            ("assistant", "reply third"),
        ], (tmp_path / "children.err").read_text()
        runs = store.list_runs(conv.id)
        assert [r.status for r in runs] == ["completed"] * 3
        for earlier, later in itertools.pairwise(runs):
            assert earlier.finished_at is not None and later.started_at is not None
            assert later.started_at >= earlier.finished_at
        assert tickets(store, conv.id) == 0


def test_a_cancel_reaches_another_process_and_a_killed_holder_does_not_block_the_queue(
    db_url: str, tmp_path: Path
) -> None:
    with open_store(db_url, settings=Settings.load()) as store:
        conv = store.create_conversation()
        astore = AsyncConversationStore(store)
        errors = (tmp_path / "children.err").open("w")
        spawned: list[Child] = []
        try:
            # Cancelled from this process while another process runs it.
            cancelled = Child(db_url, conv.id, "cancel me", errors)
            spawned.append(cancelled)
            cancelled_run = cancelled.expect("streaming cancel").split()[-1]
            assert asyncio.run(RunQueue().cancel_run(astore, cancelled_run)) is True
            cancelled.expect("cancelled")
            assert cancelled.process.wait(timeout=DEADLINE_S) == 0
            assert store.get_run(cancelled_run).status == "cancelled"

            # Killed while it holds the turn: the next send goes ahead at once.
            killed = Child(db_url, conv.id, "killed", errors)
            spawned.append(killed)
            killed_run = killed.expect("streaming killed").split()[-1]
            killed.process.send_signal(signal.SIGKILL)
            assert killed.process.wait(timeout=DEADLINE_S) == -signal.SIGKILL
        finally:
            for child in spawned:
                child.close()
            errors.close()

        async def send_after() -> RunFinished:
            scripted = Scripted()
            scripted.turns.append([TextDelta("after")])
            runtime = with_scripted(astore, scripted)
            events = [event async for event in runtime.send(conv.id, "after the crash")]
            await runtime.settle()
            finished = events[-1]
            assert isinstance(finished, RunFinished)
            return finished

        finished = asyncio.run(send_after())
        assert finished.error is None and finished.run is not None
        assert store.get_run(killed_run).status == "interrupted"
        assert [r.status for r in store.list_runs(conv.id)] == [
            "cancelled",
            "interrupted",
            "completed",
        ]
        assert tickets(store, conv.id) == 0
