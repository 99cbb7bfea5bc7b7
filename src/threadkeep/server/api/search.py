"""Route: full-text search over the caller's messages and conversation titles (SPEC S5).

``q`` is what a person types — words (all must match), ``"exact phrase"``,
``prefix*``, ``-excluded`` — and anything else is text, never syntax, so no query is
an error except one with no word at all (422). Hits come ranked (title hits first),
with an HTML snippet whose matches are in ``<mark>``; ``group=true`` adds the page's
hits grouped by conversation, for a sidebar.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from threadkeep import models
from threadkeep.models import Role
from threadkeep.server.deps import OwnerStore
from threadkeep.server.schemas import AwareTime, ListStatus, SearchPage, error_responses
from threadkeep.store.search import MAX_SEARCH_LIMIT

__all__ = ["router"]

router = APIRouter(tags=["search"])


@router.get(
    "/search",
    response_model=SearchPage,
    responses=error_responses(401, 422, 503),
    summary="Search messages and titles",
)
def search(
    store: OwnerStore,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="What to look for.")],
    role: Role | None = None,
    provider: str | None = None,
    model: str | None = None,
    status: Annotated[
        ListStatus, Query(description="The conversations' status; `all` for every one.")
    ] = "active",
    updated_after: AwareTime = None,
    updated_before: AwareTime = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SEARCH_LIMIT)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")
    ] = None,
    group: Annotated[bool, Query(description="Also group the hits by conversation.")] = False,
) -> dict[str, object]:
    """Hits best first (relevance, then recency), a page at a time."""
    page = store.search(
        q,
        role=role,
        provider=provider,
        model=model,
        status=status,
        updated_after=updated_after,
        updated_before=updated_before,
        limit=limit,
        cursor=cursor,
    )
    return {
        "items": page.items,
        "next_cursor": page.next_cursor,
        "groups": models.group_hits(page.items) if group else None,
    }
