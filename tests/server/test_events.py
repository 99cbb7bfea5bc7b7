"""Live events over Server-Sent Events (SPEC S3.6, S8.3), through a real server.

Every test runs uvicorn on a free loopback port (``live.ThreadServer``) over a fresh
database — SQLite and PostgreSQL (``db_url``) — and reads the streams over real HTTP
connections (``live.EventReader``). Messages are appended over HTTP; pop and clear,
which have no route, through the app's own store. Waiting is with a deadline only.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.server.live import DEADLINE_S, EventReader, ServeProcess, SseEvent, ThreadServer
from threadkeep import Settings, open_store
from threadkeep.server.app import create_app
from threadkeep.server.auth import LOCAL_OWNER
from threadkeep.server.replay import Position
from threadkeep.server.state import ServerState
from threadkeep.store import ConversationStore

HEARTBEAT_S = 0.2


def state_of(server: ThreadServer) -> ServerState:
    state: ServerState = server.app.state.threadkeep
    return state


def store_of(server: ThreadServer, owner: str = LOCAL_OWNER) -> ConversationStore:
    return state_of(server).store.as_owner(owner)


def make_app(db_url: str, **settings: Any) -> FastAPI:
    settings.setdefault("sse_heartbeat_seconds", HEARTBEAT_S)
    return create_app(Settings.load(database_url=db_url, **settings), loopback=True)


@pytest.fixture
def server(db_url: str) -> Iterator[ThreadServer]:
    with ThreadServer(make_app(db_url)) as running:
        yield running


def create(server_url: str, headers: dict[str, str] | None = None) -> str:
    response = httpx.post(f"{server_url}/api/v1/conversations", json={}, headers=headers)
    assert response.status_code == 201, response.text
    cid: str = response.json()["id"]
    return cid


def append(
    server_url: str, cid: str, content: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = httpx.post(
        f"{server_url}/api/v1/conversations/{cid}/messages",
        json={"role": "user", "content": content},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def conversation_stream(server_url: str, cid: str) -> str:
    return f"{server_url}/api/v1/conversations/{cid}/events"


def owner_stream(server_url: str) -> str:
    return f"{server_url}/api/v1/events"


def seqs(events: list[SseEvent]) -> list[int]:
    return [event.seq for event in events]


class TestLive:
    def test_an_append_reaches_both_streams_as_message_created(self, server: ThreadServer) -> None:
        cid = create(server.url)
        with (
            EventReader(conversation_stream(server.url, cid)) as one,
            EventReader(owner_stream(server.url)) as every,
        ):
            assert one.status == every.status == 200
            assert one.content_type.startswith("text/event-stream")
            message = append(server.url, cid, "secret words stay out of events")

            for reader in (one, every):
                event = reader.take(1, kind="message.created")[0]
                assert event.data["type"] == "message.created"
                assert event.data["conversation_id"] == cid
                assert event.data["data"] == {"message_id": message["id"], "seq": 1}
                assert event.data["at"] == message["created_at"].replace("Z", "+00:00")
                assert "secret" not in repr(event)
            assert one.last_event_id == Position.parse(one.last_event_id or "").event_id
            assert Position.parse(one.last_event_id or "").seq == 1

    def test_other_changes_are_streamed_too(self, server: ThreadServer) -> None:
        cid = create(server.url)
        with EventReader(conversation_stream(server.url, cid)) as reader:
            renamed = httpx.patch(
                f"{server.url}/api/v1/conversations/{cid}", json={"title": "Plans"}
            )
            assert renamed.status_code == 200, renamed.text
            event = reader.next()
            assert event.event == "conversation.updated"
            assert "title" in event.data["data"]["fields"]
            # A conversation stream's ids always name the client's position.
            assert event.id == "0:0"

    def test_idle_streams_get_keep_alive_comments(self, server: ThreadServer) -> None:
        with EventReader(owner_stream(server.url)) as reader:
            reader.wait_comment()
            reader.wait_comment()
            assert reader.pending() == []

    def test_deleting_the_conversation_ends_its_stream(self, server: ThreadServer) -> None:
        cid = create(server.url)
        with EventReader(conversation_stream(server.url, cid)) as reader:
            assert httpx.delete(f"{server.url}/api/v1/conversations/{cid}").status_code == 204
            assert reader.next().event == "conversation.deleted"
            reader.wait_ended()
        again = httpx.get(conversation_stream(server.url, cid))
        assert again.status_code == 404


class TestReconnect:
    """``Last-Event-ID`` resumes a stream without missing or repeating a message."""

    def test_the_missed_messages_exactly_once_in_order(self, server: ThreadServer) -> None:
        cid = create(server.url)
        with EventReader(conversation_stream(server.url, cid)) as reader:
            for n in range(3):
                append(server.url, cid, f"seen {n}")
            assert seqs(reader.take(3, kind="message.created")) == [1, 2, 3]
            last_id = reader.last_event_id
        missed = [append(server.url, cid, f"missed {n}")["id"] for n in range(5)]

        with EventReader(conversation_stream(server.url, cid), last_event_id=last_id) as again:
            replayed = again.take(5)
            assert [(e.event, e.seq, e.message_id) for e in replayed] == [
                ("message.created", seq, mid) for seq, mid in zip(range(4, 9), missed, strict=True)
            ]
            hint = again.next()
            assert hint.event == "conversation.updated"
            assert hint.data["data"] == {"replayed": True}
            live = append(server.url, cid, "live")
            event = again.next()
            assert (event.event, event.seq, event.message_id) == ("message.created", 9, live["id"])
            assert again.pending() == []

    def test_a_client_that_saw_nothing_resumes_from_where_it_connected(
        self, server: ThreadServer
    ) -> None:
        cid = create(server.url)
        append(server.url, cid, "before the stream")
        with EventReader(conversation_stream(server.url, cid)) as reader:
            reader.wait_comment()
            last_id = reader.last_event_id  # the stream's opening id, no event yet
        assert last_id is not None and Position.parse(last_id).seq == 1
        missed = append(server.url, cid, "while away")
        with EventReader(conversation_stream(server.url, cid), last_event_id=last_id) as again:
            event = again.next()
            assert (event.seq, event.message_id) == (2, missed["id"])

    def test_after_pop_the_reused_seqs_are_replayed(self, server: ThreadServer) -> None:
        """Pop gives seqs back: the replay must send the messages that now hold them,
        not skip them because the client's last seq is already that high."""
        cid = create(server.url)
        with EventReader(conversation_stream(server.url, cid)) as reader:
            for n in range(5):
                append(server.url, cid, f"seen {n}")
            assert seqs(reader.take(5, kind="message.created")) == [1, 2, 3, 4, 5]
            last_id = reader.last_event_id
        store = store_of(server)
        store.pop_message(cid)
        store.pop_message(cid)
        replacements = [append(server.url, cid, f"new {n}")["id"] for n in range(3)]

        with EventReader(conversation_stream(server.url, cid), last_event_id=last_id) as again:
            replayed = again.take(3)
            assert [(e.event, e.seq, e.message_id) for e in replayed] == [
                ("message.created", seq, mid)
                for seq, mid in zip([4, 5, 6], replacements, strict=True)
            ]
            assert again.next().data["data"] == {"replayed": True}

    def test_after_clear_everything_new_is_replayed(self, server: ThreadServer) -> None:
        cid = create(server.url)
        with EventReader(conversation_stream(server.url, cid)) as reader:
            for n in range(4):
                append(server.url, cid, f"seen {n}")
            reader.take(4, kind="message.created")
            last_id = reader.last_event_id
        store_of(server).clear_messages(cid)
        fresh = [append(server.url, cid, f"new {n}")["id"] for n in range(2)]
        with EventReader(conversation_stream(server.url, cid), last_event_id=last_id) as again:
            assert [(e.seq, e.message_id) for e in again.take(2)] == list(
                zip([1, 2], fresh, strict=True)
            )
            assert again.next().event == "conversation.updated"

    def test_a_pop_while_connected_is_followed_correctly(self, server: ThreadServer) -> None:
        cid = create(server.url)
        with EventReader(conversation_stream(server.url, cid)) as reader:
            for n in range(3):
                append(server.url, cid, f"seen {n}")
            reader.take(3, kind="message.created")
            store_of(server).pop_message(cid)
            assert reader.next().data["data"] == {"fields": ["messages"]}
            replacement = append(server.url, cid, "replacement")
            event = reader.take(1, kind="message.created")[0]
            assert (event.seq, event.message_id) == (3, replacement["id"])
            assert event.id.startswith("3:")

    def test_no_hole_and_no_duplicate_at_the_replay_seam(self, server: ThreadServer) -> None:
        """Appends racing the reconnect land either in the replay or live, never both
        and never neither (subscribe first, replay, drop what was replayed)."""
        cid = create(server.url)
        with EventReader(conversation_stream(server.url, cid)) as reader:
            append(server.url, cid, "first")
            reader.take(1, kind="message.created")
            last_id = reader.last_event_id
        total = 41

        def writer() -> None:
            for n in range(total - 1):
                append(server.url, cid, f"racing {n}")

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            with EventReader(conversation_stream(server.url, cid), last_event_id=last_id) as again:
                received = again.take(total - 1, kind="message.created")
                thread.join()
                assert seqs(received) == list(range(2, total + 1))
                stored = store_of(server).get_messages(cid, after_seq=1)
                assert [e.message_id for e in received] == [m.id for m in stored]
                again.wait_comment()
                assert [e for e in again.pending() if e.event == "message.created"] == []
        finally:
            thread.join()

    def test_the_owner_stream_replays_what_changed_since(self, server: ThreadServer) -> None:
        first, second = create(server.url), create(server.url)
        with EventReader(owner_stream(server.url)) as reader:
            append(server.url, first, "seen")
            reader.take(1, kind="message.created")
            last_id = reader.last_event_id
        missed = {
            (cid, append(server.url, cid, f"missed {n}")["id"])
            for n in range(3)
            for cid in (first, second)
        }
        third = create(server.url)
        with EventReader(owner_stream(server.url), last_event_id=last_id) as again:
            received: list[SseEvent] = []
            announced = set()
            while third not in announced or not missed <= {
                (e.data["conversation_id"], e.message_id) for e in received
            }:
                event = again.next()
                if event.event == "message.created":
                    received.append(event)
                elif event.event == "conversation.created":
                    announced.add(event.data["conversation_id"])
            # The replay starts a little before the last id, so it may repeat some.
            assert announced <= {first, second, third}
            for cid in (first, second):
                mine = [e.seq for e in received if e.data["conversation_id"] == cid]
                assert mine == sorted(mine)
            # Then live: a message arrives once, after the replay.
            live = append(server.url, third, "live after the replay")
            event = again.take(1, kind="message.created")[0]
            assert (event.data["conversation_id"], event.message_id) == (third, live["id"])

    def test_a_malformed_last_event_id_is_a_422(self, server: ThreadServer) -> None:
        cid = create(server.url)
        for url, bad in (
            (conversation_stream(server.url, cid), "12"),
            (conversation_stream(server.url, cid), "x:y"),
            (conversation_stream(server.url, cid), f"{2**31}:0"),
            (owner_stream(server.url), "3:4"),
            (owner_stream(server.url), "9" * 19),
        ):
            response = httpx.get(url, headers={"Last-Event-ID": bad})
            assert response.status_code == 422
            assert response.json()["code"] == "invalid_input"
            assert "Last-Event-ID" in response.json()["message"]


