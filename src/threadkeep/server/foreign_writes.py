"""Other processes' writes to a SQLite file, turned into live events for this server.

On SQLite an event reaches only the broker of the process that made the change
(``broker.py``): ``threadkeep rename`` in a terminal, an agent writing through the
library, another ``serve`` worker on the same file. :class:`ForeignWrites` lets this
server's event streams see those changes anyway, at a cost of one ``PRAGMA`` per
:data:`POLL_SECONDS` while a stream is open, and nothing while none is:

* **Detecting.** Every tick, *only while some event stream is open*, it reads
  ``Database.foreign_data_version()``: SQLite's ``PRAGMA data_version`` on the
  connection all of this process's writes go through. SQLite moves it for commits
  made by *other* connections only, so this server's own writes — a reply streaming
  in — never trigger a read of the store; only another process's commit does. (A
  dedicated connection would also see this process's own commits, and every tick of
  a busy server would list conversations for nothing.)
* **Finding what changed.** Then, for each owner with open streams, it lists the
  conversations updated since (``replay.changed_conversations``, what a reconnecting
  owner stream replays from), from :data:`GRACE` before its previous listing: a
  change's ``updated_at`` is taken before its transaction waits for the write lock,
  so it can commit after a later listing. Per owner it remembers the ``updated_at``
  it saw of each conversation in that window, so a change is reported once.
* **Reporting.** Each conversation whose ``updated_at`` moved, and that this process
  did not publish an event for at or after that time (:meth:`ForeignWrites.published`
  records, per conversation, the newest event of an owner with open streams; at most
  :data:`_PUBLISHED_LIMIT` conversations, least recently written forgotten first),
  becomes ``conversation.updated`` with data ``{"external": true}`` and ``at`` its
  ``updated_at``, handed to this process's subscribers only (never sent on). What
  changed is not known: a client re-reads the conversation, as after a replay.
* **The first listing** for an owner (its first stream opened, or all closed and one
  opened again) reports only changes with ``updated_at`` at or after the moment the
  first stream subscribed: older ones committed before the stream existed, as far as
  can be told, and the page that opened the stream read them already.

Limits, by design: a change that does not move ``updated_at`` (pin, tags, archive,
unarchive, delete) is not seen, since nothing cheap tells it apart — a deleted
conversation cannot be listed by ``updated_at`` at all; such changes reach a client
when it next reads the list. A change whose ``updated_at`` was taken before the
owner's first stream subscribed but committed after is missed the same way (the
window is the time a writer waits for the lock). If this process and another write
the same conversation within one tick, the other's change can be taken for this
process's own (it then arrives only with the next change), and rarely one of this
process's own writes committed but not yet published when listed is reported once
more as ``conversation.updated``: a spurious hint to re-read, never a lost message.

The blocking reads run in a worker thread, one tick at a time; a failure (the database
locked past the busy timeout, the file gone) is logged once at warning and retried at
the next tick, and never stops the watcher. PostgreSQL does not need this: its
processes tell each other through ``LISTEN``/``NOTIFY`` (``db/notify.py``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from threadkeep.errors import ThreadkeepError
from threadkeep.events import Event
from threadkeep.server.replay import changed_conversations
from threadkeep.store import ConversationStore

__all__ = ["GRACE", "POLL_SECONDS", "ForeignWrites"]

log = logging.getLogger(__name__)

#: How often the watcher checks for other processes' commits while a stream is open:
#: about how late their changes reach a page. A check is one ``PRAGMA`` on a local file.
POLL_SECONDS = 1.0
#: How far before its previous listing the next one starts (see the module doc): as
#: long as ``sse.REPLAY_GRACE``, for the same reason.
GRACE = dt.timedelta(seconds=30)
#: Conversations whose newest own event is remembered (see the module doc).
_PUBLISHED_LIMIT = 4096

#: ``{owner: when its first open stream subscribed}``, from the broker.
Subscribed = Callable[[], dict[str, dt.datetime]]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(eq=False)
class _Owner:
    """What the watcher knows of one owner's conversations."""

    #: When the owner's first open stream subscribed.
    subscribed_at: dt.datetime
    #: When the previous listing started (before the first: ``subscribed_at``).
    listed_at: dt.datetime
    first: bool = True
    #: ``updated_at`` of the conversations listed, within :data:`GRACE` of ``listed_at``.
    seen: dict[str, dt.datetime] = field(default_factory=dict)


