"""The server's broker: events to this process's subscribers and, on PostgreSQL, to
every other server process sharing the database.

The store publishes each event after commit (``events.py``). :class:`ServerBroker`

* fans it out in this process: to every subscriber (``subscribe``), and to those that
  asked for one owner's events only (``subscribe_owner``, what an event stream uses,
  so publishing costs a dictionary lookup per event, not a call per open stream);
* on PostgreSQL, after that, queues it for ``NOTIFY`` (``db/notify.py``: a small
  payload of ids, never content, sent by a background thread so a write never waits
  for it), and delivers other processes' notifications to the same local subscribers.
  Events published before :meth:`start` (orphaned runs marked interrupted at start
  up) are held and sent once the engine is known.
* on SQLite, stays in this process; other processes' writes to the file (the CLI, an
  agent using the library, another ``serve`` worker) are noticed by a watcher,
  :class:`~threadkeep.server.foreign_writes.ForeignWrites`, started by :meth:`start`
  and working only while an event stream is open: each conversation they changed
  reaches this process's streams as one ``conversation.updated`` with
  ``{"external": true}`` within about a second (``docs/events.md``). For it to tell
  this process's own changes apart, :meth:`publish` notes each event of an owner with
  open streams. Not in SQLite's single-process safe mode, where no other process can
  open the file.

**Interruptions.** An event stream that may have missed events must end, so that its
client reconnects with ``Last-Event-ID`` and replays from the store rather than
silently skip something. :meth:`interrupt_streams` tells every stream watching
(``watch_interruptions``) to end; it is called when the PostgreSQL listener had to
reconnect or another process reports dropped notifications (``"missed"``), and at
shutdown (``"shutdown"``).

**Shutdown.** Uvicorn's graceful shutdown waits for open responses to finish before it
runs the app's shutdown, and an event stream never finishes on its own. So
:meth:`start`, when it runs in the main thread (a real server), wraps the SIGINT and
SIGTERM handlers the server installed: on a signal, streams are told to end *before*
the server's own handler starts its graceful shutdown, and new streams are refused
while it closes (:attr:`closing`). :meth:`stop` restores the handlers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import threading
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any

from threadkeep.db.notify import PostgresEvents
from threadkeep.events import Event, InProcessBroker, Subscriber
from threadkeep.server.foreign_writes import ForeignWrites
from threadkeep.store import ConversationStore

__all__ = ["ServerBroker"]

log = logging.getLogger(__name__)

#: Events held for other processes until :meth:`ServerBroker.start` (then dropped if
#: more: other processes are told they missed some).
_PENDING_LIMIT = 10_000
_LISTEN_READY_SECONDS = 5.0
_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Interruption = Callable[[str], None]
_SignalHandler = Callable[[int, FrameType | None], Any]


class ServerBroker(InProcessBroker):
    """An in-process broker with a lifecycle the app drives, and cross-process
    delivery: other processes' events on PostgreSQL, their writes on SQLite (see the
    module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        #: Identifies this broker's notifications, so it skips its own.
        self.origin = uuid.uuid4().hex
        self._by_owner: dict[str, tuple[Subscriber, ...]] = {}
        #: When each owner in ``_by_owner`` got its first (still open) subscriber.
        self._owner_since: dict[str, dt.datetime] = {}
        self._watchers: tuple[Interruption, ...] = ()
        self._closing = False
        self._remote: PostgresEvents | None = None
        self._foreign: ForeignWrites | None = None
        self._pending: list[Event] | None = []
        self._pending_lost = False
        self._signal_handlers: dict[int, tuple[_SignalHandler, _SignalHandler]] = {}

    # ------------------------------------------------------------------ publishing

    def publish(self, event: Event) -> None:
        """Deliver ``event`` here, then send it to the other processes (PostgreSQL)."""
        foreign = self._foreign
        if foreign is not None and event.owner in self._by_owner:
            foreign.published(event)
        self._deliver(event)
        remote = self._remote
        if remote is not None:
            remote.send(event)
        elif self._pending is not None:
            with self._lock:
                if self._pending is not None:
                    if len(self._pending) < _PENDING_LIMIT:
                        self._pending.append(event)
                    else:
                        self._pending_lost = True

    def _deliver(self, event: Event) -> None:
        """Fan ``event`` out to this process's subscribers only."""
        super().publish(event)
        for callback in self._by_owner.get(event.owner, ()):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed on %s", event.type)

    def subscribe_owner(self, owner: str, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback`` for ``owner``'s events only; return the unsubscribe."""
        with self._lock:
            if owner not in self._by_owner:
                self._owner_since[owner] = dt.datetime.now(dt.UTC)
            self._by_owner[owner] = (*self._by_owner.get(owner, ()), callback)

        def unsubscribe() -> None:
            with self._lock:
                callbacks = list(self._by_owner.get(owner, ()))
                if callback in callbacks:
                    callbacks.remove(callback)
                if callbacks:
                    self._by_owner[owner] = tuple(callbacks)
                else:
                    self._by_owner.pop(owner, None)
                    self._owner_since.pop(owner, None)

        return unsubscribe

    def owner_subscribers(self, owner: str) -> int:
        """How many callbacks (open event streams) follow ``owner``'s events here."""
        return len(self._by_owner.get(owner, ()))

    def subscribed_owners(self) -> dict[str, dt.datetime]:
        """The owners with open event streams here, each with when the first of them
        subscribed (a copy)."""
        with self._lock:
            return dict(self._owner_since)

    @property
    def foreign_writes(self) -> ForeignWrites | None:
        """The watcher of other processes' writes (SQLite, once started), else ``None``."""
        return self._foreign

    # ------------------------------------------------------------------ interruptions

    @property
    def closing(self) -> bool:
        """Whether the server is shutting down (new event streams are refused)."""
        return self._closing

    def watch_interruptions(self, callback: Interruption) -> Callable[[], None]:
        """Call ``callback(reason)`` (from any thread) when streams must end."""
        with self._lock:
            self._watchers = (*self._watchers, callback)

        def unwatch() -> None:
            with self._lock:
                watchers = list(self._watchers)
                if callback in watchers:
                    watchers.remove(callback)
                self._watchers = tuple(watchers)

        return unwatch

    def interrupt_streams(self, reason: str) -> None:
        """Tell every open event stream to end (``"missed"``, ``"shutdown"``)."""
        if reason == "shutdown":
            self._closing = True
        for callback in self._watchers:
            try:
                callback(reason)
            except Exception:
                log.exception("ending an event stream failed")

    # ------------------------------------------------------------------ lifecycle

    async def start(self, store: ConversationStore) -> None:
        """Begin receiving other processes' events: their notifications on
        PostgreSQL, their writes to the file on SQLite (see the module doc)."""
        self._closing = False
        remote = None
        if store.database.dialect == "postgresql":
            remote = PostgresEvents(
                store.database,
                origin=self.origin,
                deliver=self._deliver,
                on_gap=lambda: self.interrupt_streams("missed"),
            )
            if not await asyncio.to_thread(remote.start, _LISTEN_READY_SECONDS):
                log.warning(
                    "not yet listening for other processes' events on %s; retrying",
                    store.database.describe(),
                )
        with self._lock:
            pending, self._pending = self._pending or [], None
            lost, self._pending_lost = self._pending_lost, False
            self._remote = remote
        if remote is not None:
            for event in pending:
                remote.send(event)
            if lost:
                log.warning("events published before start were dropped for other processes")
        database = store.database
        if database.sqlite_path is not None and not database.safe_mode:
            foreign = ForeignWrites(store, subscribed=self.subscribed_owners, deliver=self._deliver)
            foreign.start()
            self._foreign = foreign
        self._chain_signals()

    async def stop(self) -> None:
        """End open streams, stop receiving, and send what is still queued."""
        self.interrupt_streams("shutdown")
        self._restore_signals()
        remote, self._remote = self._remote, None
        if remote is not None:
            await asyncio.to_thread(remote.stop)
        foreign, self._foreign = self._foreign, None
        if foreign is not None:
            await foreign.stop()

    # ------------------------------------------------------------------ signals

    def _chain_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # no signals outside the main thread (test clients, embedded servers)
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue  # no server handler to run after ours: leave the default alone

            def handler(
                signum: int, frame: FrameType | None, previous: _SignalHandler = previous
            ) -> Any:
                self._closing = True
                loop.call_soon_threadsafe(self.interrupt_streams, "shutdown")
                return previous(signum, frame)

            signal.signal(sig, handler)
            self._signal_handlers[sig] = (previous, handler)

    def _restore_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, (previous, ours) in self._signal_handlers.items():
            if signal.getsignal(sig) is ours:
                signal.signal(sig, previous)
        self._signal_handlers.clear()
