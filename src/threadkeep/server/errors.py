"""Every error the API returns is JSON ``{"code", "message"}``, mapped here, once.

Store and provider errors keep their stable ``code`` (``errors.py``) and get their HTTP
status from :data:`STATUS` (a provider's failure is ``502``, an upstream one); FastAPI's
request validation becomes ``422 invalid_input`` naming the field; Starlette's own
errors (404 route, 405 method) keep their status with a code; an unexpected exception
is logged (with its traceback, never the request body) and becomes ``500 internal``
with no detail. Bad input is a 4xx by construction: everything the store rejects is a
``ThreadkeepError``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from threadkeep.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ProviderError,
    StoreUnavailable,
    ThreadkeepError,
    TooLarge,
)

__all__ = ["STATUS", "ApiError", "error_response", "install"]

log = logging.getLogger(__name__)

#: HTTP status of each threadkeep error (a subclass takes its base's).
STATUS: dict[type[ThreadkeepError], int] = {
    NotFound: 404,
    InvalidInput: 422,
    Conflict: 409,
    TooLarge: 413,
    StoreUnavailable: 503,
    # The model provider, upstream of us, failed: a bad gateway, not our bug (500).
    ProviderError: 502,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """An error raised by the server layer itself (auth, limits), with its status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _status_of(error: ThreadkeepError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


async def _threadkeep_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ThreadkeepError)  # noqa: S101 - registered for this type
    status = _status_of(error)
    if status >= 500:
        log.error("%s: %s", error.code, error)
    return error_response(status, error.code, str(error))


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)  # noqa: S101 - registered for this type
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return error_response(error.status, error.code, error.message, headers)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)  # noqa: S101 - registered for this type
    problems = []
    for item in error.errors()[:5]:
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append(f"{where or 'request'}: {item.get('msg', 'invalid')}")
    return error_response(422, "invalid_input", "; ".join(problems) or "invalid request")


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)  # noqa: S101 - registered for this type
    code = _HTTP_CODES.get(error.status_code, "error")
    message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
    return error_response(error.status_code, code, message, dict(error.headers or {}) or None)


async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
    log.error("unexpected error: %s", type(error).__name__, exc_info=error)
    return error_response(500, "internal", "internal server error; the server log has the details")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(ThreadkeepError, _threadkeep_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
