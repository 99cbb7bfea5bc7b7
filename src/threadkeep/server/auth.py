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
"""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from threadkeep.server.errors import ApiError
from threadkeep.server.state import ServerState

__all__ = ["LOCAL_OWNER", "current_owner"]

LOCAL_OWNER = "local"


async def current_owner(request: Request) -> str:
    """The owner of this request, or 401 (resolved once per request, then remembered)."""
    known = getattr(request.state, "threadkeep_owner", None)
    if isinstance(known, str):
        return known
    state: ServerState = request.app.state.threadkeep
    if "authorization" not in request.headers and state.store.database.reads_are_local:
        owner = _resolve(request)
    else:
        owner = await run_in_threadpool(_resolve, request)
    request.state.threadkeep_owner = owner
    return owner


def _resolve(request: Request) -> str:
    state: ServerState = request.app.state.threadkeep
    header = request.headers.get("authorization")
    if header is None:
        if state.loopback and not state.accounts.has_keys():
            return LOCAL_OWNER
        raise ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise ApiError(401, "unauthorized", "the Authorization header must be: Bearer <API key>")
    owner = state.accounts.authenticate(key)
    if owner is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
    return owner
