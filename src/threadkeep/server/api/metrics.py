"""Route: ``GET /metrics``, the Prometheus exposition (SPEC S7.6), at the root.

It asks for the caller like every API route (``Owner``): free on loopback with no API
keys, an API key once any exists. The numbers are the whole server's (every owner's
totals, no owner's data), which is what an operator's scraper needs; the collection
itself is ``server/metrics.py``. A plain ``def``: the database gauges are read at
scrape time, in the thread pool, not on the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from threadkeep.server.deps import Owner, State

__all__ = ["public_router"]

public_router = APIRouter(tags=["metrics"])

_TEXT = "text/plain"
_OPENMETRICS = "application/openmetrics-text"


@public_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Request, store-operation, cleanup and database metrics in the "
            "Prometheus text format (OpenMetrics when the Accept header asks for it).",
            "content": {_TEXT: {"schema": {"type": "string"}}, _OPENMETRICS: {}},
        }
    },
)
def metrics(request: Request, state: State, owner: Owner) -> Response:
    del owner  # asked for its check only: the numbers are not per owner
    body, content_type = state.metrics.exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)
