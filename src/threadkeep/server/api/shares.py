"""Routes: share links (SPEC S6.5).

``router`` (under ``/api/v1``, the caller's own links):

* ``POST /conversations/{conversation_id}/shares`` → 201 ``{id, url, token, created_at,
  conversation_id, title, message_count, redacted}``: a redacted snapshot of the
  conversation, reachable by anyone holding the URL. The token is in the answer once
  and never again (only its hash is stored). ``url`` starts with the ``public_url``
  setting, else the base URL of the request.
* ``GET /shares`` → a page of the caller's links, newest first (``conversation_id``,
  ``limit``, ``cursor``).
* ``DELETE /shares/{share_id}`` → 204; the link stops working at once.

``public_router`` (at the root, no authentication):

* ``GET /share/{token}`` → a small HTML page of the snapshot;
* ``GET /share/{token}.json`` → the snapshot as JSON.

Both answer ``Cache-Control: no-store``, ``Referrer-Policy: no-referrer`` and
``X-Robots-Tag: noindex``, and the page a Content-Security-Policy that allows nothing
but its own inline style (every stored value is HTML-escaped, and no script could run
anyway). A token that is unknown, malformed or revoked is a 404 like any other; another
user's conversation or share is a 404 identical to a random id's (the store scopes
every lookup by owner).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from threadkeep import sharing
from threadkeep.inputs import MAX_LIST_LIMIT
from threadkeep.server.deps import OwnerStore, State
from threadkeep.server.schemas import ConversationId, error_responses
from threadkeep.sharing import Snapshot

__all__ = ["public_router", "router"]

router = APIRouter(tags=["shares"])
public_router = APIRouter(tags=["shares"])


#: A share id in a path (checked by the use case: not a UUID is a 422).
ShareId = Annotated[
    str, Path(description="The share link's UUID.", json_schema_extra={"format": "uuid"})
]
#: A share link's token in a path (not authenticated: whoever holds it may read).
Token = Annotated[str, Path(description="The token of the share link's URL.")]


class ShareOut(BaseModel):
    """A share link as its owner sees it (never its token)."""

    id: str
    conversation_id: str
    title: str | None = Field(description="The snapshot's title, secrets masked.")
    message_count: int = Field(description="Messages in the snapshot.")
    created_at: dt.datetime


class NewShareOut(ShareOut):
    """A link just made: the only answer that carries its token."""

    url: str = Field(description="The page anyone holding it can read (no login).")
    token: str = Field(description="The link's secret part; shown once, never stored.")
    redacted: dict[str, int] = Field(description="Secrets masked in the snapshot, by kind.")


class SharePage(BaseModel):
    items: list[ShareOut]
    next_cursor: str | None


class SharedMessageOut(BaseModel):
    role: str
    kind: str
    status: str
    content: str
    created_at: dt.datetime


class SnapshotOut(BaseModel):
    """What a share link shows: the conversation when it was shared, secrets masked."""

    version: int
    title: str | None
    created_at: dt.datetime
    shared_at: dt.datetime
    messages: list[SharedMessageOut]


def _share_url(request: Request, public_url: str | None, token: str) -> str:
    base = public_url if public_url else str(request.base_url)
    return f"{base.rstrip('/')}/share/{token}"


@router.post(
    "/conversations/{conversation_id}/shares",
    status_code=status.HTTP_201_CREATED,
    response_model=NewShareOut,
    responses=error_responses(401, 404, 413, 422, 503),
    summary="Share a redacted snapshot of a conversation",
)
def create_share(
    conversation_id: ConversationId,
    request: Request,
    response: Response,
    store: OwnerStore,
    state: State,
) -> dict[str, Any]:
    """A read-only link to the conversation as it is now, secrets masked (title and
    messages). The token is in this answer only; 413 when the messages pass 32 MiB."""
    made = sharing.create_share(store, conversation_id)
    response.headers["Cache-Control"] = "no-store"  # the answer holds the token
    return {
        **made.share.to_dict(),
        "url": _share_url(request, state.settings.public_url, made.token),
        "token": made.token,
        "redacted": made.redacted,
    }


@router.get(
    "/shares",
    response_model=SharePage,
    responses=error_responses(401, 422, 503),
    summary="List your share links",
)
def list_shares(
    store: OwnerStore,
    conversation_id: Annotated[
        str | None, Query(description="Only the links of this conversation.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> dict[str, Any]:
    """Your links, newest first, a keyset page at a time (never their tokens)."""
    page = sharing.list_shares(store, conversation_id=conversation_id, limit=limit, cursor=cursor)
    return {"items": [item.to_dict() for item in page.items], "next_cursor": page.next_cursor}


@router.delete(
    "/shares/{share_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 404, 422, 503),
    summary="Revoke a share link",
)
def revoke_share(share_id: ShareId, store: OwnerStore) -> Response:
    """The link stops working at once; its snapshot is deleted."""
    sharing.revoke_share(store, share_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ------------------------------------------------------------------ public

_STYLE = """
body{margin:0;background:#f6f6f4;color:#1d1d1b;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}
main{max-width:46rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.4rem;margin:0 0 .25rem}
.meta{color:#66665f;font-size:.85rem;margin:0 0 1.5rem}
.message{background:#fff;border:1px solid #e2e2dc;border-radius:.5rem;
padding:.75rem 1rem;margin:0 0 .75rem}
.role-user{background:#eef4ff;border-color:#d4e2fb}
.kind-error{border-color:#e8b4b4;background:#fff3f3}
.who{color:#66665f;font-size:.8rem;margin-bottom:.25rem}
.content{white-space:pre-wrap;overflow-wrap:anywhere;margin:0;font:inherit}
.kind-tool_call .content,.kind-tool_result .content,.kind-system_artifact .content{
font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
@media (prefers-color-scheme:dark){body{background:#1b1b1a;color:#e8e8e3}
.message{background:#252523;border-color:#3a3a37}.role-user{background:#1f2a3b;border-color:#2c3c55}
.kind-error{background:#3a2222;border-color:#6b3434}.meta,.who{color:#a3a39b}}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

_PUBLIC_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
_PAGE_HEADERS = {
    **_PUBLIC_HEADERS,
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_page(snapshot: Snapshot) -> str:
    """The HTML page of a snapshot; every stored value is escaped."""
    title = snapshot.title or "Untitled conversation"
    count = len(snapshot.messages)
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="robots" content="noindex, nofollow">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)} · shared conversation</title>",
        f"<style>{_STYLE}</style></head><body><main>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="meta">A read-only snapshot shared <time datetime="'
        f'{_e(snapshot.shared_at.isoformat())}">{_e(_when(snapshot.shared_at))}</time> · '
        f"{count} message{'' if count == 1 else 's'} · secrets masked</p></header>",
    ]
    for message in snapshot.messages:
        label = message.role if message.kind == "text" else f"{message.role} · {message.kind}"
        if message.status != "complete":
            label += f" ({message.status})"
        parts.append(
            f'<article class="message role-{_e(message.role)} kind-{_e(message.kind)}">'
            f'<div class="who">{_e(label)} · <time datetime="'
            f'{_e(message.created_at.isoformat())}">{_e(_when(message.created_at))}</time></div>'
            f'<div class="content">{_e(message.content)}</div></article>'
        )
    parts.append("</main></body></html>")
    return "".join(parts)


# ``/share/{token}.json`` first: ``{token}`` alone would also match ``x.json``.
@public_router.get(
    "/share/{token}.json",
    response_model=SnapshotOut,
    responses=error_responses(404, 503),
    summary="A shared conversation, as JSON (no authentication)",
)
def shared_json(token: Token, state: State) -> JSONResponse:
    snapshot = sharing.shared_snapshot(state.store.database, token)
    return JSONResponse(snapshot.to_dict(), headers=_PUBLIC_HEADERS)


@public_router.get(
    "/share/{token}",
    response_class=HTMLResponse,
    responses=error_responses(404, 503),
    summary="A shared conversation, as a web page (no authentication)",
)
def shared_page(token: Token, state: State) -> HTMLResponse:
    snapshot = sharing.shared_snapshot(state.store.database, token)
    return HTMLResponse(render_page(snapshot), headers=_PAGE_HEADERS)
