"""What one running app holds: settings, the store, the broker, accounts, metrics, and
the agent runtime's queue and the sends in flight.

One :class:`ServerState` per app, made by ``create_app`` and kept on
``app.state.threadkeep``; requests reach it through ``deps.py``. Nothing here is a
module-level singleton, so several apps (tests, workers) live side by side.

**Sends** (``api/send.py``) each run in a task of their own, so that a cancel — from
``POST /runs/{id}/cancel``, or the client going away — stops exactly that run.
:class:`Sends` keeps those tasks and the work a send leaves behind it (a title made
after a first reply, SPEC S4.6): a ``Runtime`` is made per request, but what it starts
outlives the request, and the app must wait for it at shutdown before the store
closes (:meth:`Sends.close`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import pluggy

from threadkeep.accounts import Accounts
from threadkeep.runtime.run_queue import RunQueue, stop_task
from threadkeep.runtime.send import Background
from threadkeep.server.broker import ServerBroker
from threadkeep.server.metrics import Metrics
from threadkeep.server.schedule import CleanupSchedule
from threadkeep.settings import Settings
from threadkeep.store import ConversationStore

__all__ = ["SendTask", "Sends", "ServerState"]

SendTask = asyncio.Task[None]


class Sends:
    """The app's sends in flight and the work they leave behind (see the module doc).

    Which task runs which run is the run queue's to know (``RunQueue.task_of``); the
    work left behind is a runtime :class:`Background`, shared by every request's
    ``Runtime``.
    """

    def __init__(self) -> None:
        self._tasks: set[SendTask] = set()
        self.background = Background()

    def start(self, work: Coroutine[Any, Any, None]) -> SendTask:
        """Run a send as a task of its own, kept until it ends."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """At shutdown: stop the sends still running (their runs end ``cancelled``),
        wait until they have, then wait for the background work."""
        while pending := [task for task in self._tasks if not task.done()]:
            for task in pending:
                stop_task(task)
            await asyncio.wait(pending)
        await self.background.settle()


@dataclass(eq=False)
class ServerState:
    """The app's long-lived parts; ``store`` is scoped per request with ``as_owner``."""

    settings: Settings
    store: ConversationStore
    broker: ServerBroker
    accounts: Accounts
    metrics: Metrics
    schedule: CleanupSchedule
    #: Whether the server listens on a loopback address only (see ``auth.py``).
    loopback: bool
    #: Where providers are looked up (``None``: the process's plugin manager).
    plugins: pluggy.PluginManager | None = None
    #: One run at a time per conversation, for every send of this app (SPEC S4.5).
    queue: RunQueue = field(default_factory=RunQueue)
    sends: Sends = field(default_factory=Sends)
