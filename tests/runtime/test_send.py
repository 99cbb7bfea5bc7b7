"""``Runtime.send``: one chat turn stored and streamed (runtime/send.py), on both engines.

Guards against: a reply that is not stored until it is over (a crash loses it), a
reply stored per token, a provider switch that writes half a turn before it is
refused, a stale provider session that fails the turn instead of falling back to the
prior context (or that is retried more than once), tool calls lost or out of order, a
run left ``running`` by a failure or a cancelled send, two sends to one conversation
interleaving (or sends to different conversations waiting for each other), and a
store failure mid-chat that swallows the reply.

The provider in most tests is :class:`Scripted`: a real provider (the same protocol,
registered through the same hook) that streams the events a test scripts and records
the requests it got; ``echo`` runs end to end as shipped.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import postgres_base_url
from tests.runtime.scripted import Script, Scripted, with_scripted
from tests.runtime.tcp_cut import Forwarder
from threadkeep import AsyncConversationStore, ConversationStore, Settings, open_store
from threadkeep.db.sqlite_driver import sqlite_module
from threadkeep.errors import Conflict, ProviderError, ProviderSessionInvalid, TooLarge
from threadkeep.runtime.providers.base import (
    ProviderRequest,
    SessionStarted,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)
from threadkeep.runtime.send import (
    FLUSH_CHARS,
    Notice,
    ReplyDelta,
    RunFinished,
    RunStarted,
    Runtime,
    SendEvent,
    Stored,
)


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


@pytest.fixture
def astore(store: ConversationStore) -> AsyncConversationStore:
    return AsyncConversationStore(store)


@pytest.fixture
def runtime(astore: AsyncConversationStore, scripted: Scripted) -> Runtime:
    return with_scripted(astore, scripted)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the other tasks run until ``condition`` holds (a bound for hangs only)."""
    for _ in range(100_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def turn(runtime: Runtime, conversation_id: str, text: str, **options: Any) -> list[SendEvent]:
    """Run one send to its end; every event it yielded."""

    async def collect() -> list[SendEvent]:
        return [event async for event in runtime.send(conversation_id, text, **options)]

    return asyncio.run(collect())


def finished(events: list[SendEvent]) -> RunFinished:
    last = events[-1]
    assert isinstance(last, RunFinished), events
    return last


def test_echo_turns_are_stored_streamed_and_see_the_earlier_ones(
    runtime: Runtime, store: ConversationStore
) -> None:
    """The default provider end to end: the user message and the reply are stored, the
    run completes with usage, and the next turn is given the earlier messages."""
    conv = store.create_conversation()
    events = turn(runtime, conv.id, "hello there")
    started = events[0]
    assert isinstance(started, RunStarted) and started.run is not None
    assert started.user_message is not None and started.user_message.content == "hello there"
    text = "".join(e.text for e in events if isinstance(e, ReplyDelta))
    assert text == "Echo: hello there\n\n(I was given no earlier messages.)"
    assert len([e for e in events if isinstance(e, ReplyDelta)]) > 1, "not streamed"
    done = finished(events)
    assert done.error is None and done.reply == text
    assert done.run is not None and done.run.status == "completed" and done.run.usage

    stored = store.get_messages(conv.id)
    assert [(m.seq, m.role, m.status, m.content) for m in stored] == [
        (1, "user", "complete", "hello there"),
        (2, "assistant", "complete", text),
    ]
    assert {m.run_id for m in stored} == {started.run.id}
    assert store.get_conversation(conv.id).provider == "echo"

    again = finished(turn(runtime, conv.id, "and again"))
    assert again.reply.endswith("(I was given 2 earlier messages.)")


def test_the_reply_is_stored_as_soon_as_it_starts(
    runtime: Runtime, store: ConversationStore, scripted: Scripted, astore: AsyncConversationStore
) -> None:
    """Durable streaming (S4.7): after the first piece the reply is in the store,
    ``streaming``; a long reply is written back in batches, not per piece."""
    conv = store.create_conversation()
    pieces = ["x" * 100] * (3 * FLUSH_CHARS // 100)
    scripted.turns.append([TextDelta(p) for p in pieces])
    seen: list[tuple[str, int]] = []

    async def watch() -> list[SendEvent]:
        events = []
        async for event in runtime.send(conv.id, "go", provider="scripted"):
            events.append(event)
            if isinstance(event, ReplyDelta):
                latest = (await astore.get_messages(conv.id))[-1]
                seen.append((latest.status, len(latest.content)))
        return events

    events = asyncio.run(watch())
    assert seen[0] == ("streaming", 100), "the reply was not stored at its first piece"
    writes = {length for status, length in seen}
    assert 1 < len(writes) < len(pieces) // 2, "written per piece, or only at the end"
    reply = store.get_messages(conv.id)[-1]
    assert (reply.status, reply.content) == ("complete", "".join(pieces))
    assert finished(events).run is not None


def test_another_provider_is_refused_before_anything_is_stored(
    runtime: Runtime, store: ConversationStore
) -> None:
    """One provider per conversation (S4.4): the refusal is a Conflict and the turn
    leaves no user message and no run behind."""
    conv = store.create_conversation()
    turn(runtime, conv.id, "with echo")
    before = (store.get_messages(conv.id), store.list_runs(conv.id))
    with pytest.raises(Conflict, match="echo"):
        turn(runtime, conv.id, "now with another", provider="scripted")
    assert (store.get_messages(conv.id), store.list_runs(conv.id)) == before


def test_a_message_over_the_limit_is_refused_before_its_run_starts(
    tmp_path: Path, scripted: Scripted
) -> None:
    """A message the store would refuse must not leave a run behind, nor fix the
    conversation's provider (a later send with another provider must still work)."""
    settings = Settings.load(max_message_bytes=1000)
    with open_store(tmp_path / "small.db", settings=settings) as small:
        conv = small.create_conversation()
        runtime = with_scripted(AsyncConversationStore(small), scripted)

        async def send() -> None:
            async for _ in runtime.send(conv.id, "x" * 2000, provider="scripted"):
                pass

        with pytest.raises(TooLarge, match="max_message_bytes"):
            asyncio.run(send())
        assert small.list_runs(conv.id) == []
        assert small.get_conversation(conv.id).provider is None


def test_the_provider_session_is_kept_and_passed_back(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    """Session resume (S4.2): the session id a provider reports is stored on the
    conversation; the next turn sends it with the new message only."""
    conv = store.create_conversation()
    scripted.turns += [
        [TextDelta("one"), SessionStarted("s-1"), Usage(3, 1)],
        [TextDelta("two"), SessionStarted("s-2")],
    ]
    first = finished(turn(runtime, conv.id, "first", provider="scripted"))
    assert first.run is not None and first.run.provider_session_id == "s-1"
    assert first.run.usage == {"input_tokens": 3, "output_tokens": 1}
    assert store.get_conversation(conv.id).provider_session_id == "s-1"
    finished(turn(runtime, conv.id, "second"))
    resumed = scripted.requests[1]
    assert resumed.session_id == "s-1"
    assert resumed.messages == ({"role": "user", "content": "second"},)
    assert resumed.prior_messages == 2
    assert store.get_conversation(conv.id).provider_session_id == "s-2"
    assert store.list_runs(conv.id)[-1].resumed_session_id == "s-1"


def _refuse_sessions(then: Script) -> Callable[[ProviderRequest], Script]:
    def play(request: ProviderRequest) -> Script:
        if request.session_id is not None:
            return [
                ProviderSessionInvalid(
                    f"No conversation found with session ID: {request.session_id}"
                )
            ]
        return then

    return play


def test_a_refused_session_is_retried_once_with_the_prior_context(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    """S4.2: the provider refuses the stored session; the turn is retried once without
    it, the earlier messages given as context; the run says so and the new session id
    replaces the old."""
    conv = store.create_conversation()
    scripted.turns.append([TextDelta("hi"), SessionStarted("gone")])
    turn(runtime, conv.id, "first", provider="scripted")
    refuse = _refuse_sessions([TextDelta("fresh start"), SessionStarted("new")])
    scripted.turns += [refuse, refuse]
    done = finished(turn(runtime, conv.id, "second"))
    assert done.error is None and done.reply == "fresh start"
    assert done.run is not None and done.run.retried_without_resume
    retry = scripted.requests[-1]
    assert retry.session_id is None
    assert retry.messages == (
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "second"},
    )
    assert store.get_conversation(conv.id).provider_session_id == "new"


def test_a_second_refusal_is_a_failed_run_shown_as_such(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    """Exactly one retry: a provider that refuses again fails the run with its error."""
    conv = store.create_conversation()
    scripted.turns.append([TextDelta("hi"), SessionStarted("gone")])
    turn(runtime, conv.id, "first", provider="scripted")
    scripted.turns += [
        [ProviderSessionInvalid("unknown session")],
        [ProviderSessionInvalid("still unknown")],
    ]
    done = finished(turn(runtime, conv.id, "second"))
    assert done.error is not None and "still unknown" in done.error
    assert done.run is not None and done.run.status == "failed"
    assert len(scripted.requests) == 3


def test_tool_calls_and_results_are_messages_of_their_own_in_order(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    conv = store.create_conversation()
    scripted.turns.append(
        [
            TextDelta("Let me "),
            TextDelta("look."),
            ToolCall("call-1", "search", {"q": "otters"}),
            ToolResult("call-1", "3 results"),
            TextDelta("Found three."),
        ]
    )
    events = turn(runtime, conv.id, "find otters", provider="scripted")
    stored = store.get_messages(conv.id)
    assert [(m.role, m.kind, m.status) for m in stored] == [
        ("user", "text", "complete"),
        ("assistant", "text", "complete"),
        ("assistant", "tool_call", "complete"),
        ("tool", "tool_result", "complete"),
        ("assistant", "text", "complete"),
    ]
    assert [stored[1].content, stored[3].content] == ["Let me look.", "3 results"]
    assert stored[2].metadata == {"call_id": "call-1", "name": "search"}
    assert [e.message for e in events if isinstance(e, Stored)] == stored[1:]
    assert finished(events).reply == "Let me look.Found three."


def test_a_provider_failure_mid_reply_keeps_the_partial_reply_incomplete(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    conv = store.create_conversation()
    scripted.turns.append([TextDelta("half a "), ProviderError("the connection dropped")])
    done = finished(turn(runtime, conv.id, "tell me", provider="scripted"))
    assert done.error == "the connection dropped" and done.reply == "half a "
    assert done.run is not None and done.run.status == "failed"
    reply = store.get_messages(conv.id)[-1]
    assert (reply.status, reply.content) == ("incomplete", "half a ")


def test_a_cancelled_send_finishes_its_run_cancelled(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    """A client that goes away mid-reply: the run is not left running, the partial reply
    is incomplete — and holds every piece the client was given, also those the batched
    writes had not written yet."""
    conv = store.create_conversation()
    scripted.turns.append([TextDelta("start "), *[TextDelta(f"more{i} ") for i in range(50)]])
    seen: list[str] = []

    async def abandon() -> None:
        async def consume() -> None:
            async for event in runtime.send(conv.id, "go", provider="scripted"):
                if isinstance(event, ReplyDelta):
                    seen.append(event.text)
                    if len(seen) == 12:
                        await asyncio.sleep(3600)  # stuck until cancelled

        task = asyncio.create_task(consume())
        await until(lambda: len(seen) == 12, "twelve pieces of the reply")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The abandoned send is closed by the event loop (its async-generator hook), as
        # in a server whose loop goes on; it finishes the run on its own.
        await until(lambda: store.list_runs(conv.id)[-1].status != "running", "the finish")

    asyncio.run(abandon())
    run = store.list_runs(conv.id)[-1]
    assert run.status == "cancelled"
    reply = store.get_messages(conv.id)[-1]
    assert reply.status == "incomplete"
    assert reply.content == "".join(seen) == "start " + "".join(f"more{i} " for i in range(11))


def test_sends_to_one_conversation_take_turns_in_order_others_run_alongside(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    """S4.5 in one process: the second send to a conversation starts only after the
    first finished, in arrival order; a send to another conversation does not wait."""
    busy, other = store.create_conversation(), store.create_conversation()
    gate = asyncio.Event

    def reply(request: ProviderRequest) -> Script:
        return [TextDelta(f"re: {request.messages[-1]['content']}")]

    scripted.turns += [reply, reply, reply]

    async def scenario() -> tuple[list[str], list[str]]:
        scripted.gate = gate()
        order: list[str] = []

        async def send(cid: str, text: str) -> None:
            async for event in runtime.send(cid, text, provider="scripted"):
                if isinstance(event, RunStarted):
                    order.append(f"start {text}")
                if isinstance(event, RunFinished):
                    order.append(f"end {text}")

        first = asyncio.create_task(send(busy.id, "one"))
        await until(lambda: len(scripted.requests) == 1, "the first send at its provider")
        second = asyncio.create_task(send(busy.id, "two"))
        await until(lambda: runtime.queue.waiting(busy.id) == 2, "the second send queued")
        third = asyncio.create_task(send(other.id, "three"))
        # The other conversation reaches its provider while the first still holds its turn.
        await until(lambda: len(scripted.requests) == 2, "the other conversation's send")
        before_release = list(order)
        assert scripted.gate is not None
        scripted.gate.set()
        await asyncio.gather(first, second, third)
        return before_release, order

    before_release, order = asyncio.run(scenario())
    assert "start two" not in before_release, "the second send did not wait its turn"
    assert "start three" in before_release, "another conversation waited"
    assert order.index("end one") < order.index("start two")
    assert [m.content for m in store.get_messages(busy.id)] == ["one", "re: one", "two", "re: two"]


def test_a_store_failure_mid_chat_still_delivers_the_reply_with_a_warning(
    tmp_path: Path, scripted: Scripted
) -> None:
    """Degradation (S4.8), with a real failure: the messages table disappears mid-reply
    (renamed by another connection). The reply still streams to the end, a Notice says
    it is not saved, and what was stored before is intact once the table is back."""
    path = tmp_path / "threadkeep.db"
    with open_store(path, settings=Settings.load()) as sync_store:
        conv = sync_store.create_conversation()
        sync_store.append_message(conv.id, "user", "kept from before")
        runtime = with_scripted(AsyncConversationStore(sync_store), scripted)
        scripted.turns.append([TextDelta("first part, "), TextDelta("second part")])

        def rename(old: str, new: str) -> None:
            # The store's own SQLite library: two SQLite copies in one process do not
            # see each other's file locks (closing one's handle drops the other's).
            raw = sqlite_module().module.connect(str(path), isolation_level=None)
            try:
                raw.execute(f"ALTER TABLE {old} RENAME TO {new}")
            finally:
                raw.close()

        async def chat() -> list[SendEvent]:
            events = []
            async for event in runtime.send(conv.id, "hello", provider="scripted"):
                events.append(event)
                if isinstance(event, ReplyDelta) and event.text == "first part, ":
                    rename("messages", "messages_gone")
            return events

        events = asyncio.run(chat())
        rename("messages_gone", "messages")
        notices = [e.text for e in events if isinstance(e, Notice)]
        assert notices and "not stored" in notices[0]
        assert finished(events).reply == "first part, second part"
        stored = sync_store.get_messages(conv.id)
        assert [m.content for m in stored][:2] == ["kept from before", "hello"]


@pytest.mark.postgres
def test_a_database_gone_mid_chat_still_delivers_the_reply_with_a_warning(
    postgres_url: str, scripted: Scripted
) -> None:
    """Degradation (S4.8) on PostgreSQL, with a real failure: the network to the
    database is cut mid-reply (every connection dropped, new ones refused). The reply
    still streams to the end with a visible warning, nothing stored before is lost, and
    the next start marks the run interrupted with the reply kept ``incomplete`` up to
    where it was saved."""
    base = sa.make_url(postgres_url)
    link = Forwarder((base.host or "127.0.0.1", base.port or 5432))
    through_link = base.set(host="127.0.0.1", port=link.port)
    settings = Settings.load()
    with open_store(through_link.render_as_string(hide_password=False), settings=settings) as cut:
        conv = cut.create_conversation()
        cut.append_message(conv.id, "user", "kept from before")
        scripted.turns.append([TextDelta("first part, "), TextDelta("second part")])

        async def chat() -> list[SendEvent]:
            # The runtime (and its queue) lives as long as the chat, as in a process.
            runtime = with_scripted(AsyncConversationStore(cut), scripted)
            events = []
            async for event in runtime.send(conv.id, "hello", provider="scripted"):
                events.append(event)
                if isinstance(event, ReplyDelta) and event.text == "first part, ":
                    link.cut()
            await runtime.settle()
            return events

        events = asyncio.run(chat())
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert notices and "not stored" in notices[0]
    assert finished(events).reply == "first part, second part"
    gc.collect()  # the chat is over: its queue is gone, and its turn's ticket with it

    with open_store(postgres_url, settings=settings) as direct:
        (run,) = direct.list_runs(conv.id)
        assert run.status == "running"  # its process could not say otherwise
        assert [r.id for r in direct.mark_interrupted_runs()] == [run.id]
        stored = direct.get_messages(conv.id)
        assert [(m.role, m.content, m.status) for m in stored] == [
            ("user", "kept from before", "complete"),
            ("user", "hello", "complete"),
            ("assistant", "first part, ", "incomplete"),
        ]


@pytest.mark.postgres
def test_connections_terminated_mid_chat_are_replaced_and_nothing_is_lost(
    postgres_url: str, scripted: Scripted
) -> None:
    """The database server terminates the store's connections mid-reply (a restart,
    a failover, an idle-session killer): the store replaces them and the turn is
    saved whole — a dropped connection alone is no reason to lose a reply."""
    name = "tk_cut_" + uuid.uuid4().hex[:12]
    with open_store(f"{postgres_url}&application_name={name}", settings=Settings.load()) as sync:
        conv = sync.create_conversation()
        runtime = with_scripted(AsyncConversationStore(sync), scripted)
        scripted.turns.append([TextDelta("first part, "), TextDelta("second part")])
        admin = sa.create_engine(postgres_base_url())

        def terminate() -> int:
            with admin.begin() as conn:
                return int(
                    conn.execute(
                        sa.text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = :name"
                        ),
                        {"name": name},
                    ).scalar_one()
                )

        async def chat() -> tuple[list[SendEvent], int]:
            events, killed = [], 0
            async for event in runtime.send(conv.id, "hello", provider="scripted"):
                events.append(event)
                if isinstance(event, ReplyDelta) and event.text == "first part, ":
                    killed = await asyncio.to_thread(terminate)
            await runtime.settle()
            return events, killed

        try:
            events, killed = asyncio.run(chat())
        finally:
            admin.dispose()
        assert killed >= 1
        assert not [e for e in events if isinstance(e, Notice)]
        assert [(m.role, m.content, m.status) for m in sync.get_messages(conv.id)] == [
            ("user", "hello", "complete"),
            ("assistant", "first part, second part", "complete"),
        ]
        assert sync.list_runs(conv.id)[0].status == "completed"
