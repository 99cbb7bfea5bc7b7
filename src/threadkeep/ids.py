"""Identifiers: time-ordered UUIDv7 generation and validation.

Conversation and run ids are UUIDs; when threadkeep generates one it is a UUIDv7
(RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort by creation
time and index well. Message ids are UUIDs too when generated, but a caller may bring a
stable string id of its own (a framework's item id such as ``msg_abc123``); those are
checked by :func:`check_message_id`.

All ids are handled as canonical lowercase strings (``8-4-4-4-12``).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

from threadkeep.errors import InvalidInput

__all__ = ["MAX_MESSAGE_ID_LENGTH", "check_message_id", "check_uuid", "new_id"]

MAX_MESSAGE_ID_LENGTH = 200

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_random = b""
_offset = 0


def new_id() -> str:
    """Return a new UUIDv7 string, monotonic within this process (across threads too).

    Random bits come from ``os.urandom``, read 4 KiB at a time rather than one system
    call per id.
    """
    global _last_ms, _counter, _random, _offset
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or earlier, after a clock step) millisecond: keep order with a
            # counter in the 12-bit rand_a field, borrowing the next millisecond when it
            # overflows.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = 0
        if _offset + 8 > len(_random):
            _random, _offset = os.urandom(4096), 0
        chunk = _random[_offset : _offset + 8]
        _offset += 8
        counter = _counter
    rand_b = int.from_bytes(chunk, "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def check_uuid(value: object, *, what: str = "id") -> str:
    """Return ``value`` as a canonical UUID string, or raise ``InvalidInput``."""
    if isinstance(value, str) and _CANONICAL.fullmatch(value):
        return value  # already canonical: the common case, without a parse
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str) and 32 <= len(value) <= 45:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise InvalidInput(
        f"{what} must be a UUID such as 0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c, got {value!r:.80}"
    )


def check_message_id(value: object) -> str:
    """Accept a UUID or a caller's stable string id (1-200 visible characters).

    A caller's id is kept verbatim (never re-cased or re-formatted), so the framework
    that brought it finds it again.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_MESSAGE_ID_LENGTH
        and value.isprintable()
        and not any(ch.isspace() for ch in value)
    ):
        return value
    raise InvalidInput(
        "message id must be a UUID or a string of 1-200 visible characters without spaces, "
        f"got {value!r:.80}"
    )
