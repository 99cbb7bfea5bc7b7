"""Live events across server processes on PostgreSQL (issue 4, "Live events"; S8.3).

Two ``threadkeep serve`` processes on different ports share one PostgreSQL schema: a
message appended through one reaches the event streams of the other (LISTEN/NOTIFY),
and concurrent appends through both keep every seq unique and gapless. The listener's
recovery is tested with two in-thread servers: its connection is killed, the streams
it fed end, and their clients reconnect and replay what they missed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.server.live import DEADLINE_S, EventReader, ServeProcess, ThreadServer
from tests.server.test_events import (
    append,
    conversation_stream,
    create,
    make_app,
    owner_stream,
    seqs,
    state_of,
)
from threadkeep import open_store
from threadkeep.db.notify import MAX_PAYLOAD_BYTES, application_name, channel_for, decode, encode
from threadkeep.events import Event
from threadkeep.server.broker import ServerBroker

pytestmark = pytest.mark.postgres

PER_SERVER = 50


@pytest.fixture
def migrated(postgres_url: str) -> str:
    """The schema, migrated once before several servers open it."""
    open_store(postgres_url).close()
    return postgres_url


@pytest.mark.slow
def test_two_serve_processes_share_events_and_keep_seqs_gapless(
    migrated: str, tmp_path: Path
) -> None:
    """Guards against live events staying inside the process that wrote them, and
    against two processes allocating the same seq (or skipping one) under load."""
    with (
        ServeProcess(migrated, tmp_path / "a.log") as first,
        ServeProcess(migrated, tmp_path / "b.log") as second,
    ):
        cid = create(first.url)
        with (
            EventReader(conversation_stream(second.url, cid)) as on_second,
            EventReader(owner_stream(second.url)) as every_on_second,
            EventReader(conversation_stream(first.url, cid)) as on_first,
        ):
            message = append(first.url, cid, "written through the first process")
            for reader in (on_second, every_on_second, on_first):
                event = reader.take(1, kind="message.created")[0]
                assert (event.seq, event.message_id) == (1, message["id"])

            def appender(url: str, name: str) -> None:
                for n in range(PER_SERVER):
                    append(url, cid, f"{name} {n}")

            threads = [
                threading.Thread(target=appender, args=(first.url, "first")),
                threading.Thread(target=appender, args=(second.url, "second")),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(DEADLINE_S * 6)
            assert not any(thread.is_alive() for thread in threads)

            total = 1 + 2 * PER_SERVER
            listed = httpx.get(
                f"{second.url}/api/v1/conversations/{cid}/messages",
                params={"limit": 500},
            )
            assert listed.status_code == 200, listed.text
            stored = [item["seq"] for item in listed.json()["items"]]
            assert stored == list(range(1, total + 1))
            conversation = httpx.get(f"{first.url}/api/v1/conversations/{cid}").json()
            assert (conversation["last_seq"], conversation["message_count"]) == (total, total)

            # Both processes' streams saw every message once, in seq order.
            for reader in (on_first, on_second):
                received = reader.take(total - 1, kind="message.created")
                assert seqs(received) == list(range(2, total + 1))


@pytest.fixture
def pair(migrated: str) -> Iterator[tuple[ThreadServer, ThreadServer]]:
    with ThreadServer(make_app(migrated)) as one, ThreadServer(make_app(migrated)) as two:
        yield one, two


def terminate(postgres_url: str, name: str) -> list[tuple[bool]]:
    """Kill the server-side backend of the connection with ``application_name`` name."""
    admin = sa.create_engine(postgres_url)
    try:
        with admin.begin() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": name},
            ).all()
    finally:
        admin.dispose()
    return [tuple(row) for row in killed]


def test_a_lost_listener_connection_ends_streams_and_reconnecting_replays(
    pair: tuple[ThreadServer, ThreadServer], postgres_url: str
) -> None:
    """Notifications sent while the listener reconnects are lost; its streams must end
    so their clients replay from the store instead of silently missing messages."""
    writer, reader_side = pair
    cid = create(writer.url)
    broker = state_of(reader_side).broker
    with EventReader(conversation_stream(reader_side.url, cid)) as stream:
        append(writer.url, cid, "before")
        stream.take(1, kind="message.created")
        last_id = stream.last_event_id

        killed = terminate(postgres_url, application_name("listen", broker.origin))
        assert killed == [(True,)]
        missed = append(writer.url, cid, "while the listener is away")
        stream.wait_ended()

    with EventReader(conversation_stream(reader_side.url, cid), last_event_id=last_id) as again:
        event = again.take(1, kind="message.created")[0]
        assert (event.seq, event.message_id) == (2, missed["id"])
        # The listener is back: live events from the other process arrive again.
        live = append(writer.url, cid, "after")
        event = again.take(1, kind="message.created")[0]
        assert (event.seq, event.message_id) == (3, live["id"])


def test_a_lost_notify_connection_loses_no_event(
    pair: tuple[ThreadServer, ThreadServer], postgres_url: str
) -> None:
    """A batch whose NOTIFY failed is sent again once reconnected (at least once)."""
    writer, reader_side = pair
    cid = create(writer.url)
    with EventReader(conversation_stream(reader_side.url, cid)) as stream:
        append(writer.url, cid, "opens the notify connection")
        stream.take(1, kind="message.created")
        origin = state_of(writer).broker.origin
        assert terminate(postgres_url, application_name("notify", origin)) == [(True,)]
        after = append(writer.url, cid, "sent on a dead connection first")
        event = stream.take(1, kind="message.created")[0]
        assert (event.seq, event.message_id) == (2, after["id"])


def test_events_published_before_start_reach_other_processes(migrated: str) -> None:
    """Orphaned runs are marked interrupted before the broker starts: those events are
    held, then sent, not lost for the other processes."""
    received: list[Event] = []
    arrived = threading.Event()
    listening, early = ServerBroker(), ServerBroker()

    def on_event(event: Event) -> None:
        received.append(event)
        arrived.set()

    listening.subscribe_owner("someone", on_event)

    async def scenario() -> None:
        with open_store(migrated) as store:
            await listening.start(store)
            try:
                event = Event("run.failed", "someone", "c", {"run_id": "r"})
                early.publish(event)
                await early.start(store)
                try:
                    assert await asyncio.to_thread(arrived.wait, DEADLINE_S)
                    assert received == [event]
                finally:
                    await early.stop()
            finally:
                await listening.stop()

    asyncio.run(scenario())


def test_other_schemas_do_not_hear_each_other() -> None:
    assert channel_for("tk_one") != channel_for("tk_two")
    assert channel_for(None) == "threadkeep_events"
    long_name = "s" * 100
    assert len(channel_for(long_name).encode()) <= 63
    assert channel_for(long_name) != channel_for(long_name + "x")


def test_payloads_carry_ids_never_content_and_stay_small() -> None:
    at = dt.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
    event = Event("message.created", "ü" * 200, "c" * 36, {"message_id": "m" * 200, "seq": 7}, at)
    payload = encode(event, "origin")
    assert payload is not None and len(payload.encode()) <= MAX_PAYLOAD_BYTES
    assert decode(payload) == ("origin", event)

    bulky = Event("conversation.updated", "o", "c", {"fields": ["x" * 9000], "seq": 3}, at)
    shrunk = encode(bulky, "origin")
    assert shrunk is not None and len(shrunk.encode()) <= MAX_PAYLOAD_BYTES
    assert decode(shrunk)[1] == Event("conversation.updated", "o", "c", {"seq": 3}, at)

    with pytest.raises(ValueError):
        decode('{"v": 99}')
