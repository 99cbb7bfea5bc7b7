"""Request body size limits: 413 before a body past the limit is read (SPEC S8.4).

A pure ASGI middleware (not Starlette's ``BaseHTTPMiddleware``, which would hide the
body stream behind its own): for each HTTP request it picks the limit of its path —
``max_request_bytes``, or ``import_max_bytes`` for the import upload — and then

* with a ``Content-Length`` over the limit, answers 413 at once, without calling the
  app or reading a byte of the body (and closes the connection, so the client stops
  sending);
* otherwise counts the body as the app reads it and, at the first chunk that passes
  the limit (a chunked body, or one longer than it said), raises
  :class:`BodyTooLarge` from ``receive``: the app never sees that chunk, nothing is
  buffered here, and the error becomes the usual JSON 413 (it is an HTTP exception, so
  FastAPI's body parsing passes it on and ``server/errors.py`` renders it; should it
  escape the app before a response started, this middleware answers 413 itself).

Every 413 is ``{"code": "too_large", "message": ...}`` naming the limit and the setting.
Starlette has a body limit of its own, but it answers in plain text.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadkeep.server.errors import error_response
from threadkeep.settings import Settings

__all__ = ["LARGE_BODY_PATHS", "BodyLimit", "BodyTooLarge", "install"]

#: Paths with a limit of their own: path -> the setting that holds it.
LARGE_BODY_PATHS = {"/api/v1/import": "import_max_bytes"}


class BodyTooLarge(HTTPException):
    """The request body passed its limit while it was being read."""

    def __init__(self, limit: int, setting: str) -> None:
        # Closing the connection stops the client sending the rest (a connection kept
        # alive would have the server read and discard it all first).
        super().__init__(413, _message(limit, setting), headers={"Connection": "close"})


def _message(limit: int, setting: str) -> str:
    return f"the request body is larger than {limit:,} bytes (setting {setting})"


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class BodyLimit:
    """The middleware: ``default`` bytes (``max_request_bytes``) for every path but
    ``per_path``'s (path -> its limit and the setting that holds it)."""

    def __init__(self, app: ASGIApp, *, default: int, per_path: dict[str, tuple[int, str]]) -> None:
        self.app = app
        self.default = (default, "max_request_bytes")
        self.per_path = per_path

    def _limit(self, scope: Scope) -> tuple[int, str]:
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return self.per_path.get(path.rstrip("/") or "/", self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = error_response(
                413, "too_large", _message(limit, setting), {"Connection": "close"}
            )
            await response(scope, receive, send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge as error:
            if started:
                raise
            response = error_response(413, "too_large", str(error.detail), {"Connection": "close"})
            await response(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """Limit every request body of ``app`` by ``settings``."""
    per_path = {
        path: (int(getattr(settings, setting)), setting)
        for path, setting in LARGE_BODY_PATHS.items()
    }
    app.add_middleware(BodyLimit, default=settings.max_request_bytes, per_path=per_path)
