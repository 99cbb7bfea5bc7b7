"""Users and their API keys (being built)."""

from __future__ import annotations

from threadkeep.db.engine import Database
from threadkeep.settings import Settings

__all__ = ["Accounts"]


class Accounts:
    def __init__(self, database: Database, settings: Settings) -> None:
        self._db = database
        self._settings = settings

    def has_keys(self) -> bool:
        return False

    def authenticate(self, key: str) -> str | None:
        del key
        return None
