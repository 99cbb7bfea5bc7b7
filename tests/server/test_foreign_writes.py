"""Other processes' writes to a SQLite file reach this server's event streams
(``server/foreign_writes.py``).

* Through a real server (``live.ThreadServer``) and real streams: a conversation
  created by another process and renamed by ``threadkeep rename`` arrive as
  ``conversation.updated`` with ``{"external": true}``, on the owner stream and the
  conversation's stream; the server's own write still arrives once, as the
  ``conversation.created`` it always was, with no extra event from the watcher.
* Against the broker with the watcher's ticks driven by hand (its own timer is set
  to an hour), so each step is deterministic: nothing is read while no stream is
  open; what happened before a stream opened is not reported; this process's own
  writes are not reported even in the tick that reports another's; a failing read is
  logged once and retried. On PostgreSQL no watcher starts (LISTEN/NOTIFY does it).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import httpx
import pytest

from tests.server.live import DEADLINE_S, EventReader, SseEvent, ThreadServer
from threadkeep import Settings, open_store
from threadkeep.errors import StoreUnavailable
from threadkeep.events import Event
from threadkeep.server.app import create_app
from threadkeep.server.auth import LOCAL_OWNER
from threadkeep.server.broker import ServerBroker
from threadkeep.server.foreign_writes import ForeignWrites
from threadkeep.store import ConversationStore

# ------------------------------------------------------------------ another process

_CREATE = """
import sys
from threadkeep import open_store
with open_store(sys.argv[1]) as store:
    print(store.create_conversation(title=sys.argv[2]).id)
"""


def create_elsewhere(url: str, title: str) -> str:
    """Create a conversation in another process, through the library; its id."""
    done = subprocess.run(
        [sys.executable, "-c", _CREATE, url, title],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S * 3,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def rename_with_cli(url: str, cid: str, title: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "threadkeep", "--db", url, "rename", cid, title],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S * 3,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def next_for(reader: EventReader, cid: str) -> tuple[SseEvent, list[SseEvent]]:
    """The next event about ``cid``, and the events about others received before it."""
    before: list[SseEvent] = []
    while True:
        event = reader.next()
        if event.data["conversation_id"] == cid:
            return event, before
        before.append(event)


# ------------------------------------------------------------------ a real server


@pytest.fixture
def server(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadServer]:
    # Ticks often, so the test is quick; nothing here depends on when they happen.
    monkeypatch.setattr("threadkeep.server.foreign_writes.POLL_SECONDS", 0.05)
    app = create_app(
        Settings.load(database_url=sqlite_url, sse_heartbeat_seconds=0.2), loopback=True
    )
    with ThreadServer(app) as running:
        yield running


class TestThroughTheServer:
    def test_other_processes_changes_reach_the_streams(
        self, server: ThreadServer, sqlite_url: str
    ) -> None:
        with EventReader(f"{server.url}/api/v1/events") as every:
            created = create_elsewhere(sqlite_url, "Made by an agent")
            event, before = next_for(every, created)
            assert before == []
            assert event.event == "conversation.updated"
            assert event.data["data"] == {"external": True}
            stored = httpx.get(f"{server.url}/api/v1/conversations/{created}").json()
            assert event.data["at"] == stored["updated_at"].replace("Z", "+00:00")

            with EventReader(f"{server.url}/api/v1/conversations/{created}/events") as one:
                rename_with_cli(sqlite_url, created, "Renamed in a terminal")
                for reader in (every, one):
                    event, before = next_for(reader, created)
                    assert (event.event, event.data["data"]) == (
                        "conversation.updated",
                        {"external": True},
                    )
                    assert before == []
            renamed = httpx.get(f"{server.url}/api/v1/conversations/{created}").json()
            assert renamed["title"] == "Renamed in a terminal"
            assert every.pending() == []

    def test_the_servers_own_write_arrives_once_as_it_always_did(
        self, server: ThreadServer, sqlite_url: str
    ) -> None:
        """The watcher lists the server's own new conversation too (it changed since
        the stream opened); it must not send it again as ``conversation.updated``."""
        with EventReader(f"{server.url}/api/v1/events") as every:
            response = httpx.post(f"{server.url}/api/v1/conversations", json={})
            assert response.status_code == 201, response.text
            own = response.json()["id"]
            # A later write by another process: once it arrives, the watcher has listed
            # everything before it, the server's own conversation included.
            sentinel = create_elsewhere(sqlite_url, "sentinel")
            event, before = next_for(every, sentinel)
            assert event.data["data"] == {"external": True}
            assert [(e.event, e.data["conversation_id"]) for e in before] == [
                ("conversation.created", own)
            ]


# ------------------------------------------------------------------ ticks by hand


def run_with_broker(
    url: str,
    scenario: Callable[[ServerBroker, ForeignWrites, ConversationStore], Coroutine[Any, Any, None]],
) -> None:
    """``scenario(broker, watcher, store)`` with the broker started over ``url``."""

    async def main() -> None:
        broker = ServerBroker()
        with open_store(url, broker=broker) as store:
            await broker.start(store)
            try:
                watcher = broker.foreign_writes
                assert watcher is not None
                await scenario(broker, watcher, store)
            finally:
                await broker.stop()
            assert broker.foreign_writes is None

    asyncio.run(main())


@pytest.fixture
def by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watcher's own timer never fires during a test: ticks are the test's."""
    monkeypatch.setattr("threadkeep.server.foreign_writes.POLL_SECONDS", 3600.0)


