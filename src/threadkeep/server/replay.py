"""What a reconnecting client of an event stream missed, read from the store.

The event ids of both streams (``sse.py``) name a place to resume from:

* a conversation stream's ``<seq>:<created µs>`` is a :class:`Position`, the last
  message the client holds. :func:`resume_point` finds where the replay starts: right
  after it when it is still stored as it was; after the newest message created no
  later than it when pop or clear gave its seq to a later message (every message
  appended after a removal was created after it); before everything stored when the
  message cap pruned it.
* the owner stream's ``<µs>`` is an event time: :func:`changed_conversations` lists
  what changed since, :func:`messages_since` a conversation's messages created since.

Each function is one or a few store reads, blocking: the streams run them in a worker
thread. A conversation that is gone raises ``NotFound``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from threadkeep.errors import InvalidInput
from threadkeep.events import micros
from threadkeep.models import Conversation, Message
from threadkeep.store import ConversationStore

__all__ = [
    "Position",
    "changed_conversations",
    "messages_since",
    "parse_owner_event_id",
    "resume_point",
]

_PAGE = 500


_MAX_SEQ = 2**31 - 1
#: The event times an owner stream's id may name: years 1970 to 9000.
_MAX_MICROS = micros(dt.datetime(9000, 1, 1, tzinfo=dt.UTC))


def _parse_int(text: str, maximum: int) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 20 or int(text) > maximum:
        raise ValueError(text)
    return int(text)


@dataclass(frozen=True, slots=True)
class Position:
    """The last message a client of a conversation stream holds (``0:0``: none)."""

    seq: int
    created_us: int

    @classmethod
    def of(cls, message: Message) -> Position:
        return cls(message.seq, micros(message.created_at))

    @property
    def event_id(self) -> str:
        return f"{self.seq}:{self.created_us}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """The position a conversation stream's event id names, or ``InvalidInput``."""
        seq, _, created = text.strip().partition(":")
        try:
            return cls(_parse_int(seq, _MAX_SEQ), _parse_int(created, _MAX_MICROS))
        except ValueError:
            raise InvalidInput(
                f"Last-Event-ID {text!r:.60} is not an event id of a conversation stream "
                "(<seq>:<microseconds>, as the stream sent it); reconnect without it to "
                "start from now"
            ) from None


def parse_owner_event_id(text: str) -> int:
    """The time (µs) an owner stream's event id names, or ``InvalidInput``."""
    try:
        return _parse_int(text.strip(), _MAX_MICROS)
    except ValueError:
        raise InvalidInput(
            f"Last-Event-ID {text!r:.60} is not an event id of the events stream "
            "(microseconds, as the stream sent it); reconnect without it to start from now"
        ) from None


def resume_point(store: ConversationStore, cid: str, position: Position) -> tuple[int, Position]:
    """``(after_seq, position)``: replay the messages after ``after_seq``; ``position``
    is the last message the client holds that is still stored as it was.

    Raises ``NotFound`` when the conversation is gone.
    """
    if position.seq == 0:
        return 0, position
    first = store.get_messages(cid, after_seq=position.seq - 1, limit=1)
    if first and first[0].seq == position.seq and Position.of(first[0]) == position:
        return position.seq, position
    if first and first[0].seq > position.seq:
        # The cap pruned it (and everything before): all that is stored is newer.
        return first[0].seq - 1, position
    # Popped or cleared since: messages created after the client's last one replaced
    # them. Walk back to the newest message created no later than that one.
    before = position.seq + 1
    while True:
        older = store.get_messages(cid, before_seq=before, limit=_PAGE, descending=True)
        for message in older:
            if micros(message.created_at) <= position.created_us:
                return message.seq, Position.of(message)
        if len(older) < _PAGE:
            return 0, Position(0, 0)
        before = older[-1].seq


def changed_conversations(store: ConversationStore, since: dt.datetime) -> list[Conversation]:
    """The owner's conversations updated at or after ``since``, least recent first."""
    found: list[Conversation] = []
    cursor = None
    while True:
        page = store.list_conversations(status="all", updated_after=since, limit=200, cursor=cursor)
        found.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    found.reverse()
    return found


def messages_since(
    store: ConversationStore, cid: str, since: dt.datetime
) -> list[tuple[int, str, dt.datetime]]:
    """``(seq, id, created_at)`` of the conversation's messages created at or after
    ``since`` (read back from the tail), by seq."""
    found: list[tuple[int, str, dt.datetime]] = []
    before = None
    while True:
        page = store.get_messages(cid, before_seq=before, limit=_PAGE, descending=True)
        for message in page:
            if message.created_at < since:
                found.reverse()
                return found
            found.append((message.seq, message.id, message.created_at))
        if len(page) < _PAGE:
            found.reverse()
            return found
        before = page[-1].seq
