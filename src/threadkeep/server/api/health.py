"""Route: health — the server answers and its database can be read.

It needs no API key, so it says nothing private: the status, the threadkeep version
and the database engine, never a path, URL, owner or count. A database that cannot be
read is a 503 with the usual error body; why is in the server log, not the response.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter

from threadkeep import __version__
from threadkeep.errors import ThreadkeepError
from threadkeep.server.deps import State
from threadkeep.server.errors import ApiError
from threadkeep.server.schemas import Health, error_responses

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    responses=error_responses(503),
    summary="Is the server up and its database readable?",
)
def health(state: State) -> dict[str, Any]:
    """`status: ok` with the version and the database engine, or 503. No key needed."""
    try:
        # One indexed read on the ordinary read path (what requests use); the result
        # is not used, and it is the same cost however large the database.
        state.store.list_conversations(limit=1)
    except Exception as error:  # any failure to read means: not healthy
        detail = error if isinstance(error, ThreadkeepError) else type(error).__name__
        log.error("health check: the database cannot be read: %s", detail)
        raise ApiError(
            503,
            "store_unavailable",
            "the database cannot be read right now; the server log says why",
        ) from None
    engine = state.store.database.dialect
    return {
        "status": "ok",
        "version": __version__,
        "database": {"engine": engine, "reachable": True},
    }
