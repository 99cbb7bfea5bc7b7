"""The daily cleanup inside the server (filled in by the schedule work)."""

from __future__ import annotations

from threadkeep.settings import Settings
from threadkeep.store import ConversationStore

__all__ = ["CleanupSchedule"]


class CleanupSchedule:
    def __init__(self, store: ConversationStore, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
