"""Events across processes on PostgreSQL: ``LISTEN``/``NOTIFY``.

The store publishes each event after commit to the broker of the process that made the
change. Several server processes (on one machine or many) that share one PostgreSQL
database learn of each other's events through :class:`PostgresEvents`:

* **One channel per schema.** Notifications are database-wide, so the channel is named
  after the schema the connection's ``search_path`` selects (``current_schema()``):
  two deployments in two schemas of one database never hear each other.
* **Small payloads, never content.** An event is ids and seqs already (``events.py``);
  the payload is that event as compact JSON plus the sender's ``origin`` id, a few
  hundred bytes, far below PostgreSQL's 8000-byte limit (:data:`MAX_PAYLOAD_BYTES` is
  checked; an event over it loses its extra data and keeps its ids). Receivers read
  whatever they show from the store: the notification is a wake-up signal.
* **Sending never blocks a write.** :meth:`PostgresEvents.send` queues the event; a
  sender thread with its own autocommit connection sends queued events in batches (one
  ``pg_notify`` statement, one round trip per batch). If the connection drops the
  batch is sent again after reconnecting (at least once); if the queue overflows while
  the database is away, events are dropped and, once connected again, a *gap* notice is
  sent instead, so receivers know they may have missed some.
* **Listening on a dedicated connection.** A listener thread ``LISTEN``s on its own
  autocommit connection and hands every other origin's event to ``deliver`` (its own
  are skipped by origin id). When the connection drops it reconnects with backoff
  (0.1 s doubling to 5 s) and, since notifications sent meanwhile are lost, reports a
  gap through ``on_gap`` — as it does for a gap notice from another process.

Errors are logged with the database described without its password, never a payload.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from threadkeep.db.engine import Database
from threadkeep.events import Event, from_micros, micros
from threadkeep.redact import redact_text

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "PostgresEvents",
    "application_name",
    "channel_for",
    "decode",
    "encode",
]

log = logging.getLogger(__name__)

#: PostgreSQL refuses payloads of 8000 bytes or more; stay well below.
MAX_PAYLOAD_BYTES = 7_000
_PAYLOAD_VERSION = 1
#: Event data kept when an event's payload would be over the limit: its ids.
_ESSENTIAL_DATA = ("message_id", "seq", "run_id", "status")
_CHANNEL_PREFIX = "threadkeep_events"
_MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1

_BATCH = 200
_QUEUE_LIMIT = 10_000
_POLL_SECONDS = 0.5
_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 5.0
_CONNECT_TIMEOUT_SECONDS = 5
_FLUSH_SECONDS = 2.0


def channel_for(schema: str | None) -> str:
    """The notification channel of a schema (a hash when the name would be too long)."""
    if not schema:
        return _CHANNEL_PREFIX
    name = f"{_CHANNEL_PREFIX}.{schema}"
    if len(name.encode()) <= _MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha256(schema.encode()).hexdigest()[:24]
    return f"{_CHANNEL_PREFIX}.{digest}"


def application_name(role: str, origin: str) -> str:
    """The ``application_name`` of a ``listen`` or ``notify`` connection of ``origin``."""
    return f"threadkeep-{role} {origin}"[:_MAX_IDENTIFIER_BYTES]


def _dump(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)


def encode(event: Event, origin: str) -> str | None:
    """The payload of ``event`` sent by ``origin``; ``None`` if even its ids are too big."""
    body: dict[str, Any] = {
        "v": _PAYLOAD_VERSION,
        "o": origin,
        "t": event.type,
        "u": event.owner,
        "c": event.conversation_id,
        "d": event.data,
        "at": micros(event.at),
    }
    text = _dump(body)
    if len(text.encode()) <= MAX_PAYLOAD_BYTES:
        return text
    body["d"] = {key: event.data[key] for key in _ESSENTIAL_DATA if key in event.data}
    text = _dump(body)
    return text if len(text.encode()) <= MAX_PAYLOAD_BYTES else None


def _gap_notice(origin: str) -> str:
    return _dump({"v": _PAYLOAD_VERSION, "o": origin, "gap": True})


def decode(payload: str) -> tuple[str, Event | None]:
    """``(origin, event)`` of a payload; the event is ``None`` for a gap notice.

    Raises ``ValueError`` for a payload this version does not understand.
    """
    body = json.loads(payload)
    if not isinstance(body, dict) or body.get("v") != _PAYLOAD_VERSION:
        raise ValueError("not a threadkeep event payload of a known version")
    origin = body.get("o")
    if not isinstance(origin, str):
        raise ValueError("payload without an origin")
    if body.get("gap") is True:
        return origin, None
    kind, owner, cid, data, at = (body.get(key) for key in ("t", "u", "c", "d", "at"))
    if (
        not isinstance(kind, str)
        or not isinstance(owner, str)
        or not (cid is None or isinstance(cid, str))
        or not isinstance(data, dict)
        or not isinstance(at, int)
    ):
        raise ValueError("payload with a missing or mistyped field")
    return origin, Event(kind, owner, cid, data, from_micros(at))


class PostgresEvents:
    """Send this process's events to, and receive other processes' events from, the
    PostgreSQL database of ``database`` (see the module docstring).

    ``deliver(event)`` and ``on_gap()`` are called from the listener thread.
    """

    def __init__(
        self,
        database: Database,
        *,
        origin: str,
        deliver: Callable[[Event], None],
        on_gap: Callable[[], None],
    ) -> None:
        if database.dialect != "postgresql":
            raise ValueError("LISTEN/NOTIFY needs PostgreSQL")
        self._database = database
        self._origin = origin
        self._deliver = deliver
        self._on_gap = on_gap
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._outbox: collections.deque[str] = collections.deque()
        self._outbox_changed = threading.Condition()
        self._lost = False
        self._threads = [
            threading.Thread(target=self._listen, name="threadkeep-listen", daemon=True),
            threading.Thread(target=self._send_loop, name="threadkeep-notify", daemon=True),
        ]

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 5.0) -> bool:
        """Start both threads; return whether ``LISTEN`` is active within ``timeout``.

        If it is not, the listener keeps trying in the background.
        """
        for thread in self._threads:
            thread.start()
        return self._listening.wait(timeout)

    def stop(self, timeout: float = _FLUSH_SECONDS) -> None:
        """Send what is queued (for up to ``timeout`` seconds), then stop both threads."""
        deadline = time.monotonic() + timeout
        with self._outbox_changed:
            while self._outbox and time.monotonic() < deadline and self._threads[1].is_alive():
                self._outbox_changed.wait(0.05)
            self._stopping.set()
            self._outbox_changed.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(deadline - time.monotonic(), 0) + _POLL_SECONDS * 2)

    @property
    def listening(self) -> bool:
        """Whether the listener's ``LISTEN`` is active now."""
        return self._listening.is_set()

    # ------------------------------------------------------------------ sending

    def send(self, event: Event) -> None:
        """Queue ``event`` for the other processes (never blocks on the database)."""
        payload = encode(event, self._origin)
        with self._outbox_changed:
            if payload is None or len(self._outbox) >= _QUEUE_LIMIT:
                if not self._lost:
                    log.warning("cross-process events dropped; other processes will resync")
                self._lost = True
                return
            self._outbox.append(payload)
            self._outbox_changed.notify_all()

    def _take_batch(self) -> list[str]:
        """The next payloads to send (waits for some); empty once stopping with none left."""
        with self._outbox_changed:
            while not self._outbox and not self._stopping.is_set():
                self._outbox_changed.wait()
            batch: list[str] = []
            while self._outbox and len(batch) < _BATCH:
                batch.append(self._outbox.popleft())
            return batch

    def _send_loop(self) -> None:
        connection: psycopg.Connection[Any] | None = None
        channel = ""
        batch: list[str] = []
        backoff = _BACKOFF_FIRST
        try:
            while True:
                if not batch:
                    batch = self._take_batch()
                    if not batch:
                        return  # stopping, and everything is sent
                try:
                    if connection is None:
                        connection, channel = self._connect("notify")
                    with self._outbox_changed:
                        if self._lost:
                            # Receivers may have missed events: they resync first.
                            batch.insert(0, _gap_notice(self._origin))
                            self._lost = False
                    connection.execute(
                        "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
                        (channel, batch),
                    )
                    batch = []
                    backoff = _BACKOFF_FIRST
                    with self._outbox_changed:
                        self._outbox_changed.notify_all()  # stop() waits for an empty outbox
                except Exception as error:
                    _close(connection)
                    connection = None
                    if self._stopping.is_set():
                        return
                    self._log_failure("sending events", error)
                    if self._stopping.wait(backoff):
                        return
                    backoff = min(backoff * 2, _BACKOFF_MAX)
        finally:
            _close(connection)

    # ------------------------------------------------------------------ listening

    def _listen(self) -> None:
        backoff = _BACKOFF_FIRST
        connected_before = False
        while not self._stopping.is_set():
            connection: psycopg.Connection[Any] | None = None
            try:
                connection, channel = self._connect("listen")
                from psycopg import sql

                connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                self._listening.set()
                backoff = _BACKOFF_FIRST
                if connected_before:
                    # Notifications sent while we were away are lost: say so.
                    log.info("listening for events again on %s", self._database.describe())
                    self._report_gap()
                connected_before = True
                while not self._stopping.is_set():
                    for notification in connection.notifies(timeout=_POLL_SECONDS):
                        self._receive(notification.payload)
            except Exception as error:
                self._listening.clear()
                if self._stopping.is_set():
                    break
                self._log_failure("listening for events", error)
                if self._stopping.wait(backoff):
                    break
                backoff = min(backoff * 2, _BACKOFF_MAX)
            finally:
                self._listening.clear()
                _close(connection)

    def _receive(self, payload: str) -> None:
        try:
            origin, event = decode(payload)
        except ValueError:
            log.warning("ignored a notification that is not a threadkeep event")
            return
        if origin == self._origin:
            return
        if event is None:
            self._report_gap()
            return
        try:
            self._deliver(event)
        except Exception:
            log.exception("delivering an event from another process failed")

    def _report_gap(self) -> None:
        try:
            self._on_gap()
        except Exception:
            log.exception("handling missed events failed")

    # ------------------------------------------------------------------ connections

    def _connect(self, role: str) -> tuple[psycopg.Connection[Any], str]:
        """A new autocommit connection to the database, and the channel of its schema.

        Its ``application_name`` (``threadkeep-listen <origin>``, ``threadkeep-notify
        <origin>``) tells an operator in ``pg_stat_activity`` whose connection it is.
        """
        import psycopg  # the postgres extra: imported only when PostgreSQL is used

        engine = self._database.engine
        _args, params = engine.dialect.create_connect_args(engine.url)
        params.pop("context", None)  # SQLAlchemy's adapters: the defaults are what we want
        params.setdefault("connect_timeout", _CONNECT_TIMEOUT_SECONDS)
        params["application_name"] = application_name(role, self._origin)
        connection = psycopg.connect(autocommit=True, **params)
        try:
            row = connection.execute("SELECT current_schema()").fetchone()
        except BaseException:
            connection.close()
            raise
        return connection, channel_for(row[0] if row else None)

    def _log_failure(self, doing: str, error: BaseException) -> None:
        text = str(error).strip()
        detail, _ = redact_text(text.splitlines()[0] if text else "")
        log.warning(
            "%s on %s failed (%s: %s); retrying",
            doing,
            self._database.describe(),
            type(error).__name__,
            detail,
        )


def _close(connection: psycopg.Connection[Any] | None) -> None:
    if connection is not None:
        try:
            connection.close()
        except Exception:
            log.debug("closing a notification connection failed", exc_info=True)
