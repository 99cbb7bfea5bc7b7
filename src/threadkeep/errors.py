"""The one error tree of threadkeep.

Every failure a caller can act on is one of these, each with a stable ``code`` that
the server maps to an HTTP status (``server/errors.py``) and the CLI to an exit code
(``cli/output.py``) — in one place each. Nothing is ever turned into ``None``: a
missing conversation is ``NotFound``, a database that cannot be reached is
``StoreUnavailable``, and callers can tell the two apart.

    ThreadkeepError              code="error"
     ├── NotFound                code="not_found"      no such object *for this owner*
     ├── InvalidInput            code="invalid_input"  bad id, role, kind, status, value
     ├── Conflict                code="conflict"       wrote first, provider change, id taken
     ├── TooLarge                code="too_large"      message over the size limit
     ├── StoreUnavailable        code="store_unavailable"  database locked, corrupt, unreachable
     └── ProviderError           code="provider_error"  provider unreachable, refused, unreadable
          └── ProviderSessionInvalid  code="provider_session_invalid"  session id not accepted

``ProviderError`` is an upstream failure, not the caller's and not the store's: the
reply could not be produced, while everything stored is intact.

Messages are written for a person: they say what was wrong and what to do about it.
Another owner's object raises exactly the same ``NotFound`` as a random id, so an error
never reveals that an object exists.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "InvalidInput",
    "NotFound",
    "ProviderError",
    "ProviderSessionInvalid",
    "StoreUnavailable",
    "ThreadkeepError",
    "TooLarge",
]


class ThreadkeepError(Exception):
    """Base of every error threadkeep raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ThreadkeepError):
    """The object does not exist, or belongs to another owner (indistinguishable)."""

    code = "not_found"


class InvalidInput(ThreadkeepError):
    """The caller passed a value threadkeep does not accept; nothing was written."""

    code = "invalid_input"


class Conflict(ThreadkeepError):
    """The write contradicts the current state (someone else wrote first, id taken, ...)."""

    code = "conflict"


class TooLarge(ThreadkeepError):
    """A value is over a configured size limit; nothing was written."""

    code = "too_large"


class StoreUnavailable(ThreadkeepError):
    """The database cannot be used: missing, locked, corrupt, or a migration failed."""

    code = "store_unavailable"


class ProviderError(ThreadkeepError):
    """The model provider failed: unreachable, refused, or answered what cannot be read."""

    code = "provider_error"


class ProviderSessionInvalid(ProviderError):
    """The provider does not accept the session id it was given (expired or unknown).

    Raised before the provider streams anything, so the runtime can retry once without
    the session id, with the prior context injected instead (SPEC S4.2).
    """

    code = "provider_session_invalid"
