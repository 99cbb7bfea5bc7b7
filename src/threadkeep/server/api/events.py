"""Routes: live events as Server-Sent Events (SPEC S3.6, S8.3).

``GET /events`` streams every event of the caller's conversations, ``GET
/conversations/{id}/events`` one conversation's. Both resume after ``Last-Event-ID``
(the header browsers send when they reconnect, or the ``last_event_id`` query
parameter for a client that cannot set headers) without missing anything;
``server/sse.py`` has the streams and ``docs/events.md`` what they guarantee.

A conversation stream looks the conversation up through the caller's store before it
starts: another user's conversation is the same 404 as an id that does not exist, and
a malformed ``Last-Event-ID`` is a 422, both as JSON errors rather than a stream. The
routes are plain ``def`` (the lookup blocks, so it runs in the threadpool); the stream
itself runs on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from threadkeep.server.deps import OwnerStore, State
from threadkeep.server.errors import ApiError
from threadkeep.server.replay import Position, parse_owner_event_id
from threadkeep.server.schemas import ConversationId, error_responses
from threadkeep.server.sse import ConversationStream, OwnerStream
from threadkeep.server.state import ServerState

__all__ = ["EventStreamResponse", "router"]

router = APIRouter(tags=["events"])


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response."""

    media_type = "text/event-stream"


def _respond(events: AsyncIterator[bytes]) -> EventStreamResponse:
    # Neither a browser nor a proxy may cache the stream or hold it back in a buffer.
    headers = {"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"}
    return EventStreamResponse(events, headers=headers)


LastEventIdHeader = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        description="The id of the last event received: the stream resumes after it.",
        max_length=200,
    ),
]
LastEventIdQuery = Annotated[
    str | None,
    Query(
        description="Same as the `Last-Event-ID` header, for clients that cannot set "
        "headers; the header wins when both are given.",
        max_length=200,
    ),
]

_STREAM_DOC = (
    "Server-Sent Events: `id`, `event` (the event type) and `data` (JSON: `type`, "
    "`conversation_id`, `data`, `at`); `: keep-alive` comments while idle."
)


def _stream_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The 200 as an event stream; errors as the JSON ``Error`` every route returns
    (spelled out: FastAPI would file a ``model`` under the stream's media type)."""
    errors = {
        status: {
            "description": response["description"],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status, response in error_responses(*statuses).items()
    }
    return {200: {"description": _STREAM_DOC}, **errors}


def _check_open(state: ServerState) -> None:
    if state.broker.closing:
        raise ApiError(503, "unavailable", "the server is shutting down; reconnect in a moment")


@router.get(
    "/events",
    response_class=EventStreamResponse,
    status_code=200,
    responses=_stream_responses(401, 422, 503),
    summary="Stream the events of all your conversations",
)
def stream_events(
    store: OwnerStore,
    state: State,
    last_event_id_header: LastEventIdHeader = None,
    last_event_id: LastEventIdQuery = None,
) -> EventStreamResponse:
    """Every change to the caller's conversations, live, as Server-Sent Events.

    Reconnecting with `Last-Event-ID` replays what changed since (see docs/events.md:
    messages one by one; other changes as `conversation.updated` with `replayed`).
    """
    _check_open(state)
    resume = last_event_id_header or last_event_id
    since = parse_owner_event_id(resume) if resume else None
    stream = OwnerStream(store, state.broker, state.settings.sse_heartbeat_seconds, since)
    return _respond(stream.events())


@router.get(
    "/conversations/{conversation_id}/events",
    response_class=EventStreamResponse,
    status_code=200,
    responses=_stream_responses(401, 404, 422, 503),
    summary="Stream the events of one conversation",
)
def stream_conversation_events(
    conversation_id: ConversationId,
    store: OwnerStore,
    state: State,
    last_event_id_header: LastEventIdHeader = None,
    last_event_id: LastEventIdQuery = None,
) -> EventStreamResponse:
    """One conversation's changes, live, as Server-Sent Events.

    Reconnecting with `Last-Event-ID` sends every message appended since, in seq
    order and exactly once, then a `conversation.updated` with `replayed`.
    """
    _check_open(state)
    resume = last_event_id_header or last_event_id
    position = Position.parse(resume) if resume else None
    conversation = store.get_conversation(conversation_id)
    stream = ConversationStream(
        store,
        state.broker,
        state.settings.sse_heartbeat_seconds,
        conversation.id,
        position,
    )
    return _respond(stream.events())