class TestOwners:
    """A stream only ever carries its caller's events (SPEC S8.2)."""

    @pytest.fixture
    def keyed(self, db_url: str) -> Iterator[tuple[ThreadServer, dict[str, str], dict[str, str]]]:
        with ThreadServer(make_app(db_url)) as running:
            accounts = state_of(running).accounts
            alice = {"Authorization": f"Bearer {accounts.add_user('alice')[1]}"}
            bob = {"Authorization": f"Bearer {accounts.add_user('bob')[1]}"}
            yield running, alice, bob

    def test_another_users_conversation_is_the_same_404_as_a_random_id(
        self, keyed: tuple[ThreadServer, dict[str, str], dict[str, str]]
    ) -> None:
        server, alice, bob = keyed
        cid = create(server.url, alice)
        theirs = httpx.get(conversation_stream(server.url, cid), headers=bob)
        random = httpx.get(conversation_stream(server.url, str(uuid.uuid4())), headers=bob)
        assert theirs.status_code == random.status_code == 404
        assert theirs.json()["code"] == random.json()["code"] == "not_found"
        assert theirs.json()["message"] == f"conversation {cid} not found"
        assert httpx.get(owner_stream(server.url)).status_code == 401

    def test_streams_never_show_another_users_events(
        self, keyed: tuple[ThreadServer, dict[str, str], dict[str, str]]
    ) -> None:
        server, alice, bob = keyed
        alices, bobs = create(server.url, alice), create(server.url, bob)
        with (
            EventReader(owner_stream(server.url), headers=bob) as bob_all,
            EventReader(conversation_stream(server.url, bobs), headers=bob) as bob_one,
            EventReader(owner_stream(server.url), headers=alice) as alice_all,
        ):
            for n in range(3):
                append(server.url, alices, f"alice {n}", alice)
            httpx.patch(
                f"{server.url}/api/v1/conversations/{alices}", json={"title": "A"}, headers=alice
            )
            assert len(alice_all.take(4)) == 4
            # Bob's own append is a marker: everything before it has been delivered.
            append(server.url, bobs, "bob", bob)
            for reader in (bob_all, bob_one):
                event = reader.take(1, kind="message.created")[0]
                assert event.data["conversation_id"] == bobs
                assert all(e.data["conversation_id"] != alices for e in reader.pending())
        # Bob reconnecting to the owner stream is not replayed Alice's changes either.
        with EventReader(owner_stream(server.url), headers=bob, last_event_id="0") as replay:
            replay.wait_comment()
            assert {e.data["conversation_id"] for e in replay.pending()} == {bobs}


