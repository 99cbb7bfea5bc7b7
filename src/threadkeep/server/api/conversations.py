"""Routes: conversations — list (filters, cursor), create, get, patch, delete.

Each route is a plain ``def`` (FastAPI runs it in its threadpool, where the store's
blocking calls belong) that parses its input, calls the caller's store
(``OwnerStore``) and returns what the store returned. Nothing here decides anything
the store decides: an id that is not a UUID, a title too long, another user's
conversation — each is the store's typed error, mapped to HTTP in ``server/errors.py``.
An id that is not a UUID is a 422 before anything is looked up, and another user's
conversation is the same 404 as an id that does not exist: a status never depends on
what exists.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from threadkeep import models
from threadkeep.errors import InvalidInput
from threadkeep.inputs import MAX_LIST_LIMIT
from threadkeep.server.deps import OwnerStore
from threadkeep.server.filters import Filters
from threadkeep.server.schemas import (
    Conversation,
    ConversationCreate,
    ConversationId,
    ConversationPage,
    ConversationUpdate,
    ListStatus,
    error_responses,
)

__all__ = ["router"]

router = APIRouter(tags=["conversations"])


@router.get(
    "/conversations",
    response_model=ConversationPage,
    responses=error_responses(401, 422, 503),
    summary="List conversations",
)
def list_conversations(
    store: OwnerStore,
    filters: Filters,
    status: Annotated[ListStatus, Query(description="`all` for every status.")] = "active",
    pinned_first: Annotated[
        bool, Query(description="Pinned conversations first, then the rest.")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 50,
    cursor: Annotated[
        str | None, Query(description="`next_cursor` of the previous page.", max_length=1000)
    ] = None,
) -> models.Page[models.Conversation]:
    """The caller's conversations, most recently updated first, a keyset page at a time.

    Each item carries `message_count` and a short `preview`. Pass `next_cursor` back
    as `cursor`, with the same filters, for the next page; it stays right while
    conversations are written meanwhile.
    """
    return store.list_conversations(
        status=status,
        **filters.given(),
        pinned_first=pinned_first,
        limit=limit,
        cursor=cursor,
    )


@router.post(
    "/conversations",
    response_model=Conversation,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 409, 413, 422, 503),
    summary="Create a conversation",
)
def create_conversation(
    body: ConversationCreate, store: OwnerStore, request: Request, response: Response
) -> models.Conversation:
    """A new conversation; its URL is in the `Location` header."""
    created = store.create_conversation(**body.create_arguments())
    response.headers["Location"] = str(
        request.url_for("get_conversation", conversation_id=created.id)
    )
    return created


@router.get(
    "/conversations/{conversation_id}",
    response_model=Conversation,
    responses=error_responses(401, 404, 503),
    summary="Get a conversation",
)
def get_conversation(conversation_id: ConversationId, store: OwnerStore) -> models.Conversation:
    return store.get_conversation(conversation_id)


@router.patch(
    "/conversations/{conversation_id}",
    response_model=Conversation,
    responses=error_responses(401, 404, 413, 422, 503),
    summary="Change a conversation",
)
def update_conversation(
    conversation_id: ConversationId, body: ConversationUpdate, store: OwnerStore
) -> models.Conversation:
    """Rename, change the context (replace or merge), pin, tag, archive or unarchive.

    Fields not sent are left as they are. The field changes are written first, then
    the status change, each whole.
    """
    sent = body.model_fields_set
    # Every field but ``status`` is a keyword of ``update_conversation``.
    changes: dict[str, Any] = {name: getattr(body, name) for name in sent - {"status"}}
    result: models.Conversation | None = None
    if changes:
        result = store.update_conversation(conversation_id, **changes)
    if "status" in sent:
        if body.status == "archived":
            result = store.archive_conversation(conversation_id)
        elif body.status == "active":
            result = store.unarchive_conversation(conversation_id)
        else:
            raise InvalidInput("status must be active or archived")
    return result if result is not None else store.get_conversation(conversation_id)


@router.delete(
    "/conversations/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 404, 503),
    summary="Delete a conversation for good",
)
def delete_conversation(conversation_id: ConversationId, store: OwnerStore) -> Response:
    """Deletes the conversation, its messages and its runs (archive with PATCH
    `{"status": "archived"}` to keep it)."""
    store.delete_conversation(conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
