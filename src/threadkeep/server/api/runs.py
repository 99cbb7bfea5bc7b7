"""Routes: runs (agent turns) — a conversation's, one by id, and cancelling one.

Runs are written by the agent runtime (``api/send.py``); the API reads them, and
cancels one that is running. A conversation has few runs per message, so its list is
not paged. Every lookup goes through the caller's store: another user's run is the
same 404 as an id that does not exist, also for a cancel.

**Cancel** calls one function, ``RunQueue.cancel_run``: it finds the run (404), refuses
a finished one (409), cancels the task running it when this process runs it, and
otherwise flags it for the process that holds its turn (``runtime/run_queue.py``). A
run of this server is waited for — the runtime records it ``cancelled`` (what streamed
so far stays stored, ``incomplete``) and its send's stream ends saying so — and is
answered 200 as it ended. A run of another process is answered 202: that process
cancels it within a second or so, and its stream says so.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response, status

from threadkeep import models
from threadkeep.errors import Conflict
from threadkeep.server.deps import AsyncOwnerStore, OwnerStore, State
from threadkeep.server.schemas import ConversationId, Run, RunId, RunList, error_responses

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


@router.get(
    "/runs/{run_id}",
    response_model=Run,
    responses=error_responses(401, 404, 422, 503),
    summary="Get a run",
)
def get_run(run_id: RunId, store: OwnerStore) -> models.Run:
    """One run: its status (`running` until it ends), provider session, usage, error."""
    return store.get_run(run_id)


_CANCELLED_ELSEWHERE = (
    "Another server process runs it: it was asked to cancel the run, and does within "
    "a second or so. The run as it was when asked."
)


@router.post(
    "/runs/{run_id}/cancel",
    response_model=Run,
    responses={
        **error_responses(401, 404, 409, 422, 503),
        202: {"model": Run, "description": _CANCELLED_ELSEWHERE},
    },
    summary="Cancel a running run",
)
async def cancel_run(
    run_id: RunId, store: AsyncOwnerStore, state: State, response: Response
) -> models.Run:
    """Stop a run that is going: its send's stream ends with `run.finished`, the run
    `cancelled` and what was streamed so far kept, `incomplete`.

    200: the run as it ended — `cancelled`, or `completed`/`failed` if it ended before
    the cancel reached it. 409 when the run is over already, or when no live process
    runs it (the one that did stopped; the run is marked `interrupted`).
    """
    here = state.queue.task_of(run_id)  # looked up first: it is forgotten when it ends
    if not await state.queue.cancel_run(store, run_id):
        raise Conflict(
            f"run {run_id} is not running in any live server process (the process that "
            "ran it stopped, and the run will be marked interrupted); there is nothing "
            "to cancel"
        )
    if here is None:
        response.status_code = status.HTTP_202_ACCEPTED
    else:
        await asyncio.wait({here})  # the runtime records the run's end, then the task ends
    return await store.get_run(run_id)
