"""Routes: the web page and the HTML fragments it swaps in (SPEC S10).

The page is server-rendered: ``GET /`` (no conversation open: a new chat) and
``GET /c/{id}`` (that conversation open; ``?message=<id>`` opens it at that message,
as a search hit does) return the whole page, so the URL is the state and a reload
restores it. The parts that change are HTML fragments under ``/web/``, fetched by
htmx or the page's scripts: the sidebar's list one page at a time, search hits,
pages of older (or newer) messages. Everything that *changes* data — send, cancel,
rename, pin, archive, delete, export — goes through the REST API (``/api/v1``), the
same routes every other client uses, authenticated by the session cookie and guarded
against CSRF like any other state-changing request (``security.py``).

Nothing here loads a whole history: the sidebar reads a keyset page of conversations
(``list_conversations``: titles and previews, no messages) and a conversation opens
with its last :data:`MESSAGE_PAGE` messages; more come as the person scrolls.

A page request without a valid identity is sent to ``/login`` (when keys are in use);
a fragment request gets the API's JSON 401, on which the page's script goes to
``/login`` itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from threadkeep.aio import AsyncConversationStore
from threadkeep.errors import InvalidInput, NotFound
from threadkeep.models import Conversation, Message
from threadkeep.runtime.providers.registry import providers
from threadkeep.runtime.send import DEFAULT_PROVIDER
from threadkeep.server.deps import AsyncOwnerStore, async_owner_store
from threadkeep.server.errors import ApiError
from threadkeep.server.schemas import ConversationId
from threadkeep.server.state import ServerState
from threadkeep.server.web.groups import zone_of
from threadkeep.server.web.markdown import sanitize_snippet
from threadkeep.server.web.render import render
from threadkeep.server.web.views import item_view, message_view, provider_label

__all__ = ["MESSAGE_PAGE", "SIDEBAR_PAGE", "router"]

router = APIRouter(include_in_schema=False)

#: Messages a conversation opens with, and per page when scrolling.
MESSAGE_PAGE = 50
#: Conversations per page of the sidebar.
SIDEBAR_PAGE = 40
#: Search hits shown in the sidebar.
SEARCH_HITS = 20

View = Literal["active", "archived"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _page_store(request: Request) -> AsyncConversationStore | None:
    """The caller's store for a whole page, or ``None`` when they must sign in."""
    try:
        return await async_owner_store(request)
    except ApiError as error:
        if error.status == 401:
            return None
        raise


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)


def _quote(text: str) -> str:
    return quote(text, safe="/")


async def _shell(
    request: Request,
    store: AsyncConversationStore,
    *,
    view: View,
    conversation: Conversation | None,
    messages: dict[str, Any] | None,
    target: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    warning = await store.storage_warning()
    state: ServerState = request.app.state.threadkeep
    return render(
        request,
        "app.html",
        {
            "view": view,
            "conversation": conversation,
            "provider_label": provider_label(conversation),
            "storage_warning": warning,
            "target": target,
            "problem": problem,
            # A new chat picks its provider; an open conversation keeps its own (S4.4).
            "providers": sorted(providers(state.plugins)) if conversation is None else [],
            "default_provider": DEFAULT_PROVIDER,
            **(messages or {"messages": [], "older": False, "newer": False}),
        },
        status_code=status_code,
    )


def _page_of(
    conversation_id: str, messages: list[Message], *, older: bool, newer: bool
) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "messages": [message_view(m) for m in messages],
        "older": older and bool(messages),
        "newer": newer and bool(messages),
        "first_seq": messages[0].seq if messages else 0,
        "last_seq": messages[-1].seq if messages else 0,
    }


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, view: View = "active") -> Response:
    """The page with no conversation open: the composer starts a new one."""
    store = await _page_store(request)
    if store is None:
        return _to_login(request)
    return await _shell(request, store, view=view, conversation=None, messages=None)


