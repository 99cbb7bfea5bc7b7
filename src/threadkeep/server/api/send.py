"""Routes: send a message and stream the turn (SPEC S8.1 ``send``, S4).

``POST /conversations/{id}/send`` runs one turn of the agent runtime
(``runtime/send.py``) — the user's message stored, the provider's reply streamed and
stored as it grows, the run finished — and streams it to the caller as Server-Sent
Events. ``POST /send`` creates a conversation (the fields of ``POST /conversations``)
and sends its first message in one call: the new conversation's URL is in
``Location``, and the conversation itself is the stream's first event.

**One task per send.** The turn runs in a task of its own (:class:`_Send`), which
consumes ``Runtime.send`` and hands each event to the response through a queue. The
runtime marks that task as the one running the run (``RunQueue.running``), so ``POST
/runs/{id}/cancel`` (``api/runs.py``) cancels exactly it: the run finishes
``cancelled`` — what streamed so far stays stored, ``incomplete`` — and the stream ends
with a ``run.finished`` that says so. When the response ends any other way (the client
went away, the server gave up on it at shutdown) the task is cancelled too: a run that
nobody reads is not left running. A slow reader never slows the run down: the queue
between them is unbounded (a reply is at most a message's size, and it is stored
before it is queued).

**Errors are JSON until the stream starts.** The response starts with the runtime's
first event, ``run.started``, so what the runtime refuses before it starts a run —
a conversation that is not the caller's (404), a provider other than the
conversation's (409, S4.4), an unknown provider, a blank message (422) — is the
ordinary JSON error with its status. A send to a busy conversation waits for its turn
(S4.5, behind sends of this process or another) before its run starts, possibly for
minutes; if it has not started within ``sse_heartbeat_seconds`` — when an idle stream
would send its first keep-alive — the stream starts with ``run.queued``, so that
neither the client nor a proxy gives up on a response that does not begin. A refusal
that comes after that is an ``error`` event (the provider conflict, for instance, can
only be decided when the turn comes: the run ahead may be the one that fixes the
conversation's provider). A ``POST /send`` refused before its stream started deletes
the conversation it made.

**The stream** is written as ``sse.py`` writes the event streams: ``event`` is the
type, ``data`` the JSON envelope (``type``, ``conversation_id``, ``data``, ``at``),
``: keep-alive`` comments while the provider is silent. The ids are the conversation
stream's positions (``<seq>:<µs>`` of the latest message of the turn stored as of the
event), so a client whose send stream broke follows ``GET /conversations/{id}/events``
with the last id it got and misses nothing that was stored. The runtime's events map
one to one — ``RunStarted`` → ``run.started``, ``ReplyDelta`` → ``run.delta``,
``Stored`` → ``message.stored``, ``Notice`` → ``notice``, ``RunFinished`` →
``run.finished`` — with runs and messages as the REST API returns them
(``docs/server.md`` has each event's data).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from starlette.types import Receive, Scope
from starlette.types import Send as AsgiSend

from threadkeep import models
from threadkeep.errors import ThreadkeepError
from threadkeep.runtime.run_queue import stop_task
from threadkeep.runtime.send import (
    Notice,
    ReplyDelta,
    RunStarted,
    Runtime,
    SendEvent,
    Stored,
)
from threadkeep.server.api.events import EventStreamResponse
from threadkeep.server.deps import OwnerRuntime, State
from threadkeep.server.errors import ApiError
from threadkeep.server.replay import Position
from threadkeep.server.schemas import (
    ConversationCreatedData,
    ConversationId,
    Error,
    MessageStoredData,
    NoticeData,
    RunDeltaData,
    RunFinishedData,
    RunQueuedData,
    RunStartedData,
    SendMessage,
    SendNewConversation,
    event_stream_responses,
    send_event_schema,
)
from threadkeep.server.sse import HEARTBEAT, frame
from threadkeep.server.state import Sends, SendTask, ServerState

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["send"])

# Neither a browser nor a proxy may cache the stream or hold it back in a buffer.
_HEADERS = {"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"}

_STREAM_DOC = (
    "Server-Sent Events, written as the event streams are (`id`, `event`, and `data`: "
    "JSON `type`, `conversation_id`, `data`, `at`; `: keep-alive` comments while the "
    "provider is silent). Events: `run.queued` (only if the send is still waiting for "
    "its turn after `sse_heartbeat_seconds`), `run.started` (`run`, `user_message`), "
    "`run.delta` (`text`), `message.stored` (`message`), `notice` (`text`: a warning "
    "for the person), and last `run.finished` (`run`, `reply`, `error`) — or `error` "
    "(`code`, `message`) if the send was refused after the stream began. Ids are "
    "positions of the conversation's event stream (`<seq>:<µs>`)."
)


_EVENT_SCHEMA = send_event_schema()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class _Ended:
    """The send's task is over: normally, cancelled, or failed with ``error``."""

    cancelled: bool = False
    error: Exception | None = None


