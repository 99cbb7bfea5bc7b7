"""Who is calling: the owner every request is scoped to (SPEC S8.2).

Bound to loopback with no API keys: the one local user (``local``), no login. Once
any API key exists, every request needs ``Authorization: Bearer <key>``, whatever the
address. Bound to anything else: keys are required (``serve`` refuses to start without
them unless told otherwise, loudly).
"""

from __future__ import annotations

from fastapi import Request

from threadkeep.server.errors import ApiError
from threadkeep.server.state import ServerState

__all__ = ["LOCAL_OWNER", "current_owner"]

LOCAL_OWNER = "local"


def current_owner(request: Request) -> str:
    """The owner of this request, or 401."""
    state: ServerState = request.app.state.threadkeep
    if state.loopback and not state.accounts.has_keys():
        return LOCAL_OWNER
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>")
    owner = state.accounts.authenticate(key.strip())
    if owner is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
    return owner
