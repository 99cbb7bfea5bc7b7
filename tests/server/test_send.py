"""``POST /conversations/{id}/send``, ``POST /send`` and ``POST /runs/{id}/cancel``: a
chat turn streamed as Server-Sent Events (SPEC S8.1, S4), on SQLite and PostgreSQL.

Guards against: a reply that is not streamed, not stored, or streamed with ids a client
cannot resume the conversation's event stream from; a refusal (another user's
conversation, another provider, an unknown one, bad input) answered as a 200 stream
instead of a JSON error, or one that stores something; a conversation left behind by a
refused ``POST /send``; titles still being made when the app closes its store; a cancel
that leaves the run running, or whose stream never says so; a client that goes away
and leaves its run running; a send queued behind another run that gives no answer
until its turn, jumps the queue, or has its refusal lost; and another user sending to,
cancelling or reading a run that is not theirs.

Sends that end by themselves (``echo``, the offline default) go through the ASGI test
client. Those that are cancelled, or read while they run, go through a real uvicorn on
loopback (``live.ThreadServer``) and httpx, with :class:`Slow`: a provider registered
through the real ``register_providers`` hook that streams its first words, then waits
until its run is cancelled. Waiting is on what the streams say, with a deadline only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pluggy
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.server.live import DEADLINE_S, EventReader, SseEvent, ThreadServer
from threadkeep import Settings, open_store
from threadkeep.events import micros
from threadkeep.hookspecs import hookimpl
from threadkeep.plugins import build_plugin_manager
from threadkeep.runtime.providers.base import (
    ProviderEvent,
    ProviderRequest,
    ProviderSpec,
    TextDelta,
)
from threadkeep.server.app import create_app
from threadkeep.server.replay import Position

API = "/api/v1"
HEARTBEAT_S = 0.2
ECHO_FIRST = "Echo: hello there\n\n(I was given no earlier messages.)"


class Slow:
    """Streams ``first words``; the first ``stalls`` streams then wait until their run
    is cancelled, the later ones go on with ``and the rest``. Its titles take a while
    (``title_seconds``), as a model's do."""

    name = "slow"

    def __init__(self, stalls: int = 1, title_seconds: float = 0.0) -> None:
        self.stalls = stalls
        self.title_seconds = title_seconds

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        yield TextDelta("first words ")
        if self.stalls > 0:
            self.stalls -= 1
            await asyncio.get_running_loop().create_future()  # only a cancel ends this
        yield TextDelta("and the rest")

    async def title(self, text: str) -> str | None:
        await asyncio.sleep(self.title_seconds)
        return "Slow Garden Plans"


def plugins_with(slow: Slow) -> pluggy.PluginManager:
    """The built-in plugins, and ``slow`` registered through the providers hook."""
    manager = build_plugin_manager(entry_points=False)

    class Plugin:
        @hookimpl
        def register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
            register(ProviderSpec("slow", "first words, then a wait", lambda settings: slow))

    manager.register(Plugin())
    return manager


def make_app(db_url: str, slow: Slow, *, loopback: bool = True, **settings: Any) -> FastAPI:
    return create_app(
        Settings.load(database_url=db_url, **settings),
        loopback=loopback,
        plugins=plugins_with(slow),
    )


def parse(body: str) -> list[SseEvent]:
    """A whole event stream's events, as a browser's ``EventSource`` dispatches them."""
    events, last_id = [], ""
    for block in body.split("\n\n"):
        fields: dict[str, str] = {}
        data: list[str] = []
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
        last_id = fields.get("id", last_id)
        if data:
            events.append(
                SseEvent(last_id, fields.get("event", "message"), json.loads("\n".join(data)))
            )
    return events


def kinds(events: list[SseEvent]) -> list[str]:
    """The event types, each run of ``run.delta`` as one."""
    found: list[str] = []
    for event in events:
        if not (event.event == "run.delta" and found and found[-1] == "run.delta"):
            found.append(event.event)
    return found


def reply_of(events: list[SseEvent]) -> str:
    return "".join(e.data["data"]["text"] for e in events if e.event == "run.delta")


def position_of(message: dict[str, Any]) -> str:
    """The conversation-stream id of a message as the API returned it."""
    return Position(
        message["seq"], micros(dt.datetime.fromisoformat(message["created_at"]))
    ).event_id


@pytest.fixture
def slow() -> Slow:
    return Slow()


@pytest.fixture
def client(db_url: str, slow: Slow) -> Iterator[TestClient]:
    """A loopback app (the local user, no keys) with the ``slow`` provider."""
    with TestClient(make_app(db_url, slow)) as running:
        yield running