class _Send:
    """One send, run in its own task; its events reach the response through a queue."""

    def __init__(
        self, runtime: Runtime, sends: Sends, conversation_id: str, body: SendMessage
    ) -> None:
        self.conversation_id = conversation_id
        self._runtime = runtime
        self._events: asyncio.Queue[SendEvent | _Ended] = asyncio.Queue()
        self._position: Position | None = None
        self._run: models.Run | None = None
        self._reply: list[str] = []
        self.task: SendTask = sends.start(self._pump(body.text, body.provider, body.model))

    async def _pump(self, text: str, provider: str | None, model: str | None) -> None:
        try:
            events = self._runtime.send(self.conversation_id, text, provider=provider, model=model)
            # Read to its end: an error or a cancellation ends the generator with it.
            async for event in events:
                self._events.put_nowait(event)
        except asyncio.CancelledError:
            self._events.put_nowait(_Ended(cancelled=True))
            raise
        except Exception as error:  # the response reports it (JSON, or the last event)
            self._events.put_nowait(_Ended(error=error))
        else:
            self._events.put_nowait(_Ended())

    async def first(self, patience: float) -> SendEvent | None:
        """The runtime's first event (``RunStarted``), or ``None`` when it has not come
        within ``patience`` seconds (the send waits for its turn). A send refused
        before its run started raises the refusal (the route's JSON error)."""
        try:
            item = await asyncio.wait_for(self._events.get(), patience)
        except TimeoutError:
            return None
        except BaseException:
            stop_task(self.task)  # the request itself was cancelled
            raise
        if isinstance(item, _Ended):
            if item.error is not None:
                raise item.error
            if item.cancelled:
                raise ApiError(
                    503, "unavailable", "the server is shutting down; send again in a moment"
                )
            raise RuntimeError("the send ended without starting its run")  # a runtime bug
        return item

    def created(self, conversation: models.Conversation) -> bytes:
        """The first event of ``POST /send``: the conversation it made."""
        self._position = Position(0, 0)  # a new conversation: no message yet
        data = ConversationCreatedData.model_validate({"conversation": conversation})
        return self._emit("conversation.created", data, conversation.created_at)

    def opening(self, first: SendEvent | None) -> bytes:
        """The event the stream opens with: ``first``, or ``run.queued`` without it."""
        if first is None:
            return self._emit("run.queued", RunQueuedData(), _now())
        return self._frame(first)

    def response(
        self,
        opening: list[bytes],
        state: ServerState,
        status_code: int,
        headers: dict[str, str] | None = None,
    ) -> _SendResponse:
        stream = self._stream(opening, state.settings.sse_heartbeat_seconds)
        return _SendResponse(self.task, stream, status_code, {**_HEADERS, **(headers or {})})

    async def _stream(self, opening: list[bytes], heartbeat: float) -> AsyncIterator[bytes]:
        for chunk in opening:
            yield chunk
        while True:
            try:
                item = self._events.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    item = await asyncio.wait_for(self._events.get(), heartbeat)
                except TimeoutError:
                    yield HEARTBEAT
                    continue
            if isinstance(item, _Ended):
                if item.cancelled or item.error is not None:
                    yield await self._ending(item)
                return
            yield self._frame(item)

    def _frame(self, event: SendEvent) -> bytes:
        # The models take the runtime's dataclasses as they are (``from_attributes``).
        if isinstance(event, ReplyDelta):
            self._reply.append(event.text)
            return self._emit("run.delta", RunDeltaData(text=event.text), _now())
        if isinstance(event, Stored):
            self._position = Position.of(event.message)
            stored = MessageStoredData.model_validate({"message": event.message})
            return self._emit("message.stored", stored, event.message.updated_at)
        if isinstance(event, Notice):
            return self._emit("notice", NoticeData(text=event.text), _now())
        if isinstance(event, RunStarted):
            self._run = event.run
            if event.user_message is not None:
                self._position = Position.of(event.user_message)
            started = RunStartedData.model_validate(
                {"run": event.run, "user_message": event.user_message}
            )
            at = None if event.run is None else event.run.started_at
            return self._emit("run.started", started, at or _now())
        return self._finished(event.run, event.reply, event.error)

    def _finished(self, run: models.Run | None, reply: str, error: str | None) -> bytes:
        data = RunFinishedData.model_validate({"run": run, "reply": reply, "error": error})
        at = None if run is None else run.finished_at
        return self._emit("run.finished", data, at or _now())

    async def _ending(self, ended: _Ended) -> bytes:
        """The last event of a send that did not run to its end: cancelled, or failed."""
        code, message = "cancelled", None
        if ended.error is not None:
            error = ended.error
            if isinstance(error, ThreadkeepError):
                code, message = error.code, str(error)
            else:
                log.error("send failed: %s", type(error).__name__, exc_info=error)
                code, message = "internal", "internal server error; the server log has the details"
        if self._run is None:  # refused while it waited for its turn: no run was started
            message = message or "the send was stopped before its run started"
            return self._emit("error", Error(code=code, message=message), _now())
        # The runtime recorded how the run ended before it let the task end; read it back.
        run: models.Run | None
        try:
            run = await self._runtime.store.get_run(self._run.id)
        except ThreadkeepError as failure:
            log.warning("send: run %s could not be read back (%s)", self._run.id, failure.code)
            run = None
        return self._finished(run, "".join(self._reply), message)

    def _emit(self, kind: str, data: BaseModel, at: dt.datetime) -> bytes:
        event_id = None if self._position is None else self._position.event_id
        return frame(event_id, kind, self.conversation_id, data.model_dump(mode="json"), at)


