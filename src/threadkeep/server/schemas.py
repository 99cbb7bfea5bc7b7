"""The shapes of the REST API: request bodies, response models and error responses.

Request bodies are pydantic models with ``extra="forbid"`` and ``strict=True``: an
unknown field or a value of the wrong JSON type (``"true"`` for a boolean, ``"5"`` for
a number) is a 422 naming the field, never silently coerced. They check shape only;
the store checks meaning (a role outside its set, a title too long, a context too
large) and raises the typed errors ``server/errors.py`` maps — one set of rules for the
library, the CLI and the server.

Response models mirror the store's frozen dataclasses (``models.py``) field by field,
so the OpenAPI document says exactly what a client gets; routes return the
dataclasses and FastAPI reads them through these models (``from_attributes``). The
``owner`` of a conversation is not part of a response: a caller only ever sees their
own.

PATCH bodies tell "not given" from ``null`` by the fields the client sent
(``model_fields_set``): ``{"title": null}`` clears the title, ``{}`` changes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, Tag
from pydantic.json_schema import models_json_schema

from threadkeep.models import ConversationStatus, Kind, MessageStatus, Role, RunStatus

__all__ = [
    "SEND_EVENT",
    "SEND_EVENTS",
    "AppendMessage",
    "AppendMessages",
    "AppendRequest",
    "AwareTime",
    "Conversation",
    "ConversationCreate",
    "ConversationCreatedData",
    "ConversationId",
    "ConversationPage",
    "ConversationUpdate",
    "Error",
    "ForkedFrom",
    "Health",
    "HealthDatabase",
    "ImportSummary",
    "ListStatus",
    "Message",
    "MessageId",
    "MessageIn",
    "MessageList",
    "MessagePage",
    "MessageStoredData",
    "MessageUpdate",
    "NoticeData",
    "Run",
    "RunDeltaData",
    "RunFinishedData",
    "RunId",
    "RunList",
    "RunQueuedData",
    "RunStartedData",
    "SearchGroup",
    "SearchHit",
    "SearchPage",
    "SendMessage",
    "SendNewConversation",
    "error_responses",
    "event_stream_responses",
    "send_event_components",
    "send_event_schema",
]

#: What a listing's ``status`` filter takes (``all``: every status).
ListStatus = Literal[ConversationStatus, "all"]

#: A datetime filter in a query; without a time zone it is a 422 (never guessed).
AwareTime = Annotated[
    AwareDatetime | None,
    Query(description="ISO 8601 with a time zone, e.g. 2025-01-31T00:00:00Z."),
]

#: A conversation id in a path. The store checks it: not a UUID is a 422 before
#: anything is looked up, so the status never depends on what exists.
ConversationId = Annotated[
    str,
    Path(
        description="The conversation's UUID.",
        json_schema_extra={"format": "uuid"},
        examples=["0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c"],
    ),
]

#: A run id in a path; not a UUID is a 422, like a conversation id.
RunId = Annotated[
    str,
    Path(
        description="The run's UUID.",
        json_schema_extra={"format": "uuid"},
        examples=["0192f0c4-9b1d-7e02-8c4a-5d3e2f1a0b9c"],
    ),
]

#: A message id in a path: a UUID or the caller's stable string id.
MessageId = Annotated[
    str,
    Path(description="The message's id: a UUID, or the caller's stable string id."),
]


class _Body(BaseModel):
    """A request body: unknown fields and loosely typed values are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Out(BaseModel):
    """A response, read from the store's dataclasses by attribute."""

    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- errors


class Error(BaseModel):
    """Every error the API returns: a stable code and a sentence for a person."""

    code: str = Field(
        description="Stable, machine-readable: not_found, invalid_input, conflict, "
        "too_large, unauthorized, store_unavailable, …",
        examples=["not_found"],
    )
    message: str = Field(
        description="What was wrong and what to do about it.",
        examples=["conversation 0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c not found"],
    )


_ERROR_DESCRIPTIONS = {
    401: "An API key is required, or the one given is not valid.",
    404: "No such object for this user (another user's object is the same 404).",
    409: "The write contradicts the current state (someone else wrote first, id taken).",
    413: "The request body, or a value in it, is over a size limit.",
    422: "A parameter or the body is invalid; the message names it.",
    503: "The database cannot be used right now.",
}


