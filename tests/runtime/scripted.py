"""A scripted provider for the runtime's tests: the real protocol, registered through
the real hook, playing the turns a test scripts and recording the requests it got."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from threadkeep import AsyncConversationStore
from threadkeep.hookspecs import hookimpl
from threadkeep.plugins import build_plugin_manager
from threadkeep.runtime.providers.base import ProviderEvent, ProviderRequest, ProviderSpec
from threadkeep.runtime.run_queue import RunQueue
from threadkeep.runtime.send import Runtime

__all__ = ["Script", "Scripted", "with_scripted"]

# One scripted turn: events to stream (an exception raises at that point), or a
# function of the request giving them.
Script = list[ProviderEvent | BaseException]


class Scripted:
    """A provider that plays scripted turns in order and records every request."""

    name = "scripted"

    def __init__(self) -> None:
        self.turns: list[Script | Callable[[ProviderRequest], Script]] = []
        self.requests: list[ProviderRequest] = []
        self.gate: asyncio.Event | None = None  # when set, each stream waits for it
        self.title_of: str | BaseException | None = None
        self.title_gate: asyncio.Event | None = None  # when set, title() waits for it
        self.titled: list[str] = []

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        self.requests.append(request)
        turn = self.turns.pop(0)
        script = turn(request) if callable(turn) else turn
        if self.gate is not None:
            await self.gate.wait()
        for item in script:
            if isinstance(item, BaseException):
                raise item
            yield item
            await asyncio.sleep(0)

    async def title(self, text: str) -> str | None:
        """``title_of``'s answer: a title, ``None`` (makes none) or an error to raise."""
        self.titled.append(text)
        if self.title_gate is not None:
            await self.title_gate.wait()
        if isinstance(self.title_of, BaseException):
            raise self.title_of
        return self.title_of


def with_scripted(store: AsyncConversationStore, scripted: Scripted) -> Runtime:
    """A runtime whose plugins add ``scripted`` beside the built-in providers."""
    manager = build_plugin_manager(entry_points=False)

    class Plugin:
        @hookimpl
        def register_providers(self, register: Callable[[ProviderSpec], None]) -> None:
            register(ProviderSpec("scripted", "scripted turns", lambda settings: scripted))

    manager.register(Plugin())
    return Runtime(store, RunQueue(), manager=manager)
