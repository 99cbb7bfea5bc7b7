"""Running a provider in a test: a request, and the events its stream yields."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from threadkeep.errors import ProviderError
from threadkeep.runtime.providers.base import (
    Provider,
    ProviderEvent,
    ProviderRequest,
    TextDelta,
)

__all__ = ["ask", "events_before_failure", "events_of", "text_of"]


def ask(text: str = "Hello?", *, prior: int = 0, **fields: Any) -> ProviderRequest:
    """A request whose only message is the user's ``text``."""
    return ProviderRequest(
        messages=({"role": "user", "content": text},), prior_messages=prior, **fields
    )


async def _collect(provider: Provider, request: ProviderRequest, into: list[Any]) -> None:
    async for event in provider.stream(request):
        into.append(event)


def events_of(provider: Provider, request: ProviderRequest) -> list[ProviderEvent]:
    """Every event of a run that succeeds."""
    events: list[ProviderEvent] = []
    asyncio.run(_collect(provider, request, events))
    return events


def events_before_failure(
    provider: Provider, request: ProviderRequest, error: type[Exception] = ProviderError
) -> tuple[list[ProviderEvent], Exception]:
    """The events yielded before a run failed with ``error``, and the error."""
    events: list[ProviderEvent] = []
    with pytest.raises(error) as raised:
        asyncio.run(_collect(provider, request, events))
    return events, raised.value


def text_of(events: list[ProviderEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))