def event_stream_responses(
    status: int,
    description: str,
    *statuses: int,
    event_schema: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that answers ``status`` with an event stream.

    The errors are the JSON :class:`Error`, spelled out under ``application/json``
    (given as a ``model``, FastAPI would file them under the stream's media type).
    ``event_schema``: what each event is (Open API 3.1 reads the ``schema`` of an event
    stream as one event's; FastAPI would say ``string``). ``headers``: the stream
    response's headers (``Location``), as OpenAPI names them.
    """
    errors = {
        code: {
            "description": response["description"],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, response in error_responses(*statuses).items()
    }
    stream: dict[str, Any] = {"description": description}
    if event_schema is not None:
        stream["content"] = {"text/event-stream": {"schema": event_schema}}
    if headers:
        stream["headers"] = headers
    return {status: stream, **errors}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each status with the :class:`Error` body.

    422 replaces FastAPI's default validation-error schema (ours is ``Error`` too);
    401, 413 and 503 can answer any route that needs a key, takes a body or reads the
    database, so every route lists what it can return.
    """
    return {
        status: {"model": Error, "description": _ERROR_DESCRIPTIONS[status]}
        for status in sorted(statuses)
    }


# ---------------------------------------------------------------- conversations


class ForkedFrom(_Out):
    """Where a forked conversation was branched: the source and its last copied seq."""

    conversation_id: str
    seq: int


class Conversation(_Out):
    """A thread of messages (SPEC S1)."""

    id: str = Field(description="UUID (time-ordered when generated).")
    title: str | None
    mode: str = Field(description="Free short string chosen by the app (chat, batch, …).")
    provider: str | None = Field(description="Fixed by the first run; null until then.")
    provider_session_id: str | None
    model: str | None = Field(description="The last model used.")
    context: dict[str, Any] = Field(description="JSON object the app owns.")
    status: ConversationStatus
    pinned: bool
    tags: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime = Field(
        description="Moves on every message, rename and run end: the listing order."
    )
    message_count: int
    last_seq: int
    token_count: int
    preview: str | None = Field(description="The start of the latest user/assistant text.")
    forked_from: ForkedFrom | None
    trashed_at: dt.datetime | None = Field(
        description="When cleanup moved it to the trash (status trash); null otherwise."
    )


class ConversationPage(_Out):
    """One page of conversations, most recently updated first."""

    items: list[Conversation]
    next_cursor: str | None = Field(
        description="Pass back as `cursor` (with the same filters) for the next page; "
        "null on the last page."
    )


class ConversationCreate(_Body):
    """A new conversation; every field is optional."""

    id: str | None = Field(
        default=None,
        description="A UUID of the caller's choosing; a UUIDv7 is made when omitted. "
        "409 when it is already in use.",
    )
    title: str | None = None
    mode: str = Field(default="chat", description="Free short string (1-64 characters).")
    context: dict[str, Any] | None = Field(
        default=None, description="JSON object the app owns (default {})."
    )
    tags: list[str] = Field(default_factory=list)
    pinned: bool = False

    def create_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``create_conversation`` this body stands for."""
        return {
            "id": self.id,
            "title": self.title,
            "mode": self.mode,
            "context": self.context,
            "tags": self.tags,
            "pinned": self.pinned,
        }


class ConversationUpdate(_Body):
    """The fields to change; those not sent are left as they are.

    ``title: null`` clears the title. ``context`` replaces the context object;
    ``context_merge`` applies an RFC 7396 merge patch to it (a null value deletes a
    key) — send one or the other. ``status`` archives (``archived``) or brings back
    (``active``) the conversation. Only a title change moves ``updated_at``.
    """

    title: str | None = None
    context: dict[str, Any] | None = None
    context_merge: dict[str, Any] | None = None
    pinned: bool | None = None
    tags: list[str] | None = None
    mode: str | None = None
    status: Literal["active", "archived"] | None = None


# ---------------------------------------------------------------- messages


class Message(_Out):
    """One stored message; ``seq`` is 1, 2, 3, … gapless within its conversation."""

    id: str = Field(description="A UUID, or the caller's stable string id.")
    conversation_id: str
    seq: int
    role: Role
    kind: Kind
    content: str
    status: MessageStatus
    metadata: Any = Field(description="JSON or null (a framework's raw item lives here).")
    tokens: int | None
    run_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class MessagePage(_Out):
    """Messages in seq order (ascending unless ``order=desc``)."""

    items: list[Message]
    next_cursor: str | None = Field(
        description="Pass back as `cursor` (with the same order) for the next page; "
        "null when there is nothing further."
    )


class MessageList(_Out):
    """The messages an append wrote (or found, for an idempotent retry), in order."""

    items: list[Message]


class MessageIn(_Body):
    """One message to append."""

    role: Role
    content: str
    kind: Kind = "text"
    metadata: Any = None
    tokens: int | None = Field(default=None, ge=0)
    run_id: str | None = None
    status: MessageStatus = "complete"
    id: str | None = Field(
        default=None,
        description="A UUID or a stable string id of the caller's (1-200 visible "
        "characters); generated when omitted.",
    )
    idempotency_key: str | None = Field(
        default=None,
        max_length=200,
        description="A retry with the same key returns the first result and writes nothing.",
    )


class AppendMessage(MessageIn):
    """Append one message; the response is that message."""

    expected_last_seq: int | None = Field(
        default=None,
        ge=0,
        description="409 unless the conversation's last seq is this (someone else appended first).",
    )


class AppendMessages(_Body):
    """Append several messages atomically (all or none), in order."""

    messages: list[MessageIn] = Field(min_length=1, max_length=1000)
    expected_last_seq: int | None = Field(
        default=None,
        ge=0,
        description="409 unless the conversation's last seq is this.",
    )


def _append_kind(value: Any) -> str:
    return "many" if isinstance(value, dict) and "messages" in value else "one"


#: The body of ``POST …/messages``: one message, or ``{"messages": [...]}``.
AppendRequest = Annotated[
    Annotated[AppendMessage, Tag("one")] | Annotated[AppendMessages, Tag("many")],
    Discriminator(_append_kind),
]


class MessageUpdate(_Body):
    """The fields of a stored message to change (a streaming reply growing, an upsert).

    Fields not sent are left as they are; ``metadata: null`` clears the metadata.
    """

    content: str | None = None
    status: MessageStatus | None = None
    metadata: Any = None
    tokens: int | None = Field(default=None, ge=0)


# ---------------------------------------------------------------- runs


class Run(_Out):
    """One agent turn on a conversation."""

    id: str
    conversation_id: str
    provider: str
    model: str | None
    status: RunStatus
    resumed_session_id: str | None
    provider_session_id: str | None
    retried_without_resume: bool
    error: str | None
    usage: dict[str, Any] | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class RunList(_Out):
    """A conversation's runs, oldest first."""

    items: list[Run]


# ---------------------------------------------------------------- send


class SendMessage(_Body):
    """The user's next message, for the agent runtime to answer (SPEC S4)."""

    text: str = Field(
        min_length=1,
        description="The message. It is stored as the user's, then the reply streams.",
    )
    provider: str | None = Field(
        default=None,
        description="The model provider (`echo`, `openai`, ...): the conversation's, or "
        "the one to start it with. Default: the conversation's, else `echo`. Another "
        "than the conversation's is 409 (a conversation keeps its provider).",
    )
    model: str | None = Field(
        default=None,
        description="Passed to the provider; becomes the conversation's last model.",
    )


class SendNewConversation(ConversationCreate, SendMessage):
    """A new conversation (the fields of ``POST /conversations``, all optional) and its
    first message (``text``, with ``provider`` and ``model`` as for any send)."""


# The ``data`` of each event of a send's stream (``api/send.py`` builds the events from
# these, so the stream is what the OpenAPI document says).


class ConversationCreatedData(_Out):
    """``conversation.created``: the conversation ``POST /send`` made (its first event)."""

    conversation: Conversation


class RunQueuedData(_Out):
    """``run.queued``: the send waits for the conversation's turn (another run is going)."""


class RunStartedData(_Out):
    """``run.started``: the run, and the user's message stored (null: the store failed,
    see the ``notice``)."""

    run: Run | None
    user_message: Message | None


class RunDeltaData(_Out):
    """``run.delta``: the next piece of the reply, stored before it is sent."""

    text: str


class MessageStoredData(_Out):
    """``message.stored``: a message of the reply written whole (a finished text, a tool
    call or a tool result)."""

    message: Message


class NoticeData(_Out):
    """``notice``: a warning for the person (the history could not be read, or the
    reply is not being saved, SPEC S4.8)."""

    text: str


class RunFinishedData(_Out):
    """``run.finished``, the last event: the run as it ended (``completed``, ``failed``
    or ``cancelled``), the whole reply streamed, and why it did not complete."""

    run: Run | None
    reply: str
    error: str | None


#: Each event of a send's stream and the model of its ``data``; ``error`` (a refusal
#: that came after the stream began) carries the JSON error body.
SEND_EVENTS: dict[str, type[BaseModel]] = {
    "conversation.created": ConversationCreatedData,
    "run.queued": RunQueuedData,
    "run.started": RunStartedData,
    "run.delta": RunDeltaData,
    "message.stored": MessageStoredData,
    "notice": NoticeData,
    "run.finished": RunFinishedData,
    "error": Error,
}

_COMPONENT = "#/components/schemas/{model}"
#: The component that describes one event of a send's stream.
SEND_EVENT = "SendEvent"


def _sse_event_schema(kind: str, model: type[BaseModel]) -> dict[str, Any]:
    """One event on the wire, as Open API 3.1 describes an event stream's item: its
    ``data`` a JSON envelope (``sse.frame``) around ``model``."""
    envelope = {
        "type": "object",
        "required": ["type", "conversation_id", "data", "at"],
        "properties": {
            "type": {"const": kind},
            "conversation_id": {"type": "string", "format": "uuid"},
            "data": {"$ref": _COMPONENT.format(model=model.__name__)},
            "at": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": kind},
            "id": {"type": "string"},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": envelope,
            },
        },
    }


def send_event_components() -> dict[str, Any]:
    """The component schemas of a send's stream, for the app's OpenAPI document (no
    route names them as a model): :data:`SEND_EVENT`, one event on the wire, and the
    models of the events' ``data`` with what they refer to."""
    _, top = models_json_schema(
        [(model, "serialization") for model in SEND_EVENTS.values()], ref_template=_COMPONENT
    )
    components: dict[str, Any] = dict(top.get("$defs", {}))
    events = [_sse_event_schema(kind, model) for kind, model in SEND_EVENTS.items()]
    components[SEND_EVENT] = {
        "title": SEND_EVENT,
        "description": "One event of a send's stream: `event` names it, `data` is its "
        "JSON envelope (`type`, `conversation_id`, `data`, `at`), `id` the position in "
        "the conversation's event stream.",
        "oneOf": events,
    }
    return components


def send_event_schema() -> dict[str, Any]:
    """The ``schema`` of a send's ``text/event-stream``: one event (Open API 3.1)."""
    # "type" also replaces the "string" FastAPI files for a streaming response's schema.
    return {"type": "object", "$ref": _COMPONENT.format(model=SEND_EVENT)}


# ---------------------------------------------------------------- search


class SearchHit(_Out):
    """A message, or a conversation whose title matched (``message_id`` null)."""

    conversation_id: str
    conversation_title: str | None
    message_id: str | None
    seq: int | None
    role: Role | None
    snippet: str = Field(
        description="HTML: the text escaped, matched words wrapped in <mark>…</mark>."
    )
    score: float = Field(description="Higher is better; compare within one result list.")
    created_at: dt.datetime
    updated_at: dt.datetime


class SearchGroup(_Out):
    """A conversation's hits on this page, in the order of its best hit."""

    conversation_id: str
    conversation_title: str | None
    hits: list[SearchHit]


class SearchPage(_Out):
    """One page of hits, best first: title hits, then message hits."""

    items: list[SearchHit]
    next_cursor: str | None = Field(
        description="Pass back as `cursor` with the same query and filters; null on the last page."
    )
    groups: list[SearchGroup] | None = Field(
        default=None, description="This page's hits grouped by conversation (`group=true`)."
    )


# ---------------------------------------------------------------- transfer


class ImportSummary(_Out):
    """What an import did (all or nothing: on an error nothing was written)."""

    format: str = Field(description="The format read.")
    files: int
    conversations_imported: int
    messages_imported: int
    conversations_updated: int = Field(
        description="Conversations imported before whose source had grown."
    )
    messages_appended: int = Field(description="Messages added to those.")
    conversations_skipped: int = Field(description="Already imported (or changed: see warnings).")
    ids_renamed: int = Field(description="Conversations given a new id because theirs was taken.")
    redacted: dict[str, int] = Field(description="What redaction on write masked, by kind.")
    warnings: list[str]


# ---------------------------------------------------------------- health


class HealthDatabase(BaseModel):
    engine: Literal["sqlite", "postgresql"]
    reachable: bool


class Health(BaseModel):
    """The server answers and its database can be read. Nothing private."""

    status: Literal["ok"]
    version: str
    database: HealthDatabase
