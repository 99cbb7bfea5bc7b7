"""Routes: a conversation's runs (agent turns), oldest first.

Runs are written by the agent runtime (``send``); the API reads them. A conversation
has few runs per message, so the list is not paged.
"""

from __future__ import annotations

from fastapi import APIRouter

from threadkeep import models
from threadkeep.server.deps import OwnerStore
from threadkeep.server.schemas import ConversationId, RunList, error_responses

__all__ = ["router"]

router = APIRouter(tags=["runs"])


@router.get(
    "/conversations/{conversation_id}/runs",
    response_model=RunList,
    responses=error_responses(401, 404, 422, 503),
    summary="List a conversation's runs",
)
def list_runs(conversation_id: ConversationId, store: OwnerStore) -> models.Page[models.Run]:
    """Every run of the conversation, oldest first, with its status, provider session
    and usage."""
    return models.Page(items=store.list_runs(conversation_id))
