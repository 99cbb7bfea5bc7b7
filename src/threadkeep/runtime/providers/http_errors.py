"""What the HTTP API providers (``openai``, ``anthropic``; SPEC S4.3) share in their
error messages: the key never in one, and the same words for the same failure.

* :func:`scrub`: a message quoting a server or the SDK has the key in use masked, then
  anything else that looks like a secret (:func:`threadkeep.redact.redact_text`) — a
  server or an SDK may echo the key it was given.
* :func:`quoted`: a server's own words about an error on one line, cut to
  :data:`DETAIL_CHARS` and scrubbed.
* :func:`connection_failure`: a connection that could not be made (check the base URL
  setting and the server) or was lost mid-reply (the reply is incomplete).
* :func:`package_missing` and :func:`setup_failure`: the vendor's package is not
  installed (the ``pip install`` that adds it), or its client refused the settings.

Which SDK error means what stays in each provider: the SDKs' error classes and their
servers' statuses differ.
"""

from __future__ import annotations

import json

from threadkeep.errors import ProviderError
from threadkeep.redact import redact_text

__all__ = [
    "DETAIL_CHARS",
    "connection_failure",
    "package_missing",
    "quoted",
    "scrub",
    "setup_failure",
]

#: How much of a server's words an error message quotes.
DETAIL_CHARS = 300


def scrub(text: str, key: str | None) -> str:
    """``text`` with the configured key and anything that looks like a secret masked."""
    if key:
        text = text.replace(key, "***")
    return redact_text(text)[0]


def quoted(message: object, key: str | None) -> str:
    """A server's ``message`` (a string, or any JSON value) on one line, cut short and
    scrubbed; ``""`` for none."""
    if message is None:
        return ""
    text = message if isinstance(message, str) else json.dumps(message, default=str)
    text = " ".join(text.split())
    if len(text) > DETAIL_CHARS:
        text = text[: DETAIL_CHARS - 1] + "…"
    return scrub(text, key)


def connection_failure(where: str, said: str, *, setting: str, mid_reply: bool) -> ProviderError:
    """A failed connection to ``where`` (``said``: why, scrubbed) before the reply, or
    lost ``mid_reply``; ``setting`` names the base URL to check."""
    if mid_reply:
        return ProviderError(
            f"the connection to {where} was lost in the middle of the reply ({said}); "
            "the reply is incomplete: try again"
        )
    return ProviderError(
        f"cannot connect to {where} ({said}); check {setting} and that the server is "
        "running and reachable"
    )


def package_missing(provider: str, install: str) -> ProviderError:
    """The ``provider``'s package (named as the provider) is not installed; ``install``
    is the ``pip install`` that adds it."""
    return ProviderError(
        f"the {provider} provider needs the {provider} package, which is not installed: {install}"
    )


def setup_failure(provider: str, endpoint: str, error: Exception, key: str | None) -> ProviderError:
    """The SDK's client for ``endpoint`` could not be built (``error``, scrubbed)."""
    return ProviderError(
        f"cannot set up the {provider} client for {endpoint}: {scrub(str(error), key)}"
    )
