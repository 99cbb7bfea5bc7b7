"""A process that chats until it is killed: the child of ``test_killed_mid_reply.py``.

``python -m tests.runtime.streamer DB CONVERSATION_ID`` sends one message through
``Runtime.send`` with a provider that streams a long reply slowly, printing
``delta <n>`` (flushed) after each piece the runtime has stored and passed on, so the
parent knows the reply is under way before it kills this process with SIGKILL.
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
from threadkeep.runtime.send import ReplyDelta, Runtime

PIECE = "word "


class Endless:
    """Streams ``word `` pieces, a little apart, until the process dies."""

    name = "endless"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        while True:
            yield TextDelta(PIECE)
            await asyncio.sleep(0.01)

    async def title(self, text: str) -> str | None:
        return None


class Plugin:
    @hookimpl
    def register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
        register(ProviderSpec("endless", "streams until killed", lambda settings: Endless()))


async def chat(database: str, conversation_id: str) -> None:
    manager = build_plugin_manager(entry_points=False)
    manager.register(Plugin())
    with open_store(database, settings=Settings.load()) as store:
        runtime = Runtime(AsyncConversationStore(store), RunQueue(), manager=manager)
        pieces = 0
        async for event in runtime.send(
            conversation_id, "tell me a long story", provider="endless"
        ):
            if isinstance(event, ReplyDelta):
                pieces += 1
                print(f"delta {pieces}", flush=True)


if __name__ == "__main__":
    asyncio.run(chat(sys.argv[1], sys.argv[2]))
