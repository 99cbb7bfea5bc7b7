"""Change events and the broker they go through.

The store publishes one :class:`Event` per change *after* its transaction commits, so a
subscriber never sees a change that was rolled back. Event types (SPEC S3.6):
``conversation.created|updated|archived|unarchived|deleted``, ``message.created``,
``message.updated``, ``run.started|completed|failed``.

Events are small: ids and seqs, not content. A subscriber that needs the data reads it
from the store, which keeps events safe to fan out across processes (PostgreSQL
LISTEN/NOTIFY payloads are limited) and keeps secrets out of the event path.

:class:`InProcessBroker` delivers to callbacks in the publishing thread; a failing
subscriber is logged and never breaks the write that produced the event.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Broker", "Event", "InProcessBroker", "Subscriber", "from_micros", "micros"]

log = logging.getLogger(__name__)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def micros(at: dt.datetime) -> int:
    """``at`` as integer microseconds since the epoch (exact, unlike a float): how event
    times travel in SSE ids and NOTIFY payloads."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> dt.datetime:
    """The aware UTC datetime of :func:`micros`' ``value``."""
    return _EPOCH + dt.timedelta(microseconds=value)


@dataclass(frozen=True, slots=True)
class Event:
    """One committed change, addressed by owner and conversation."""

    type: str
    owner: str
    conversation_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


Subscriber = Callable[[Event], None]


class Broker(Protocol):
    """Where the store sends events after commit."""

    def publish(self, event: Event) -> None: ...

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; return a function that unsubscribes it."""
        ...


class InProcessBroker:
    """Fan events out to callbacks registered in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Replaced whole on (un)subscribe, so publishing reads it without the lock.
        self._subscribers: tuple[Subscriber, ...] = ()

    def publish(self, event: Event) -> None:
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed on %s", event.type)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    subscribers = list(self._subscribers)
                    subscribers.remove(callback)
                    self._subscribers = tuple(subscribers)

        return unsubscribe
