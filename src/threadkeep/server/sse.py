"""Server-Sent Events: the wire format and the two streams (SPEC S3.6, S8.3).

A stream subscribes to the broker for its owner *before* it reads anything from the
store, then replays what the client missed (``replay.py``), then goes live, so no
change falls between the replay and the live events. Every event is::

    id: <event id>
    event: <type>
    data: {"type": ..., "conversation_id": ..., "data": {...}, "at": "<ISO 8601 UTC>"}

A stream opens with a bare ``id:`` line (it sets the client's last event id without an
event), so a client that reconnects before any event arrives still resumes from where
it connected. Idle streams get a ``: keep-alive`` comment every
``sse_heartbeat_seconds``. A stream ends when the client goes, when the server shuts
down, when its conversation is deleted, or when it may have missed events (its queue
overflowed, or cross-process notifications were lost, ``broker.py``): the client then
reconnects with ``Last-Event-ID`` and the replay fills the hole.

**A conversation stream** (:class:`ConversationStream`) carries the client's
:class:`~threadkeep.server.replay.Position` as the id of every event. It replays by
seq, each message once, then sends ``conversation.updated`` with ``{"replayed":
true}`` (other changes are not replayed one by one). Live, a ``message.created`` whose
seq follows the position is sent as it comes; any other (out of order, a reused seq)
makes the stream read the store from its position instead, as does a
``conversation.updated`` with ``messages`` among its fields (pop, clear, the cap, an
import that appended). Live events already replayed are thereby dropped.

**The owner stream** (:class:`OwnerStream`) uses event times (µs) as ids. A time is
taken before its commit, so an event can arrive after one with a later time: the
replay starts :data:`REPLAY_GRACE` before the client's last id and may repeat events
of that window (message events are keyed by conversation, seq and time; live events
that the replay sent are dropped). Per conversation updated since, least recent first,
it sends ``conversation.created`` if it is new, ``message.created`` for its messages
created since, and ``conversation.updated`` (``{"replayed": true}``) if something else
changed. ``docs/events.md`` states what each stream guarantees.

A send's stream (``api/send.py``) is written with the same :func:`frame`, its ids the
conversation stream's positions; an event sent before its send has a position (a send
still waiting for its turn) has no ``id:`` line.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from anyio import to_thread

from threadkeep.errors import NotFound, ThreadkeepError
from threadkeep.events import Event, from_micros, micros
from threadkeep.models import Conversation
from threadkeep.server.broker import ServerBroker
from threadkeep.server.replay import (
    Position,
    changed_conversations,
    messages_since,
    resume_point,
)
from threadkeep.store import ConversationStore

__all__ = ["HEARTBEAT", "REPLAY_GRACE", "ConversationStream", "OwnerStream", "frame"]

log = logging.getLogger(__name__)

HEARTBEAT = b": keep-alive\n\n"
#: How far before an owner stream's last event id its replay starts (see module doc).
REPLAY_GRACE = dt.timedelta(seconds=30)
_INBOX_LIMIT = 10_000
_PAGE = 500

_T = TypeVar("_T")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def frame(
    event_id: str | None,
    kind: str,
    conversation_id: str | None,
    data: dict[str, Any],
    at: dt.datetime,
) -> bytes:
    """One event on the wire; without an ``id:`` line when ``event_id`` is ``None`` (the
    client keeps the last id it had)."""
    body = json.dumps(
        {"type": kind, "conversation_id": conversation_id, "data": data, "at": at.isoformat()},
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    head = "" if event_id is None else f"id: {event_id}\n"
    return f"{head}event: {kind}\ndata: {body}\n\n".encode()


def _id_only(event_id: str) -> bytes:
    return f"id: {event_id}\n\n".encode()


class _Ended(Exception):
    """The stream must end (shutdown, overflow, missed events, deletion)."""


class _Inbox:
    """Events for one stream, pushed from any thread, taken on the stream's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: collections.deque[Event] = collections.deque()
        self._wake = asyncio.Event()
        self.ended: str | None = None

    def push(self, event: Event) -> None:
        self._call(self._put, event)

    def end(self, reason: str) -> None:
        self._call(self._end, reason)

    def _call(self, function: Callable[[_T], None], value: _T) -> None:
        try:
            self._loop.call_soon_threadsafe(function, value)
        except RuntimeError:
            pass  # the loop is closed: the stream is gone

    def _put(self, event: Event) -> None:
        if self.ended is not None:
            return
        if len(self._items) >= _INBOX_LIMIT:
            # A client this far behind reconnects and replays instead.
            self._end("overflow")
            return
        self._items.append(event)
        self._wake.set()

    def _end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason
        self._wake.set()

    async def next(self, idle_seconds: float) -> Event | None:
        """The next event, ``None`` after ``idle_seconds`` without one; ``_Ended`` once
        the stream must end."""
        while True:
            if self.ended is not None:
                raise _Ended(self.ended)
            if self._items:
                return self._items.popleft()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), idle_seconds)
            except TimeoutError:
                return None