class _SendResponse(EventStreamResponse):
    """A send's event stream: when it ends, however it ends, the send's task stops."""

    def __init__(
        self,
        task: SendTask,
        content: AsyncIterator[bytes],
        status_code: int,
        headers: dict[str, str],
    ) -> None:
        super().__init__(content, status_code=status_code, headers=headers)
        self._task = task

    async def __call__(self, scope: Scope, receive: Receive, send: AsgiSend) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Over already, unless the client went away or the server gave up on the
            # response: then the run is cancelled, not left running unread.
            stop_task(self._task)


def _check_open(state: ServerState) -> None:
    if state.broker.closing:
        raise ApiError(503, "unavailable", "the server is shutting down; send again in a moment")


@router.post(
    "/conversations/{conversation_id}/send",
    response_class=EventStreamResponse,
    responses=event_stream_responses(
        200, _STREAM_DOC, 401, 404, 409, 413, 422, 503, event_schema=_EVENT_SCHEMA
    ),
    summary="Send a message and stream the reply",
)
async def send_message(
    conversation_id: ConversationId, body: SendMessage, runtime: OwnerRuntime, state: State
) -> Response:
    """Store `text` as the user's next message, run the conversation's provider on it
    and stream the turn as Server-Sent Events; the reply is stored as it grows.

    Sends to one conversation run one at a time, in order: a send to a busy
    conversation waits for its turn. `POST /runs/{run_id}/cancel` (the id is in
    `run.started`) stops the run, as does closing the connection.
    """
    _check_open(state)
    send = _Send(runtime, state.sends, conversation_id, body)
    first = await send.first(state.settings.sse_heartbeat_seconds)
    return send.response([send.opening(first)], state, status.HTTP_200_OK)


_LOCATION = {
    "Location": {
        "description": "The new conversation's URL.",
        "schema": {"type": "string", "format": "uri-reference"},
    }
}


@router.post(
    "/send",
    response_class=EventStreamResponse,
    status_code=status.HTTP_201_CREATED,
    responses=event_stream_responses(
        201,
        "The conversation made comes first (`conversation.created`: `conversation`); "
        "the rest as for a send to a conversation. " + _STREAM_DOC,
        401,
        409,
        413,
        422,
        503,
        event_schema=_EVENT_SCHEMA,
        headers=_LOCATION,
    ),
    summary="Start a conversation with a message and stream the reply",
)
async def send_new_conversation(
    body: SendNewConversation, runtime: OwnerRuntime, state: State, request: Request
) -> Response:
    """Create a conversation (as `POST /conversations`) and send it `text`, in one call.

    The new conversation's URL is in the `Location` header and the conversation is the
    stream's first event (`conversation.created`); the turn streams as with
    `POST /conversations/{conversation_id}/send`. If the send is refused before the
    stream begins (an unknown provider, bad input), the conversation is not kept.
    """
    _check_open(state)
    store = runtime.store
    conversation = await store.create_conversation(**body.create_arguments())
    send = _Send(runtime, state.sends, conversation.id, body)
    try:
        first = await send.first(state.settings.sse_heartbeat_seconds)
    except Exception:
        await _forget(runtime, conversation.id)
        raise
    location = str(request.url_for("get_conversation", conversation_id=conversation.id))
    opening = [send.created(conversation), send.opening(first)]
    return send.response(opening, state, status.HTTP_201_CREATED, {"Location": location})


async def _forget(runtime: Runtime, conversation_id: str) -> None:
    """Delete the conversation made for a send refused before its stream began (with
    what the refused turn left in it: a cancelled run at most). The refusal is what the
    caller is told; this tidies up after it."""
    try:
        await runtime.store.delete_conversation(conversation_id)
    except ThreadkeepError as error:
        log.warning(
            "send: the conversation %s made for a refused send was left (%s)",
            conversation_id,
            error.code,
        )