class ForeignWrites:
    """Watches a SQLite file for other processes' commits (see the module doc).

    ``subscribed`` says which owners have open streams (and since when); ``deliver``
    hands an event to this process's subscribers. :meth:`start` and :meth:`stop` run
    on the event loop; :meth:`published` is called from any thread.
    """

    def __init__(
        self,
        store: ConversationStore,
        *,
        subscribed: Subscribed,
        deliver: Callable[[Event], None],
        interval: float | None = None,
    ) -> None:
        self._store = store
        self._subscribed = subscribed
        self._deliver = deliver
        self.interval = POLL_SECONDS if interval is None else interval
        #: Ticks so far, and of them the reads of ``data_version`` and the listings
        #: (for tests and debugging: nothing is read while no stream is open).
        self.ticks = 0
        self.reads = 0
        self.listings = 0
        self._owners: dict[str, _Owner] = {}
        self._version: tuple[int, int] | None = None
        self._published: collections.OrderedDict[str, dt.datetime] = collections.OrderedDict()
        self._published_lock = threading.Lock()
        self._failing = False
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ own events

    def published(self, event: Event) -> None:
        """Note an event this process published (the broker calls this for owners
        with open streams), so the watcher does not report the change again."""
        cid = event.conversation_id
        if cid is None:
            return
        with self._published_lock:
            newest = self._published.get(cid)
            if newest is None or event.at > newest:
                self._published[cid] = event.at
            self._published.move_to_end(cid)
            if len(self._published) > _PUBLISHED_LIMIT:
                self._published.popitem(last=False)

    def _published_at(self, cid: str) -> dt.datetime | None:
        with self._published_lock:
            return self._published.get(cid)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Begin ticking every :attr:`interval` seconds (on the running loop)."""
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="threadkeep-foreign-writes")

    async def stop(self) -> None:
        """Stop ticking; returns once a tick in progress has ended."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            if not self._stopping.is_set():
                await self.tick()

    async def tick(self) -> None:
        """One check: nothing while no stream is open; else read ``data_version`` and,
        when another process committed (or an owner's streams are new), list what
        changed and deliver it. Never raises (failures are logged)."""
        self.ticks += 1
        owners = self._subscribed()
        if not owners:
            self._owners.clear()
            return
        try:
            events = await asyncio.to_thread(self._check, owners)
        except ThreadkeepError as error:
            if not self._failing:
                log.warning(
                    "cannot check for other processes' writes (retrying every %s s): %s",
                    self.interval,
                    error,
                )
            self._failing = True
            return
        except Exception:
            if not self._failing:
                log.exception("checking for other processes' writes failed (retrying)")
            self._failing = True
            return
        if self._failing:
            log.info("checking for other processes' writes again")
            self._failing = False
        for event in events:
            self._deliver(event)

    # ------------------------------------------------------------------ in a worker thread

    def _check(self, owners: dict[str, dt.datetime]) -> list[Event]:
        version = self._store.database.foreign_data_version()
        self.reads += 1
        changed = version != self._version
        for gone in self._owners.keys() - owners.keys():
            del self._owners[gone]
        found: list[Event] = []
        for owner, subscribed_at in owners.items():
            state = self._owners.get(owner)
            if state is None or state.subscribed_at != subscribed_at:
                state = self._owners[owner] = _Owner(subscribed_at, subscribed_at)
            elif not changed:
                continue
            found.extend(self._changes(owner, state))
        # Only once every owner was listed: after a failure the next tick lists again.
        self._version = version
        return found

    def _changes(self, owner: str, state: _Owner) -> list[Event]:
        """What changed in ``owner``'s conversations since ``state``'s listing."""
        started = _now()
        listed = changed_conversations(self._store.as_owner(owner), state.listed_at - GRACE)
        self.listings += 1
        found: list[Event] = []
        for conversation in listed:
            cid, updated_at = conversation.id, conversation.updated_at
            if state.seen.get(cid) == updated_at:
                continue
            state.seen[cid] = updated_at
            if state.first and updated_at < state.subscribed_at:
                continue
            own = self._published_at(cid)
            if own is not None and own >= updated_at:
                continue
            found.append(Event("conversation.updated", owner, cid, {"external": True}, updated_at))
        state.first = False
        state.listed_at = started
        # What is older than the next listing's start is not listed again.
        start = started - GRACE
        state.seen = {cid: at for cid, at in state.seen.items() if at >= start}
        return found
