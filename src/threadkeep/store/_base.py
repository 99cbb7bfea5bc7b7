"""What every part of :class:`~threadkeep.store.ConversationStore` shares.

The store is one class composed of one mixin per noun (``conversations.py``,
``messages.py``, ``runs.py``, ``operations.py``, ...); each mixin subclasses
:class:`StoreBase`, which holds the database, settings, owner and broker and the few
helpers they all use. The rules of the store (one transaction per call, events after
commit, owner scoping) are stated in ``store/__init__.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Final, Self, TypeVar

from threadkeep.db.engine import Database
from threadkeep.errors import InvalidInput, NotFound
from threadkeep.events import Broker, Event
from threadkeep.inputs import (
    check_owner,
)
from threadkeep.models import (
    RUN_STATUSES,
    Conversation,
    Message,
    trusted_builder,
)
from threadkeep.redact import Redactor
from threadkeep.settings import Settings

__all__ = ["UNSET", "StoreBase"]


class _Unset:
    """Marks an argument the caller did not pass (``None`` is a value: it clears)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()

_T = TypeVar("_T")

_FINISHED_RUN_STATUSES = RUN_STATUSES - {"queued", "running"}
_PREVIEW_ROLES = ("user", "assistant")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class StoreBase:
    """State and helpers every part of the store shares: the database, the settings,
    the owner, the broker; the lifecycle; event publishing."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        owner: str,
        broker: Broker,
        _parent: StoreBase | None = None,
    ) -> None:
        self._db = database
        self._settings = settings
        self._owner = check_owner(owner)
        self._broker = broker
        # A store made by ``as_owner`` shares its parent's engine (``close`` leaves it
        # open) and its redactor: a server scopes a store per request.
        self._shares_engine = _parent is not None
        # redact_on_write: secrets are masked before they reach the database (SPEC S6.2).
        if _parent is not None:
            self._write_redactor: Redactor | None = _parent._write_redactor
        elif settings.redact_on_write:
            self._write_redactor = Redactor(settings.redact_patterns)
        else:
            self._write_redactor = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def owner(self) -> str:
        """The user every operation of this store is scoped to."""
        return self._owner

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def broker(self) -> Broker:
        """Where events go after each commit; subscribe to it to follow changes."""
        return self._broker

    @property
    def database(self) -> Database:
        """The underlying database handle (engine, dialect, SQLite library)."""
        return self._db

    def close(self) -> None:
        """Release the database connections (a no-op on stores made by :meth:`as_owner`)."""
        if not self._shares_engine:
            self._db.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ConversationStore owner={self._owner!r} database={self._db.describe()!r}>"

    def _publish(self, events: Iterable[Event]) -> None:
        for event in events:
            self._broker.publish(event)

    def _event(
        self,
        kind: str,
        conversation_id: str | None,
        at: dt.datetime | None = None,
        /,
        **data: Any,
    ) -> Event:
        """An event of this owner; ``at`` is when the change happened (default now)."""
        return Event(kind, self._owner, conversation_id, data, _now() if at is None else at)

    def _not_found(self, conversation_id: str) -> NotFound:
        return NotFound(f"conversation {conversation_id} not found")

    def _on_write(self, check: Callable[..., _T], value: Any, *args: Any) -> _T:
        """``check(value, *args)``; when ``redact_on_write`` is on, the checked value
        (text or JSON) with secrets masked, checked again.

        The first check refuses a huge value without scanning it; the second is needed
        since a marker can be longer than what it replaced. With redaction off the value
        is checked once.
        """
        checked = check(value, *args)
        if self._write_redactor is None or checked is None:
            return checked
        try:
            masked = self._write_redactor.redact_value(checked)[0]
        except RecursionError:  # the redactor walks JSON recursively
            raise InvalidInput("value is nested too deeply to be checked for secrets") from None
        return check(masked, *args)

    def _preview(self, content: str | None) -> str | None:
        if content is None:
            return None
        size = self._settings.preview_chars
        text = " ".join(content[: size * 2].split())
        return text[:size] if len(text) <= size else text[: size - 1] + "…"

    def _preview_of_rows(self, rows: Sequence[dict[str, Any]]) -> str | None:
        """The preview the newest user/assistant text among new message rows gives."""
        return next(
            (
                self._preview(row["content"])
                for row in reversed(rows)
                if row["kind"] == "text" and row["role"] in _PREVIEW_ROLES
            ),
            None,
        )


def _check_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be true or false, got {value!r:.40}")
    return value


def _check_datetime(value: dt.datetime | None, what: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime (e.g. UTC)")
    return value.astimezone(dt.UTC)


def _conversation_values(conversation: Conversation) -> dict[str, Any]:
    values = dataclasses.asdict(conversation)
    forked = values.pop("forked_from")
    values["tags"] = list(conversation.tags)
    values["forked_from_id"] = forked["conversation_id"] if forked else None
    values["forked_from_seq"] = forked["seq"] if forked else None
    return values


# Rows the store built and checked itself: no second round of checks.
_build_message = trusted_builder(Message)


def _message_from_values(row: dict[str, Any]) -> Message:
    return _build_message(
        row["id"],
        row["conversation_id"],
        row["seq"],
        row["role"],
        row["kind"],
        row["content"],
        row["status"],
        row["metadata"],
        row["tokens"],
        row["run_id"],
        row["created_at"],
        row["updated_at"],
    )
