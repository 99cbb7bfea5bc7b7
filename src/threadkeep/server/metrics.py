"""Prometheus metrics for one app (filled in by the metrics work)."""

from __future__ import annotations

from fastapi import FastAPI

from threadkeep.store import ConversationStore

__all__ = ["Metrics"]


class Metrics:
    def __init__(self, store: ConversationStore) -> None:
        self._store = store

    def install(self, app: FastAPI) -> None:
        del app

    def instrument(self, store: ConversationStore) -> ConversationStore:
        return store
