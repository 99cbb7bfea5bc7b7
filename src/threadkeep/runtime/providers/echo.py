"""``echo``: the offline, deterministic provider, and the default (SPEC S4.3).

It answers without a network, a key or a model, so everything — the CLI, the server,
the web UI, the tests — works on a fresh install, and the same request always gives the
same events. Its reply shows what the runtime gave it, which makes resume visible::

    Echo: <the last user message>

    (I was given 12 earlier messages.)

(``no earlier messages`` for none, ``1 earlier message`` for one.) The count is
``request.prior_messages``: what the prior context of S4.1 carries or stands for.

* **Chunks**: the reply is streamed one word at a time, each :class:`TextDelta` a run
  of non-space characters with the whitespace after it (``"Echo: "``, ``"hello "``,
  ...), so the pieces join to exactly the reply. Between pieces it gives the event loop
  a turn, as a network provider does while it waits, so other tasks run and a
  cancellation can land mid-reply.
* **Usage**: one :class:`Usage` after the text, counting whitespace-separated words as
  "tokens" — input: the system section and every message's content; output: the
  reply. A stand-in, but deterministic and in the right proportions.
* **Sessions**: echo keeps none, so it never reports a :class:`SessionStarted`, and a
  request carrying a session id is refused with ``ProviderSessionInvalid`` (it knows no
  session, so no id is valid). Reporting a made-up id instead would make the pipeline
  trust a memory echo does not have; refusing it lets the S4.2 path — retry once
  without the id, prior context injected — run offline, with the retried reply showing
  the context count.
* **Titles**: ``title`` returns ``None``: echo makes none, so the pipeline derives the
  title from the first user message (S4.6).
* **Model**: ignored; echo is the same whatever ``request.model`` says.

A request without a user message is ``InvalidInput``, raised before anything streams.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from threadkeep.errors import InvalidInput, ProviderSessionInvalid
from threadkeep.runtime.providers.base import ProviderEvent, ProviderRequest, TextDelta, Usage

__all__ = ["EchoProvider", "echo_reply"]

# A word and the whitespace after it. The reply starts with "Echo: ", so these runs
# cover it entirely and the chunks join back to it.
_CHUNK = re.compile(r"\S+\s*")


def echo_reply(text: str, prior_messages: int) -> str:
    """The whole reply echo gives to the user message ``text``."""
    if prior_messages == 0:
        given = "no earlier messages"
    elif prior_messages == 1:
        given = "1 earlier message"
    else:
        given = f"{prior_messages} earlier messages"
    return f"Echo: {text}\n\n(I was given {given}.)"


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


class EchoProvider:
    """Replies with the last user message and the number of earlier messages it got."""

    name = "echo"

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        last_user = next((m for m in reversed(request.messages) if m.get("role") == "user"), None)
        if last_user is None:
            raise InvalidInput("the request to the echo provider has no user message")
        if request.session_id is not None:
            raise ProviderSessionInvalid(
                f"the echo provider keeps no sessions, so session {request.session_id!r:.60} "
                "is unknown to it; send without a session id"
            )
        reply = echo_reply(last_user.get("content", ""), request.prior_messages)
        for index, chunk in enumerate(_CHUNK.findall(reply)):
            if index:
                await asyncio.sleep(0)
            yield TextDelta(chunk)
        input_words = _words(request.system) + sum(
            _words(m.get("content")) for m in request.messages
        )
        yield Usage(input_tokens=input_words, output_tokens=_words(reply))

    async def title(self, text: str) -> str | None:
        """Always ``None``: echo makes no titles; the first user message gives one."""
        return None