@router.get("/c/{conversation_id}", response_class=HTMLResponse)
async def conversation_page(
    request: Request,
    conversation_id: Annotated[str, Path(max_length=100)],
    message: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The page with one conversation open, at its end or at ``message``.

    A link to a conversation that is gone (or never was the caller's) is the page with
    no conversation open and a note, status 404 — a person following an old link lands
    somewhere they can go on from, not on an error document. A message that is gone
    opens the conversation at its end, with a note.
    """
    store = await _page_store(request)
    if store is None:
        return _to_login(request)
    try:
        conversation = await store.get_conversation(conversation_id)
    except (NotFound, InvalidInput):
        return await _shell(
            request,
            store,
            view="active",
            conversation=None,
            messages=None,
            problem="That conversation was not found: it may have been deleted.",
            status_code=404,
        )
    view: View = "archived" if conversation.status == "archived" else "active"
    target = None
    if message is not None:
        try:
            target = await store.get_message(conversation.id, message)
        except (NotFound, InvalidInput):
            target = None
    if target is not None:
        before = await store.get_messages(
            conversation.id, before_seq=target.seq, limit=MESSAGE_PAGE // 2, descending=True
        )
        after = await store.get_messages(
            conversation.id, after_seq=target.seq, limit=MESSAGE_PAGE // 2
        )
        window = [*reversed(before), target, *after]
        page = _page_of(
            conversation.id,
            window,
            older=len(before) == MESSAGE_PAGE // 2,
            newer=len(after) == MESSAGE_PAGE // 2,
        )
        return await _shell(
            request, store, view=view, conversation=conversation, messages=page, target=target.id
        )
    tail = await store.tail_messages(conversation.id, MESSAGE_PAGE)
    page = _page_of(conversation.id, tail, older=len(tail) == MESSAGE_PAGE, newer=False)
    problem = (
        None
        if message is None
        else "That message is no longer in this conversation; here is its end."
    )
    return await _shell(
        request, store, view=view, conversation=conversation, messages=page, problem=problem
    )


@router.get("/web/sidebar", response_class=HTMLResponse)
async def sidebar(
    request: Request,
    store: AsyncOwnerStore,
    view: View = "active",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    after_group: Annotated[str | None, Query(max_length=20)] = None,
    open_id: Annotated[str | None, Query(alias="open", max_length=100)] = None,
) -> HTMLResponse:
    """One page of the sidebar's list, grouped by last activity, pinned first.

    ``after_group`` is the group the previous page ended in, so a page that continues
    it does not repeat its heading.
    """
    active = view == "active"
    page = await store.list_conversations(
        status=view, pinned_first=active, limit=SIDEBAR_PAGE, cursor=cursor
    )
    zone = zone_of(request.headers.get("x-timezone"))
    now = _now()
    # The archive is grouped by time only: no pinned group there.
    items = [item_view(c, now, zone, pinned_first=active) for c in page.items]
    return render(
        request,
        "_sidebar_items.html",
        {
            "items": items,
            "view": view,
            "after_group": after_group,
            "next_cursor": page.next_cursor,
            "open_id": open_id,
        },
    )


@router.get("/web/search", response_class=HTMLResponse)
async def search(
    request: Request,
    store: AsyncOwnerStore,
    q: Annotated[str, Query(max_length=1000)] = "",
) -> HTMLResponse:
    """Search hits for the sidebar: conversations whose title matches, then messages."""
    if not q.strip():
        return HTMLResponse("")
    try:
        page = await store.search(q, limit=SEARCH_HITS)
    except InvalidInput as error:
        return render(request, "_search.html", {"hits": [], "problem": str(error), "q": q})
    hits = [(hit, sanitize_snippet(hit.snippet)) for hit in page.items]
    return render(request, "_search.html", {"hits": hits, "problem": None, "q": q})


@router.get("/web/conversations/{conversation_id}/messages", response_class=HTMLResponse)
async def messages_page(
    request: Request,
    conversation_id: ConversationId,
    store: AsyncOwnerStore,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
    after_seq: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    """A page of messages: the older ones before ``before_seq`` (newest last) or the
    newer ones after ``after_seq``."""
    if (before_seq is None) == (after_seq is None):
        raise ApiError(422, "invalid_input", "give exactly one of before_seq and after_seq")
    if before_seq is not None:
        found = await store.get_messages(
            conversation_id, before_seq=before_seq, limit=MESSAGE_PAGE, descending=True
        )
        page = _page_of(conversation_id, found[::-1], older=len(found) == MESSAGE_PAGE, newer=False)
    else:
        found = await store.get_messages(conversation_id, after_seq=after_seq, limit=MESSAGE_PAGE)
        page = _page_of(conversation_id, found, older=False, newer=len(found) == MESSAGE_PAGE)
    return render(request, "_messages.html", {**page, "target": None})


@router.get("/web/conversations/{conversation_id}/header", response_class=HTMLResponse)
async def conversation_header(
    request: Request, conversation_id: ConversationId, store: AsyncOwnerStore
) -> HTMLResponse:
    """The conversation's title and provider, redrawn when they change."""
    conversation = await store.get_conversation(conversation_id)
    return render(
        request,
        "_conversation_head.html",
        {"conversation": conversation, "provider_label": provider_label(conversation)},
    )
