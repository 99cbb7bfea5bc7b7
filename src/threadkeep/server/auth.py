"""Who is calling: the owner every request is scoped to (SPEC S8.2).

The rules, in order:

1. A request that carries ``Authorization: Bearer <key>`` is the key's user if the key
   is valid (``Accounts.authenticate``), else 401 — also on a loopback server with no
   keys: a client that sends a key it believes in should hear that it is wrong.
2. A request without a key, to a server bound to loopback while no API key exists, is
   the one local user (:data:`LOCAL_OWNER`), no login: ``threadkeep serve`` on a laptop
   just works.
3. Anything else is 401: once any key exists every request needs one, whatever the
   address (a key added by ``threadkeep users add`` while the server runs counts at
   once: the check reads the database), and a server bound to any other address needs
   keys always (``serve`` refuses to start there without one unless told, loudly).

So one request costs one indexed read: the key's row, or "does any key exist". Where
reads are local (SQLite: ``Database.reads_are_local``), the read of a request without
a key — the loopback user's every request — runs on the event loop: a few
microseconds, less than the thread hop it would otherwise take. A request with a key
(a hash to check, a ``last_used_at`` to write now and then) and every read on
PostgreSQL go to a worker thread. A 401
is ``{"code": "unauthorized", "message"}`` with ``WWW-Authenticate: Bearer``
(``errors.py``); it never says whether a key id exists.

To keep the local user's conversations once keys are in use, give that user a key:
``threadkeep users add local``.

**The web page's session cookie** (:data:`SESSION_COOKIE`, set by ``web/login.py``
when a person signs in with a key) counts where no ``Authorization`` header is sent,
between rules 1 and 2: a valid session is its user; an invalid one (signed out,
expired, its key revoked) is 401 — except on a loopback server with no key, where
there is nothing to sign in to and the request is the local user (else the page would
send a browser holding a stale cookie to a login page that sends it back). The check
is one indexed read and an HMAC, no write, so it runs on the event loop where reads
are local, like the no-key read.

How the caller was authenticated is kept on ``request.state.threadkeep_auth``
(``"key"``, ``"session"`` or ``"local"``). A state-changing request (not GET, HEAD,
OPTIONS) authenticated by the cookie must also carry ``X-CSRF-Token``: the session's
CSRF token, HMAC-SHA256 keyed by the session token over ``b"csrf"``
(:func:`session_csrf_token`), which needs no storage, and which a page of another site
cannot compute (the cookie is HttpOnly) while our own page gets it in its HTML
(``web/security.py``). Missing or wrong is ``403 {"code": "csrf_failed"}``. The check
sits here, where the cookie is accepted, so every route that asks for the owner — API
routes and the page's fragments alike — is covered. A request with a key needs no
token: a browser never adds an ``Authorization`` header of its own accord. Requests
without a key, the cookie or none (the loopback user), are also refused when they come
from another site's page (``web/security.py``: ``Origin`` and ``Sec-Fetch-Site``).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from threadkeep.server.errors import ApiError
from threadkeep.server.state import ServerState

__all__ = [
    "CSRF_HEADER",
    "LOCAL_OWNER",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "AuthMethod",
    "check_csrf_token",
    "current_owner",
    "nobody_signs_in",
    "session_csrf_token",
]

LOCAL_OWNER = "local"
#: The cookie that holds a web page session token (``tks_<id>_<secret>``).
SESSION_COOKIE = "threadkeep_session"
#: The header a cookie-authenticated state-changing request carries its CSRF token in.
CSRF_HEADER = "X-CSRF-Token"
#: Methods that change nothing, so need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

AuthMethod = Literal["key", "session", "local"]


def session_csrf_token(session_token: str) -> str:
    """The CSRF token of a web page session: HMAC-SHA256(session token, ``b"csrf"``).

    Keyed by the whole token rather than its secret part alone: the same 256 bits of
    secret, without parsing the token's format here.
    """
    return hmac.new(session_token.encode(), b"csrf", hashlib.sha256).hexdigest()


async def current_owner(request: Request) -> str:
    """The owner of this request, or 401 (resolved once per request, then remembered);
    403 ``csrf_failed`` for a cookie-authenticated change without its CSRF token."""
    known = getattr(request.state, "threadkeep_owner", None)
    if isinstance(known, str):
        return known
    state: ServerState = request.app.state.threadkeep
    if "authorization" not in request.headers and state.store.database.reads_are_local:
        owner, how = _resolve(request)
    else:
        owner, how = await run_in_threadpool(_resolve, request)
    if how == "session":
        token = request.cookies[SESSION_COOKIE]
        if request.method not in SAFE_METHODS:
            _check_csrf(request, token)
        request.state.threadkeep_session = token
    request.state.threadkeep_auth = how
    request.state.threadkeep_owner = owner
    return owner


def _check_csrf(request: Request, session_token: str) -> None:
    check_csrf_token(request.headers.get(CSRF_HEADER), session_token)


def check_csrf_token(sent: str | None, session_token: str) -> None:
    """403 ``csrf_failed`` unless ``sent`` is the CSRF token of ``session_token``."""
    if sent is None:
        raise ApiError(
            403,
            "csrf_failed",
            f"a change made with the session cookie needs the {CSRF_HEADER} header "
            "(the page sends it: reload the page)",
        )
    if not hmac.compare_digest(sent.encode(), session_csrf_token(session_token).encode()):
        raise ApiError(
            403,
            "csrf_failed",
            f"the {CSRF_HEADER} header does not match the session (reload the page)",
        )


def nobody_signs_in(state: ServerState) -> bool:
    """Whether requests without a key are the local user: a loopback server while no
    API key exists (rule 2)."""
    return state.loopback and not state.accounts.has_keys()


def _resolve(request: Request) -> tuple[str, AuthMethod]:
    state: ServerState = request.app.state.threadkeep
    header = request.headers.get("authorization")
    if header is None:
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            owner = state.accounts.session_owner(session)
            if owner is not None:
                return owner, "session"
            if nobody_signs_in(state):
                return LOCAL_OWNER, "local"
            raise ApiError(
                401,
                "unauthorized",
                "the web session has ended (signed out, expired or its key revoked): "
                "sign in again at /login, or send Authorization: Bearer <key>",
            )
        if nobody_signs_in(state):
            return LOCAL_OWNER, "local"
        raise ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthorized", "the Authorization header must be: Bearer <API key>")
    owner = state.accounts.authenticate(key)
    if owner is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
    return owner, "key"
