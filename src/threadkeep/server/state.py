"""What one running app holds: settings, the store, the broker, accounts, metrics.

One :class:`ServerState` per app, made by ``create_app`` and kept on
``app.state.threadkeep``; requests reach it through ``deps.py``. Nothing here is a
module-level singleton, so several apps (tests, workers) live side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadkeep.accounts import Accounts
from threadkeep.server.broker import ServerBroker
from threadkeep.server.metrics import Metrics
from threadkeep.server.schedule import CleanupSchedule
from threadkeep.settings import Settings
from threadkeep.store import ConversationStore

__all__ = ["ServerState"]


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