def new_conversation(
    client: TestClient | httpx.Client, api: str = API, headers: dict[str, str] | None = None
) -> str:
    made = client.post(f"{api}/conversations", json={}, headers=headers)
    assert made.status_code == 201, made.text
    cid: str = made.json()["id"]
    return cid


# ---------------------------------------------------------------- streamed turns


def test_a_send_streams_the_turn_as_it_stores_it(client: TestClient) -> None:
    cid = new_conversation(client)
    response = client.post(f"{API}/conversations/{cid}/send", json={"text": "hello there"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "no-cache" in response.headers["cache-control"]
    events = parse(response.text)
    assert kinds(events) == ["run.started", "run.delta", "message.stored", "run.finished"]
    assert all(e.data["conversation_id"] == cid for e in events)
    assert all(e.data["type"] == e.event for e in events)

    started = events[0].data["data"]
    run_id = started["run"]["id"]
    assert started["run"]["status"] == "running" and started["run"]["provider"] == "echo"
    assert started["user_message"]["content"] == "hello there"
    assert started["user_message"]["run_id"] == run_id
    assert len([e for e in events if e.event == "run.delta"]) > 1, "not streamed"
    assert reply_of(events) == ECHO_FIRST

    stored = events[-2].data["data"]["message"]
    assert (stored["seq"], stored["role"], stored["status"]) == (2, "assistant", "complete")
    assert stored["content"] == ECHO_FIRST
    finished = events[-1].data["data"]
    assert finished["reply"] == ECHO_FIRST and finished["error"] is None
    assert finished["run"]["status"] == "completed" and finished["run"]["usage"]

    # The ids are the conversation stream's positions: the user message's, then the reply's.
    assert {e.id for e in events[:-2]} == {position_of(started["user_message"])}
    assert events[-1].id == events[-2].id == position_of(stored)

    messages = client.get(f"{API}/conversations/{cid}/messages").json()["items"]
    assert [(m["seq"], m["role"], m["content"]) for m in messages] == [
        (1, "user", "hello there"),
        (2, "assistant", ECHO_FIRST),
    ]
    assert client.get(f"{API}/runs/{run_id}").json() == finished["run"]
    assert client.get(f"{API}/conversations/{cid}").json()["provider"] == "echo"

    again = parse(client.post(f"{API}/conversations/{cid}/send", json={"text": "more"}).text)
    assert reply_of(again) == "Echo: more\n\n(I was given 2 earlier messages.)"


def test_send_starts_a_conversation_in_one_call(db_url: str) -> None:
    """The new conversation's id comes in ``Location`` and in the first event. Its
    title, made in the background after the first reply (and slowly), is written
    before the app closes its store at shutdown, not lost with it."""
    slow = Slow(stalls=0, title_seconds=0.2)
    with TestClient(make_app(db_url, slow)) as client:
        response = client.post(
            f"{API}/send",
            json={"text": "the garden", "provider": "slow", "mode": "batch", "tags": ["garden"]},
        )
        assert response.status_code == 201, response.text
        location = response.headers["location"]
        events = parse(response.text)
        assert kinds(events) == [
            "conversation.created",
            "run.started",
            "run.delta",
            "message.stored",
            "run.finished",
        ]
        conversation = events[0].data["data"]["conversation"]
        cid = conversation["id"]
        assert location.endswith(f"{API}/conversations/{cid}")
        assert events[0].data["conversation_id"] == cid and events[0].id == "0:0"
        assert (conversation["mode"], conversation["tags"]) == ("batch", ["garden"])
        assert events[-1].data["data"]["run"]["status"] == "completed"
        assert reply_of(events) == "first words and the rest"
        assert client.get(location).json()["provider"] == "slow"

        titled = client.post(f"{API}/send", json={"text": "keep my title", "title": "Mine"})
        titled_id = parse(titled.text)[0].data["conversation_id"]

    with open_store(db_url) as store:
        assert store.get_conversation(cid).title == "Slow Garden Plans"
        assert store.get_conversation(titled_id).title == "Mine"
        assert [m.role for m in store.get_messages(cid)] == ["user", "assistant"]


def test_refusals_before_the_stream_are_json_errors_and_store_nothing(
    client: TestClient,
) -> None:
    cid = new_conversation(client)
    assert client.post(f"{API}/conversations/{cid}/send", json={"text": "hi"}).status_code == 200
    before = client.get(f"{API}/conversations/{cid}/messages").json()
    runs = client.get(f"{API}/conversations/{cid}/runs").json()
    absent = "0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c"

    for path, body, status, code in (
        (f"{cid}/send", {"text": "hi", "provider": "slow"}, 409, "conflict"),
        (f"{cid}/send", {"text": "hi", "provider": "no-such"}, 422, "invalid_input"),
        (f"{cid}/send", {"text": "   "}, 422, "invalid_input"),
        (f"{cid}/send", {"text": ""}, 422, "invalid_input"),
        (f"{cid}/send", {"text": "hi", "extra": 1}, 422, "invalid_input"),
        (f"{cid}/send", {"text": "hi", "model": "m" * 300}, 422, "invalid_input"),
        (f"{absent}/send", {"text": "hi"}, 404, "not_found"),
        ("not-a-uuid/send", {"text": "hi"}, 422, "invalid_input"),
    ):
        response = client.post(f"{API}/conversations/{path}", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/json", body
        assert response.json()["code"] == code, body
    conflict = client.post(
        f"{API}/conversations/{cid}/send", json={"text": "x", "provider": "slow"}
    )
    assert "'echo'" in conflict.json()["message"]  # says which provider the conversation has

    assert client.get(f"{API}/conversations/{cid}/messages").json() == before
    assert client.get(f"{API}/conversations/{cid}/runs").json() == runs

    listed = client.get(f"{API}/conversations").json()["items"]
    for body, status in (
        ({"text": "hi", "provider": "no-such"}, 422),
        ({"text": "  "}, 422),
        ({"text": "hi", "mode": ""}, 422),
        ({"text": "hi", "id": cid}, 409),
    ):
        refused = client.post(f"{API}/send", json=body)
        assert refused.status_code == status, (body, refused.text)
        assert refused.headers["content-type"] == "application/json"
    # A refused POST /send keeps no conversation.
    assert client.get(f"{API}/conversations").json()["items"] == listed


# ---------------------------------------------------------------- live: cancel, queue


class Stream:
    """A send's response read as it arrives, over a real connection."""

    def __init__(
        self, http: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        self._context = http.stream("POST", url, json=body, headers=headers)
        self.response = self._context.__enter__()
        self._lines = self.response.iter_lines()
        self.last_id = ""

    def _line(self) -> str | None:
        """The next line; ``None`` at the end (a read timeout fails the test instead of
        hanging it)."""
        return next(self._lines, None)

    def next(self) -> SseEvent:
        """The next event (keep-alive comments are skipped)."""
        fields: dict[str, str] = {}
        data: list[str] = []
        while (line := self._line()) is not None:
            if line == "":
                self.last_id = fields.get("id", self.last_id)
                if data:
                    return SseEvent(self.last_id, fields["event"], json.loads("\n".join(data)))
                fields, data = {}, []
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    data.append(value)
                else:
                    fields[name] = value
        raise AssertionError("the stream ended")

    def keep_alive(self) -> None:
        """Read on until a keep-alive comment (nothing else may come first)."""
        while (line := self._line()) is not None:
            if line.startswith(":"):
                return
            assert line == "", f"not a keep-alive: {line!r}"
        raise AssertionError("the stream ended")

    def started(self) -> SseEvent:
        """``run.started`` (after ``run.queued``, should a slow machine keep the send
        from starting within a heartbeat)."""
        event = self.next()
        if event.event == "run.queued":
            event = self.next()
        assert event.event == "run.started", event
        return event

    def rest(self) -> list[SseEvent]:
        """Every event left, until the server ends the stream."""
        found = []
        while True:
            try:
                found.append(self.next())
            except AssertionError:
                return found

    def close(self) -> None:
        """Go away, as a client closing the connection mid-stream."""
        self._context.__exit__(None, None, None)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Live = tuple[str, httpx.Client, dict[str, str], dict[str, str]]


@pytest.fixture
def live(db_url: str, slow: Slow) -> Iterator[Live]:
    """A real server that needs keys: its API URL, a client, alice's and bob's headers."""
    app = make_app(db_url, slow, loopback=False, sse_heartbeat_seconds=HEARTBEAT_S)
    accounts = app.state.threadkeep.accounts
    alice, bob = ({"Authorization": f"Bearer {accounts.add_user(n)[1]}"} for n in ("a", "b"))
    with ThreadServer(app) as server, httpx.Client(timeout=DEADLINE_S) as http:
        yield f"{server.url}{API}", http, alice, bob


def send(
    api: str, http: httpx.Client, cid: str, text: str, provider: str, headers: dict[str, str]
) -> Stream:
    body = {"text": text, "provider": provider}
    return Stream(http, f"{api}/conversations/{cid}/send", body, headers)


def contents(
    api: str, http: httpx.Client, cid: str, headers: dict[str, str]
) -> list[tuple[str, str, str]]:
    items = http.get(f"{api}/conversations/{cid}/messages", headers=headers).json()["items"]
    return [(m["role"], m["content"], m["status"]) for m in items]


def test_cancel_mid_stream_ends_the_run_cancelled(live: Live) -> None:
    api, http, alice, bob = live
    cid = new_conversation(http, api, alice)
    with send(api, http, cid, "go", "slow", alice) as stream:
        assert stream.response.status_code == 200
        run_id = stream.started().data["data"]["run"]["id"]
        delta = stream.next()
        assert (delta.event, delta.data["data"]["text"]) == ("run.delta", "first words ")
        stream.keep_alive()  # the provider is silent: the stream is kept alive meanwhile

        # Another user can neither cancel it, nor read it, nor queue behind it.
        assert http.post(f"{api}/runs/{run_id}/cancel", headers=bob).status_code == 404
        assert http.get(f"{api}/runs/{run_id}", headers=bob).status_code == 404
        intruder = http.post(f"{api}/conversations/{cid}/send", json={"text": "x"}, headers=bob)
        assert intruder.status_code == 404, intruder.text
        assert http.get(f"{api}/runs/{run_id}", headers=alice).json()["status"] == "running"

        cancelled = http.post(f"{api}/runs/{run_id}/cancel", headers=alice)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        last = stream.rest()
    assert [e.event for e in last] == ["run.finished"]
    finished = last[0].data["data"]
    assert finished["run"] == cancelled.json()
    assert (finished["reply"], finished["error"]) == ("first words ", None)
    assert contents(api, http, cid, alice) == [
        ("user", "go", "complete"),
        ("assistant", "first words ", "incomplete"),
    ]
    again = http.post(f"{api}/runs/{run_id}/cancel", headers=alice)
    assert again.status_code == 409 and "cancelled" in again.json()["message"]


def test_a_client_that_goes_away_cancels_its_run(live: Live) -> None:
    """The client closes the connection mid-reply: the run must end ``cancelled`` (its
    reply kept, ``incomplete``), not stay ``running`` with nobody reading it."""
    api, http, alice, _bob = live
    cid = new_conversation(http, api, alice)
    with EventReader(f"{api}/conversations/{cid}/events", headers=alice) as events:
        with send(api, http, cid, "go", "slow", alice) as stream:
            run_id = stream.started().data["data"]["run"]["id"]
            assert stream.next().event == "run.delta"
        ended = events.take(1, kind="run.failed")[0]
    assert ended.data["data"] == {"run_id": run_id, "status": "cancelled"}
    assert http.get(f"{api}/runs/{run_id}", headers=alice).json()["status"] == "cancelled"
    assert contents(api, http, cid, alice)[-1] == ("assistant", "first words ", "incomplete")


def test_a_send_to_a_busy_conversation_waits_its_turn(live: Live) -> None:
    """Sends queued behind a running one answer at once (``run.queued``), then run in
    the order they came once it ends; a refusal decided at a queued send's turn (the
    provider the run ahead fixed) comes as the ``error`` event."""
    api, http, alice, _bob = live
    cid = new_conversation(http, api, alice)
    with (
        send(api, http, cid, "first", "slow", alice) as first,
        send(api, http, cid, "second", "slow", alice) as second,
        send(api, http, cid, "third", "echo", alice) as third,
    ):
        run_id = first.started().data["data"]["run"]["id"]
        for queued in (second, third):
            assert queued.response.status_code == 200
            event = queued.next()
            assert event.event == "run.queued" and queued.last_id == ""
        assert first.next().event == "run.delta"
        assert http.post(f"{api}/runs/{run_id}/cancel", headers=alice).status_code == 200
        assert [e.event for e in first.rest()] == ["run.finished"]

        started = second.started()
        rest = second.rest()
        assert reply_of(rest) == "first words and the rest"
        assert rest[-1].data["data"]["run"]["status"] == "completed"
        assert started.data["data"]["user_message"]["seq"] == 3

        refused = third.rest()
        assert [e.event for e in refused] == ["error"]
        assert refused[0].data["data"]["code"] == "conflict"
    assert contents(api, http, cid, alice) == [
        ("user", "first", "complete"),
        ("assistant", "first words ", "incomplete"),
        ("user", "second", "complete"),
        ("assistant", "first words and the rest", "complete"),
    ]
