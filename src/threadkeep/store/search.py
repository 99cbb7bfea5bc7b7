"""Search: what a person types, over their messages and titles, ranked, a page at a time."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from threadkeep.db import search as search_rows
from threadkeep.errors import InvalidInput
from threadkeep.inputs import check_conversation_status, check_limit, check_role, check_short_text
from threadkeep.models import Page, SearchHit
from threadkeep.search_query import parse
from threadkeep.store._base import StoreBase, _check_datetime

__all__ = ["SearchMixin"]

SNIPPET_CHARS = 160
MAX_SEARCH_LIMIT = 200


class SearchMixin(StoreBase):
    """The search part of :class:`~threadkeep.store.ConversationStore`."""

    def search(
        self,
        query: str,
        *,
        role: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: str | None = "active",
        updated_after: dt.datetime | None = None,
        updated_before: dt.datetime | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Page[SearchHit]:
        """Messages and conversation titles matching ``query``, best first (SPEC S5).

        ``query`` is what a person types: words (all must match), ``"exact phrase"``,
        ``prefix*``, ``-excluded``; anything else is text, never syntax. Conversations
        whose title matches come first (``message_id`` ``None``), then messages, each
        ranked by relevance with recency as the tie-break. ``status`` is that of the
        conversation (``active`` by default; ``None``/``"all"`` for every status).
        Pass ``next_cursor`` back as ``cursor`` with the same query and filters for the
        next page. :func:`threadkeep.group_hits` groups a page by conversation.
        """
        if not isinstance(query, str):
            raise InvalidInput(f"query must be text, got {type(query).__name__}")
        parsed = parse(query)
        if parsed.is_empty:
            raise InvalidInput(
                "the search has no word to look for: type at least one word or number "
                "(quotes make a phrase, -word excludes, pre* matches a prefix)"
            )
        where = search_rows.SearchFilter(
            owner=self._owner,
            status=check_conversation_status(status),
            role=None if role is None else check_role(role),
            provider=check_short_text(provider, "provider", optional=True),
            model=check_short_text(model, "model", max_length=200, optional=True),
            updated_after=_check_datetime(updated_after, "updated_after"),
            updated_before=_check_datetime(updated_before, "updated_before"),
        )
        limit = check_limit(limit, maximum=MAX_SEARCH_LIMIT)
        fingerprint = _fingerprint(parsed.include, parsed.exclude, where)
        after = None if cursor is None else search_rows.decode_cursor(cursor, fingerprint)
        with self._db.read() as conn:
            hits, next_key = search_rows.search_page(
                conn, parsed, where, after=after, limit=limit, snippet_chars=SNIPPET_CHARS
            )
        return Page(
            items=hits,
            next_cursor=None
            if next_key is None
            else search_rows.encode_cursor(next_key, fingerprint),
        )


def _fingerprint(*parts: object) -> str:
    """A short digest of the query and filters, so a cursor is only used where it fits."""
    text = json.dumps([repr(p) for p in parts])
    return hashlib.sha256(text.encode()).hexdigest()[:16]