@pytest.fixture
def other(sqlite_url: str) -> Iterator[ConversationStore]:
    """Another writer of the same file: a connection of its own, as another process's
    would be (SQLite tells connections apart, not processes)."""
    with open_store(sqlite_url) as store:
        yield store


@pytest.mark.usefixtures("by_hand")
class TestTicks:
    def test_nothing_is_read_while_no_stream_is_open(
        self, sqlite_url: str, other: ConversationStore
    ) -> None:
        async def scenario(
            broker: ServerBroker, watcher: ForeignWrites, store: ConversationStore
        ) -> None:
            other.create_conversation(title="while nobody watches")
            for _ in range(3):
                await watcher.tick()
            assert (watcher.ticks, watcher.reads, watcher.listings) == (3, 0, 0)

            received: list[Event] = []
            unsubscribe = broker.subscribe_owner(LOCAL_OWNER, received.append)
            await watcher.tick()
            # A new stream's owner is listed once; what was there before is not news.
            assert (watcher.reads, watcher.listings) == (1, 1)
            assert received == []
            await watcher.tick()
            assert (watcher.reads, watcher.listings) == (2, 1)  # nothing changed

            unsubscribe()
            other.create_conversation(title="after the stream closed")
            await watcher.tick()
            assert (watcher.reads, watcher.listings) == (2, 1)
            assert received == []

        run_with_broker(sqlite_url, scenario)

    def test_another_writers_changes_are_reported_and_ours_are_not(
        self, sqlite_url: str, other: ConversationStore
    ) -> None:
        async def scenario(
            broker: ServerBroker, watcher: ForeignWrites, store: ConversationStore
        ) -> None:
            received: list[Event] = []
            broker.subscribe_owner(LOCAL_OWNER, received.append)
            await watcher.tick()
            assert received == []

            ours = store.create_conversation(title="ours")
            assert [(e.type, e.conversation_id) for e in received] == [
                ("conversation.created", ours.id)
            ]
            received.clear()
            await watcher.tick()
            # Our own commit does not move data_version: no listing at all.
            assert (watcher.reads, watcher.listings) == (2, 1)
            assert received == []

            # Both in one tick: only the other writer's change is reported.
            store.update_conversation(ours.id, title="ours, renamed")
            theirs = other.create_conversation(title="theirs")
            await watcher.tick()
            assert watcher.listings == 2
            own = [e for e in received if e.conversation_id == ours.id]
            assert len(own) == 1  # the rename's own event, published by the store
            assert own[0].type == "conversation.updated"
            assert "external" not in own[0].data
            assert [e for e in received if e.conversation_id == theirs.id] == [
                Event(
                    "conversation.updated",
                    LOCAL_OWNER,
                    theirs.id,
                    {"external": True},
                    other.get_conversation(theirs.id).updated_at,
                )
            ]
            assert len(received) == 2

            # Reported once: the next tick with another change reports only that one.
            other.update_conversation(theirs.id, title="theirs, renamed")
            received.clear()
            await watcher.tick()
            assert [(e.conversation_id, e.data) for e in received] == [
                (theirs.id, {"external": True})
            ]
            received.clear()
            await watcher.tick()
            assert received == []

        run_with_broker(sqlite_url, scenario)

    def test_only_the_owners_with_streams_get_reports(
        self, sqlite_url: str, other: ConversationStore
    ) -> None:
        async def scenario(
            broker: ServerBroker, watcher: ForeignWrites, store: ConversationStore
        ) -> None:
            alices: list[Event] = []
            broker.subscribe_owner("alice", alices.append)
            await watcher.tick()
            bobs = other.as_owner("bob").create_conversation(title="bob's")
            hers = other.as_owner("alice").create_conversation(title="alice's")
            await watcher.tick()
            assert [e.conversation_id for e in alices] == [hers.id]
            assert all(e.owner == "alice" for e in alices)
            assert bobs.id not in {e.conversation_id for e in alices}

        run_with_broker(sqlite_url, scenario)

    def test_a_failing_read_is_logged_once_and_retried(
        self, sqlite_url: str, other: ConversationStore, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def scenario(
            broker: ServerBroker, watcher: ForeignWrites, store: ConversationStore
        ) -> None:
            received: list[Event] = []
            broker.subscribe_owner(LOCAL_OWNER, received.append)
            await watcher.tick()
            database = store.database

            def locked() -> tuple[int, int]:
                raise StoreUnavailable("database test: another writer held the lock")

            database.foreign_data_version = locked  # type: ignore[method-assign]
            theirs = other.create_conversation(title="while it fails")
            with caplog.at_level(logging.WARNING, "threadkeep.server.foreign_writes"):
                for _ in range(3):
                    await watcher.tick()
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1
            assert "another writer held the lock" in warnings[0].getMessage()
            assert received == []

            del database.foreign_data_version  # the method again
            await watcher.tick()
            assert [e.conversation_id for e in received] == [theirs.id]

        run_with_broker(sqlite_url, scenario)


def test_no_watcher_on_postgresql(postgres_url: str) -> None:
    async def main() -> None:
        broker = ServerBroker()
        with open_store(postgres_url, broker=broker) as store:
            await broker.start(store)
            try:
                assert broker.foreign_writes is None
            finally:
                await broker.stop()

    asyncio.run(main())
