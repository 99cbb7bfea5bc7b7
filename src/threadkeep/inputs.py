"""Checks on what callers pass to the store, each raising a typed error a person can act on.

The store calls these before it opens a transaction, so bad input never reaches the
database and nothing is half-written. They are pure functions (no I/O), shared by every
entry point: the library, the server and the CLI all go through the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from threadkeep.errors import InvalidInput, TooLarge
from threadkeep.models import CONVERSATION_STATUSES, MESSAGE_KINDS, MESSAGE_ROLES, MESSAGE_STATUSES

__all__ = [
    "MAX_LIST_LIMIT",
    "check_choice",
    "check_content",
    "check_context",
    "check_conversation_status",
    "check_json",
    "check_kind",
    "check_limit",
    "check_message_status",
    "check_nonnegative",
    "check_owner",
    "check_role",
    "check_short_text",
    "check_tags",
    "check_title",
    "merge_patch",
]

MAX_LIST_LIMIT = 1000
MAX_TAGS = 50
MAX_TAG_LENGTH = 64
MAX_TITLE_LENGTH = 1000


def check_owner(owner: object) -> str:
    if not isinstance(owner, str) or not owner.strip() or len(owner) > 200:
        raise InvalidInput(
            f"owner must be a non-empty name of at most 200 characters, got {owner!r:.60}"
        )
    return owner


def check_choice(value: object, allowed: frozenset[str], what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(f"{what} must be one of {', '.join(sorted(allowed))}; got {value!r:.60}")
    return value


def check_role(value: object) -> str:
    return check_choice(value, MESSAGE_ROLES, "role")


def check_kind(value: object) -> str:
    return check_choice(value, MESSAGE_KINDS, "kind")


def check_message_status(value: object) -> str:
    return check_choice(value, MESSAGE_STATUSES, "message status")


def check_conversation_status(value: object) -> str | None:
    """A listing's status filter: ``active``, ``archived``, ``trash``, or ``None``/``all``."""
    if value is None or value == "all":
        return None
    return check_choice(value, CONVERSATION_STATUSES, "status")


def _utf8_size(text: str, what: str) -> int:
    """Bytes of ``text`` in UTF-8; text no database can store is ``InvalidInput``.

    Lone surrogates have no UTF-8 form, and PostgreSQL cannot store NUL characters in
    text or JSON; refusing them on every engine keeps the two engines interchangeable.
    """
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput(
            f"{what} contains a lone surrogate character, which is not valid Unicode text; "
            "decode the source with errors='replace' or fix its encoding"
        ) from None
    if "\x00" in text:
        raise _nul_refused(what)
    return size


def _nul_refused(what: str) -> InvalidInput:
    return InvalidInput(
        f"{what} contains a NUL character (\\x00), which databases cannot store in "
        "text; remove it, or keep binary data base64-encoded in metadata"
    )


def check_content(content: object, max_bytes: int) -> str:
    if not isinstance(content, str):
        raise InvalidInput(f"content must be a string, got {type(content).__name__}")
    size = _utf8_size(content, "content")
    if size > max_bytes:
        raise TooLarge(
            f"message content is {size:,} bytes; the limit is {max_bytes:,} "
            "(setting max_message_bytes). Split it or store the payload elsewhere."
        )
    return content


def check_json(value: Any, what: str, max_bytes: int) -> Any:
    """``value`` must be JSON (dicts, lists, strings, finite numbers, bools, null)."""
    if value is None:
        return None
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{what} must be JSON-serialisable: {error}") from None
    except RecursionError:
        raise InvalidInput(f"{what} is nested too deeply to be stored as JSON") from None
    if "\\u0000" in text and _has_nul(value):
        raise _nul_refused(what)
    if _utf8_size(text, what) > max_bytes:
        raise TooLarge(f"{what} is over {max_bytes:,} bytes as JSON (setting max_message_bytes)")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def check_context(value: Any, max_bytes: int) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"context must be a JSON object (dict), got {type(value).__name__}")
    checked: dict[str, Any] = check_json(value, "context", max_bytes)
    return checked


def check_tags(tags: object) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise InvalidInput("tags must be a list of strings, e.g. ['work', 'draft']")
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_LENGTH:
            raise InvalidInput(
                f"each tag must be a non-empty string of at most {MAX_TAG_LENGTH} characters, "
                f"got {tag!r:.80}"
            )
        _utf8_size(tag, "tag")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags per conversation, got {len(out)}")
    return out


def check_title(title: object) -> str | None:
    if title is None:
        return None
    if not isinstance(title, str) or len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"title must be a string of at most {MAX_TITLE_LENGTH} characters")
    _utf8_size(title, "title")
    return title


def check_short_text(
    value: object, what: str, *, max_length: int = 64, optional: bool = False
) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidInput(f"{what} must be a non-empty string of at most {max_length} characters")
    _utf8_size(value, what)
    return value


def check_limit(limit: object, *, what: str = "limit", maximum: int = MAX_LIST_LIMIT) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= maximum:
        raise InvalidInput(f"{what} must be a whole number from 1 to {maximum}, got {limit!r}")
    return limit


def check_nonnegative(value: object, what: str, *, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 2**31 - 1:
        raise InvalidInput(f"{what} must be a whole number ≥ 0, got {value!r}")
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, ``None`` deletes a key."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
