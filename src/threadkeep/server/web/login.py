"""Signing in to the web page with an API key, and out again (SPEC S10, S8.2).

``GET /login`` shows a form that takes an API key; ``POST /login`` checks it
(``Accounts.open_session``) and answers with the session cookie
(:data:`~threadkeep.server.auth.SESSION_COOKIE`) and a 303 to ``next`` — a path of this
server only (``security.safe_next``), so the form cannot be used to send someone to
another site. The cookie holds the session token only (the key stays in the person's
hands), and is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (another site's
POST does not carry it), ``Path=/``, ``Max-Age`` of ``web_session_days``, and
``Secure`` when the request came over HTTPS. A wrong key is the form again with 401
and a message that neither repeats the key nor says whether its id exists.

On a loopback server with no API key nobody needs to sign in: ``/login`` sends the
browser on (303), as it does for a browser already signed in.

``POST /logout`` ends the session server-side (the old cookie is refused from then on,
wherever a copy of it is), deletes the cookie and goes to ``/login``. It is a change
made with the cookie, so it carries the CSRF token like every other (a form field
``csrf_token``, as a plain form cannot set headers, or ``X-CSRF-Token``); a cookie that
no longer holds a session is simply deleted. Both POSTs are also refused when they come
from another site's page (``security.py``), which is the login form's CSRF protection:
it authenticates nobody, so it has no token to check.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from threadkeep.errors import InvalidInput
from threadkeep.server.auth import CSRF_HEADER, SESSION_COOKIE, check_csrf_token, nobody_signs_in
from threadkeep.server.state import ServerState
from threadkeep.server.web.render import render
from threadkeep.server.web.security import safe_next

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

# Longer than any key (``accounts._MAX_KEY_LENGTH``) with room for stray whitespace;
# anything longer is not a key and is not read further.
_MAX_KEY_FIELD = 1_024
_MAX_NEXT_FIELD = 2_000


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.threadkeep
    return state


def _login_page(request: Request, next_path: str, error: str | None, status: int) -> Response:
    context: dict[str, Any] = {"next": next_path, "error": error}
    return render(request, "login.html", context, status_code=status)


def _signed_in(state: ServerState, session: str | None) -> bool:
    """Whether the browser needs no sign-in: none is possible, or its cookie holds one."""
    if session and state.accounts.session_owner(session) is not None:
        return True
    return nobody_signs_in(state)


@router.get("/login")
async def login_page(
    request: Request,
    next_path: Annotated[str | None, Query(alias="next", max_length=_MAX_NEXT_FIELD)] = None,
) -> Response:
    """The sign-in form, or on to ``next`` when there is nothing to sign in to."""
    state = _state(request)
    target = safe_next(next_path)
    if await run_in_threadpool(_signed_in, state, request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse(target, status_code=303)
    return _login_page(request, target, None, 200)


@router.post("/login")
async def sign_in(
    request: Request,
    key: Annotated[str, Form(max_length=_MAX_KEY_FIELD)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=_MAX_NEXT_FIELD)] = "/",
) -> Response:
    """Open a session with the API key ``key``; 303 to ``next`` with the cookie set."""
    state = _state(request)
    target = safe_next(next_path)
    key = key.strip()
    if not key:
        return _login_page(request, target, "Enter an API key.", 401)
    try:
        session, token = await run_in_threadpool(state.accounts.open_session, key)
    except InvalidInput:
        return _login_page(
            request,
            target,
            "That API key is not valid: it may be mistyped or revoked. "
            "`threadkeep users add NAME` makes a new one.",
            401,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int((session.expires_at - session.created_at).total_seconds()),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/logout")
async def sign_out(
    request: Request,
    csrf_token: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    """End the cookie's session and delete the cookie; 303 to ``/login``."""
    state = _state(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        owner = await run_in_threadpool(state.accounts.session_owner, token)
        if owner is not None:
            # The header from a script, the form field from the page's sign-out form.
            check_csrf_token(request.headers.get(CSRF_HEADER) or csrf_token, token)
            await run_in_threadpool(state.accounts.close_session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=request.url.scheme == "https", httponly=True
    )
    return response