class TestStreamsEnd:
    def test_a_client_that_goes_away_leaves_no_subscription_behind(
        self, server: ThreadServer
    ) -> None:
        cid = create(server.url)
        broker = state_of(server).broker
        with (
            EventReader(conversation_stream(server.url, cid)),
            EventReader(owner_stream(server.url)),
        ):
            assert broker.owner_subscribers(LOCAL_OWNER) == 2
        deadline = time.monotonic() + DEADLINE_S
        while broker.owner_subscribers(LOCAL_OWNER):
            assert time.monotonic() < deadline, "a closed stream is still subscribed"
            time.sleep(0.02)

    def test_a_client_too_far_behind_is_cut_off_and_replays_on_reconnect(
        self, server: ThreadServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cid = create(server.url)
        monkeypatch.setattr("threadkeep.server.sse._INBOX_LIMIT", 0)
        with EventReader(conversation_stream(server.url, cid)) as reader:
            reader.wait_comment()
            last_id = reader.last_event_id
            missed = append(server.url, cid, "nowhere to queue it")
            reader.wait_ended()
        monkeypatch.undo()
        with EventReader(conversation_stream(server.url, cid), last_event_id=last_id) as again:
            event = again.next()
            assert (event.seq, event.message_id) == (1, missed["id"])

    def test_at_shutdown_streams_end_and_new_ones_are_refused(self, server: ThreadServer) -> None:
        cid = create(server.url)
        with (
            EventReader(conversation_stream(server.url, cid)) as one,
            EventReader(owner_stream(server.url)) as every,
        ):
            state_of(server).broker.interrupt_streams("shutdown")
            one.wait_ended()
            every.wait_ended()
        refused = httpx.get(owner_stream(server.url))
        assert refused.status_code == 503
        assert refused.json()["code"] == "unavailable"

    def test_open_streams_end_and_serve_exits_on_sigterm(
        self, tmp_path: Path, sqlite_url: str
    ) -> None:
        """An open event stream must not hold uvicorn's graceful shutdown forever."""
        open_store(sqlite_url).close()  # migrated before the server starts
        with ServeProcess(sqlite_url, tmp_path / "serve.log") as serve:
            cid = create(serve.url)
            with (
                EventReader(conversation_stream(serve.url, cid)) as one,
                EventReader(owner_stream(serve.url)) as every,
            ):
                append(serve.url, cid, "before shutdown")
                one.take(1, kind="message.created")
                every.take(1, kind="message.created")
                assert serve.terminate() == 0, serve.output()
                one.wait_ended()
                every.wait_ended()
