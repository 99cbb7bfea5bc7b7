"""The server's broker: in-process fan-out, plus PostgreSQL LISTEN/NOTIFY across
processes (built by the events work)."""

from __future__ import annotations

from threadkeep.events import InProcessBroker
from threadkeep.settings import Settings
from threadkeep.store import ConversationStore

__all__ = ["ServerBroker", "make_broker"]


class ServerBroker(InProcessBroker):
    """An in-process broker with a lifecycle the app drives."""

    async def start(self, store: ConversationStore) -> None:
        """Begin receiving other processes' events (none on SQLite)."""

    async def stop(self) -> None:
        """Stop receiving."""


def make_broker(settings: Settings) -> ServerBroker:
    del settings
    return ServerBroker()
