"""A process that sends one message and holds its turn until told to go on: the child
of ``test_run_queue_processes.py``.

``python -m tests.runtime.queued_sender DB CONVERSATION_ID LABEL`` sends ``LABEL``
through ``Runtime.send`` (with its own :class:`RunQueue`, as a second server or CLI
would) with a provider that, once the turn is this process's, prints
``streaming LABEL <run id>`` and waits for a line on stdin before it replies
``reply LABEL``. It prints ``finished <status>`` when the run ends, or ``cancelled``
when the run was cancelled (from another process), then exits 0.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable

from threadkeep import AsyncConversationStore, Settings, open_store
from threadkeep.hookspecs import hookimpl
from threadkeep.plugins import build_plugin_manager
from threadkeep.runtime.providers.base import (
    ProviderEvent,
    ProviderRequest,
    ProviderSpec,
    TextDelta,
)
from threadkeep.runtime.run_queue import RunQueue
from threadkeep.runtime.send import RunFinished, RunStarted, Runtime


class Gate:
    """Replies once a line arrives on stdin (read without a thread, so a cancel ends it)."""

    name = "gate"

    def __init__(self) -> None:
        self.run_id = "?"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        label = request.messages[-1]["content"]
        print(f"streaming {label} {self.run_id}", flush=True)
        loop = asyncio.get_running_loop()
        line: asyncio.Future[str] = loop.create_future()

        def readable() -> None:
            if not line.done():
                line.set_result(sys.stdin.readline())

        loop.add_reader(sys.stdin.fileno(), readable)
        try:
            await line
        finally:
            loop.remove_reader(sys.stdin.fileno())
        yield TextDelta(f"reply {label}")

    async def title(self, text: str) -> str | None:
        return None


async def send(database: str, conversation_id: str, label: str) -> None:
    gate = Gate()

    class Plugin:
        @hookimpl
        def register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
            # Under the scripted provider's name, so that the parent test can send to
            # the same conversation (one provider per conversation) with a Scripted one.
            register(ProviderSpec("scripted", "waits for stdin", lambda settings: gate))

    manager = build_plugin_manager(entry_points=False)
    manager.register(Plugin())
    with open_store(database, settings=Settings.load()) as store:
        runtime = Runtime(AsyncConversationStore(store), RunQueue(), manager=manager)
        try:
            async for event in runtime.send(conversation_id, label, provider="scripted"):
                if isinstance(event, RunStarted) and event.run is not None:
                    gate.run_id = event.run.id
                if isinstance(event, RunFinished):
                    status = "?" if event.run is None else event.run.status
                    print(f"finished {status}", flush=True)
        except asyncio.CancelledError:
            print("cancelled", flush=True)


if __name__ == "__main__":
    asyncio.run(send(sys.argv[1], sys.argv[2], sys.argv[3]))
