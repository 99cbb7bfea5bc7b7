"""Routes: a conversation's messages — read by seq, the tail, append, get and update one.

Reading: ``GET …/messages`` pages by seq (``after_seq``/``before_seq``, ``order``,
``limit``); ``next_cursor`` continues in the same order. ``?last=N`` is the tail — the
newest N, oldest first, read without the rest (what a chat view opens on); older
messages then come from ``order=desc&before_seq=<first seq shown>``.

Appending: the body is one message, or ``{"messages": [...]}`` for several written
atomically. A retry with the same idempotency key (in the message, or the
``Idempotency-Key`` header for one message) returns the message stored the first
time and writes nothing; ``expected_last_seq`` makes the append conditional (409 when
someone else appended first). The store does all of it in one transaction.

The append route is ``async`` and uses the async store: the body is checked and the
rows built on the event loop, and the write waits for its (group) commit without a
worker thread (``aio.py``), so the hottest request takes no thread-pool hop at all.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response, status

from threadkeep import models
from threadkeep.errors import InvalidInput
from threadkeep.server.deps import AsyncOwnerStore, OwnerStore
from threadkeep.server.schemas import (
    AppendMessage,
    AppendRequest,
    ConversationId,
    Message,
    MessageId,
    MessageList,
    MessagePage,
    MessageUpdate,
    error_responses,
)

__all__ = ["router"]

router = APIRouter(tags=["messages"])


def _created(answer: Message | MessageList) -> Response:
    """A 201 serialised here.

    A route that returns a model has FastAPI validate it against ``response_model``
    once more; an append is the hottest request there is, so it hands FastAPI the
    finished bytes instead (the declared ``response_model`` still documents them, and
    the Schemathesis test checks they match it).
    """
    json = answer.model_dump_json()
    return Response(json, status.HTTP_201_CREATED, media_type="application/json")


MAX_PAGE = 1000
DEFAULT_PAGE = 100


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=MessagePage,
    responses=error_responses(401, 404, 422, 503),
    summary="Read messages by seq, or the last N",
)
def list_messages(
    conversation_id: ConversationId,
    store: OwnerStore,
    after_seq: Annotated[int | None, Query(ge=0, description="Only seqs above this.")] = None,
    before_seq: Annotated[int | None, Query(ge=0, description="Only seqs below this.")] = None,
    order: Literal["asc", "desc"] = "asc",
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_PAGE, description=f"Default {DEFAULT_PAGE}.")
    ] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=20, description="`next_cursor` of the previous page (same order)."),
    ] = None,
    last: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_PAGE,
            description="The newest N messages, oldest first; takes no other parameter.",
        ),
    ] = None,
) -> models.Page[models.Message]:
    """A page of the conversation's messages in seq order, or its tail (`last`)."""
    if last is not None:
        if any(v is not None for v in (after_seq, before_seq, limit, cursor)) or order != "asc":
            raise InvalidInput(
                "last=N reads the newest N messages and takes no other paging parameter "
                "(after_seq, before_seq, order, limit, cursor)"
            )
        return models.Page(items=store.tail_messages(conversation_id, last))
    descending = order == "desc"
    if cursor is not None:
        after_seq, before_seq = _resume(cursor, descending, after_seq, before_seq)
    size = DEFAULT_PAGE if limit is None else limit
    found = store.get_messages(
        conversation_id,
        after_seq=after_seq,
        before_seq=before_seq,
        limit=size + 1,
        descending=descending,
    )
    items = found[:size]
    more = len(found) > size
    return models.Page(items=items, next_cursor=str(items[-1].seq) if more else None)


def _resume(
    cursor: str, descending: bool, after_seq: int | None, before_seq: int | None
) -> tuple[int | None, int | None]:
    """The seq bounds a cursor continues from (it replaces the bound it moves)."""
    if not cursor.isascii() or not cursor.isdigit():
        raise InvalidInput(f"cursor {cursor!r:.40} is not one this API gave out")
    seq = int(cursor)
    moved = before_seq if descending else after_seq
    if moved is not None:
        name = "before_seq" if descending else "after_seq"
        raise InvalidInput(f"pass cursor or {name}, not both")
    return (after_seq, seq) if descending else (seq, before_seq)


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=Message | MessageList,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 404, 409, 413, 422, 503),
    summary="Append one message, or several atomically",
)
async def append_messages(
    conversation_id: ConversationId,
    body: AppendRequest,
    store: AsyncOwnerStore,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="The idempotency key of a single message (same as its "
            "`idempotency_key` field).",
        ),
    ] = None,
) -> Response:
    """Append one message (the response is that message) or, with
    `{"messages": [...]}`, several in order, all or none (the response lists them).

    Each message's seq is the conversation's next. A message whose idempotency key is
    already stored is returned as stored, not written again.
    """
    if isinstance(body, AppendMessage):
        fields: dict[str, Any] = body.model_dump(exclude={"expected_last_seq"})
        if idempotency_key is not None:
            if fields["idempotency_key"] not in (None, idempotency_key):
                raise InvalidInput(
                    "the Idempotency-Key header and the body's idempotency_key differ; "
                    "send one of them"
                )
            fields["idempotency_key"] = idempotency_key
        message = await store.append_message(
            conversation_id, **fields, expected_last_seq=body.expected_last_seq
        )
        return _created(Message.model_validate(message))
    if idempotency_key is not None:
        raise InvalidInput(
            "the Idempotency-Key header is for appending one message; give each message "
            "of a batch its own idempotency_key"
        )
    drafts = [models.MessageDraft(**message.model_dump()) for message in body.messages]
    written = await store.append_messages(
        conversation_id, drafts, expected_last_seq=body.expected_last_seq
    )
    return _created(MessageList.model_validate(models.Page(items=written)))


@router.get(
    "/conversations/{conversation_id}/messages/{message_id}",
    response_model=Message,
    responses=error_responses(401, 404, 422, 503),
    summary="Get one message",
)
def get_message(
    conversation_id: ConversationId, message_id: MessageId, store: OwnerStore
) -> models.Message:
    return store.get_message(conversation_id, message_id)


@router.patch(
    "/conversations/{conversation_id}/messages/{message_id}",
    response_model=Message,
    responses=error_responses(401, 404, 413, 422, 503),
    summary="Change a stored message",
)
def update_message(
    conversation_id: ConversationId,
    message_id: MessageId,
    body: MessageUpdate,
    store: OwnerStore,
) -> models.Message:
    """Change content, status, metadata or tokens in place (a streaming reply growing,
    a framework's upsert); the seq stays. Fields not sent are left as they are."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return store.update_message(conversation_id, message_id, **changes)