async def _run(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """A blocking store call, in a worker thread."""
    return await to_thread.run_sync(lambda: function(*args, **kwargs))


class _Stream:
    """What both streams share: subscribe, open (replay), then live with keep-alives."""

    def __init__(
        self, store: ConversationStore, broker: ServerBroker, heartbeat_seconds: float
    ) -> None:
        self._store = store
        self._broker = broker
        self._heartbeat = heartbeat_seconds
        self._started = _now()

    def _wants(self, event: Event) -> bool:
        return True

    async def events(self) -> AsyncIterator[bytes]:
        """The stream's bytes, until it must end."""
        self._started = _now()  # before subscribing: nothing after it is missed
        inbox = _Inbox(asyncio.get_running_loop())

        def receive(event: Event) -> None:
            if self._wants(event):
                inbox.push(event)

        unsubscribe = self._broker.subscribe_owner(self._store.owner, receive)
        unwatch = self._broker.watch_interruptions(inbox.end)
        try:
            if self._broker.closing:
                return
            async for chunk in self._opening():
                yield chunk
            while True:
                event = await inbox.next(self._heartbeat)
                if event is None:
                    yield HEARTBEAT
                    continue
                async for chunk in self._live(event):
                    yield chunk
        except _Ended as ended:
            log.debug("event stream ended: %s", ended)
        except NotFound:
            log.debug("event stream ended: its conversation is gone")
        except ThreadkeepError as error:
            log.warning("event stream ended: %s", type(error).__name__)
        finally:
            unwatch()
            unsubscribe()

    def _opening(self) -> AsyncIterator[bytes]:
        """What the stream sends before going live: its position, then the replay."""
        raise NotImplementedError

    def _live(self, event: Event) -> AsyncIterator[bytes]:
        """What the stream sends for one live event."""
        raise NotImplementedError


class ConversationStream(_Stream):
    """One conversation's events; replay by seq from ``resume`` (see module doc)."""

    def __init__(
        self,
        store: ConversationStore,
        broker: ServerBroker,
        heartbeat_seconds: float,
        conversation_id: str,
        resume: Position | None,
    ) -> None:
        super().__init__(store, broker, heartbeat_seconds)
        self._cid = conversation_id
        self._resume = resume
        self._position = resume or Position(0, 0)

    def _wants(self, event: Event) -> bool:
        return event.conversation_id == self._cid

    def _frame(self, kind: str, data: dict[str, Any], at: dt.datetime) -> bytes:
        return frame(self._position.event_id, kind, self._cid, data, at)

    async def _opening(self) -> AsyncIterator[bytes]:
        if self._resume is None:
            tail = await _run(self._store.tail_messages, self._cid, 1)
            self._position = Position.of(tail[0]) if tail else Position(0, 0)
            yield _id_only(self._position.event_id)
            return
        yield _id_only(self._position.event_id)
        async for chunk in self._catch_up():
            yield chunk
        conversation: Conversation = await _run(self._store.get_conversation, self._cid)
        # Changes other than new messages (title, edits, runs) are not replayed one by one.
        yield self._frame("conversation.updated", {"replayed": True}, conversation.updated_at)

    async def _catch_up(self) -> AsyncIterator[bytes]:
        """Send, from the store, every message after what the client holds."""
        after, self._position = await _run(resume_point, self._store, self._cid, self._position)
        while True:
            page = await _run(self._store.get_messages, self._cid, after_seq=after, limit=_PAGE)
            for message in page:
                self._position = Position.of(message)
                yield self._frame(
                    "message.created",
                    {"message_id": message.id, "seq": message.seq},
                    message.created_at,
                )
            if len(page) < _PAGE:
                return
            after = page[-1].seq

    async def _live(self, event: Event) -> AsyncIterator[bytes]:
        if event.type == "message.created":
            seq = event.data.get("seq")
            if type(seq) is int and seq == self._position.seq + 1:
                self._position = Position(seq, micros(event.at))
                yield self._frame(event.type, event.data, event.at)
            else:
                async for chunk in self._catch_up():
                    yield chunk
            return
        yield self._frame(event.type, event.data, event.at)
        if event.type == "conversation.deleted":
            raise _Ended("deleted")
        fields = event.data.get("fields")
        if event.type == "conversation.updated" and (
            event.data.get("external") is True
            or (isinstance(fields, list) and "messages" in fields)
        ):
            # Another process wrote (foreign_writes.py), or pop, clear, the cap or an
            # import: read the store from the client's position.
            async for chunk in self._catch_up():
                yield chunk


class OwnerStream(_Stream):
    """Every event of the owner's conversations; replay by time from ``since_us``."""

    def __init__(
        self,
        store: ConversationStore,
        broker: ServerBroker,
        heartbeat_seconds: float,
        since_us: int | None,
    ) -> None:
        super().__init__(store, broker, heartbeat_seconds)
        self._since_us = since_us
        self._replayed: set[tuple[str | None, int, int]] = set()

    async def _opening(self) -> AsyncIterator[bytes]:
        started = str(micros(self._started))
        if self._since_us is None:
            yield _id_only(started)
            return
        last_id = str(self._since_us)
        yield _id_only(last_id)
        window = from_micros(self._since_us) - REPLAY_GRACE
        changed = await _run(changed_conversations, self._store, window)
        for conversation in changed:
            try:
                messages = await _run(messages_since, self._store, conversation.id, window)
            except NotFound:
                continue  # deleted meanwhile
            # Replayed events keep the client's id: an interrupted replay starts over.
            cid = conversation.id
            if conversation.created_at >= window:
                yield frame(
                    last_id,
                    "conversation.created",
                    cid,
                    {"replayed": True},
                    conversation.created_at,
                )
            for seq, message_id, created_at in messages:
                self._replayed.add((cid, seq, micros(created_at)))
                yield frame(
                    last_id,
                    "message.created",
                    cid,
                    {"message_id": message_id, "seq": seq},
                    created_at,
                )
            newest = messages[-1][2] if messages else conversation.created_at
            if conversation.updated_at > newest:
                yield frame(
                    last_id,
                    "conversation.updated",
                    cid,
                    {"replayed": True},
                    conversation.updated_at,
                )
        # Everything committed before this stream subscribed is sent: resume from there.
        yield _id_only(started)

    async def _live(self, event: Event) -> AsyncIterator[bytes]:
        if event.type == "message.created" and self._replayed:
            key = (event.conversation_id, event.data.get("seq"), micros(event.at))
            if key in self._replayed:
                return
        yield frame(str(micros(event.at)), event.type, event.conversation_id, event.data, event.at)
