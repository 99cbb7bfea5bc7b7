"""``anthropic``: Claude through the Anthropic Messages API, streamed (SPEC S4.3).

``POST {base}/v1/messages`` with ``"stream": true``, through the official ``anthropic``
package (``AsyncAnthropic``), imported on first use: threadkeep runs without it, and a
run that needs it fails with ``ProviderError`` naming ``pip install 'threadkeep[anthropic]'``.

* **Settings**: ``anthropic_base_url`` (the API root, no ``/v1``), ``anthropic_api_key``,
  ``anthropic_model``, ``anthropic_max_tokens`` (the API requires a ``max_tokens``).
  Without a key, ``ANTHROPIC_API_KEY`` is used — only for ``api.anthropic.com``, whose
  key it holds: another endpoint (a proxy, a gateway) without a key gets none, and
  ``api.anthropic.com`` without any is ``InvalidInput`` before anything is sent. The key
  is sent as ``x-api-key``, the header the API documents, with ``Authorization``
  removed: left to itself the SDK picks the header (some versions send the key as a
  bearer token), and a key given to the client stops it looking for credentials of its
  own (``ANTHROPIC_API_KEY`` for any host, ``ANTHROPIC_AUTH_TOKEN``, profiles on disk).
* **Request**: the API takes the system prompt as the ``system`` parameter and only
  ``user``/``assistant`` messages, alternating, starting with ``user``, none blank; the
  OpenAI-style ``request.messages`` are converted (:func:`_conversation`): ``system``
  (and ``developer``) messages join ``request.system`` in ``system``, in order; a
  ``tool`` message becomes user text labelled ``[tool result]`` (a ``tool_result``
  block needs the id of a ``tool_use`` made in this request, which a stateless re-send
  lacks — the prior context labels tool notes the same way); blank messages are left
  out; neighbours of one role are merged, a blank line apart; a conversation that opens
  with the assistant (the prior-context window began at a reply) gets
  :data:`OPENING_TURN` as its first user turn. Another role is ``InvalidInput``. The
  model is ``request.model``, else ``anthropic_model``, else ``InvalidInput``.
* **Events**: a :class:`TextDelta` per ``text_delta``; a :class:`ToolCall` when a
  ``tool_use`` block closes, its ``input_json_delta`` pieces joined and decoded (input
  that is not JSON is kept as the raw string: it is the model's output, not a failure
  of the endpoint); a :class:`Usage` at ``message_start`` and at ``message_delta``, the
  last being the totals — input counts cache writes and reads too, as the API bills
  them. Thinking and server-tool blocks, ``ping`` and unknown event types are ignored,
  as the API's versioning policy asks of clients.
* **A finished reply or an error, never a reply quietly cut short**: the stream must
  carry a ``stop_reason`` and end with ``message_stop`` (the SDK ends a stream at end
  of body without complaint). A connection lost mid-reply, an unfinished stream, an
  event that cannot be read and an ``error`` event (how the API reports
  ``overloaded_error`` once it has answered 200) are each a ``ProviderError`` raised
  after the text received so far was yielded; so are the stop reasons that leave the
  reply incomplete (:data:`_CUT_SHORT`: ``refusal``, ``max_tokens`` — raise
  ``anthropic_max_tokens`` — ``model_context_window_exceeded``, ``pause_turn``). Any
  other stop reason (``end_turn``, ``stop_sequence``, ``tool_use``, later ones)
  finishes the reply.
* **Errors**: a ``ProviderError`` naming the URL, the HTTP status, the API's error type
  and what to check (:data:`_STATUS`). The key is never in a message: the server's
  words go through :func:`threadkeep.redact.redact_text` with the key masked first, and
  the SDK's exception, whose request carries the key, is not chained (``from None``).
* **Retries**: the SDK's own (connection errors, 408, 409, 429, 5xx and 529, twice,
  ``retry-after`` honoured), all before the first event: a retry never repeats text.
* **No sessions**: the API is stateless, so there is no session to report and none to
  resume: a request with a session id is refused with ``ProviderSessionInvalid``
  before anything is sent, and the pipeline retries with the prior context (S4.2).
* **Titles**: one short non-streamed request (an instruction as ``system``, the
  opening text cut to 2,000 characters, ``max_tokens`` 24), the answer cleaned by
  :func:`~threadkeep.runtime.titles.clean_title`; no text is ``None``, a failure
  (no model or key too) ``ProviderError``, which means "derive the title" (S4.6).
* **Connections**: each call opens its own client and closes it when it ends, also
  when the consumer stops early (``aclose``, a cancelled task): a client's connection
  pool belongs to the event loop that opened it, and a provider may outlive a loop.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from pydantic import SecretStr

from threadkeep.errors import InvalidInput, ProviderError
from threadkeep.runtime.providers.anthropic_stream import Reply
from threadkeep.runtime.providers.api_settings import ApiSettings
from threadkeep.runtime.providers.base import (
    ProviderEvent,
    ProviderRequest,
)
from threadkeep.runtime.providers.http_errors import (
    connection_failure,
    package_missing,
    quoted,
    scrub,
    setup_failure,
)
from threadkeep.runtime.titles import clean_title
from threadkeep.settings import Settings

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic, Omit
    from anthropic.types import MessageParam

__all__ = ["DEFAULT_BASE_URL", "INSTALL_HINT", "OPENING_TURN", "AnthropicProvider"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
INSTALL_HINT = "pip install 'threadkeep[anthropic]'"
#: The user turn put before a conversation that opens with the assistant.
OPENING_TURN = "(Earlier messages of this conversation are not shown.)"

# The host whose key ANTHROPIC_API_KEY holds (see the module docstring).
_ANTHROPIC_HOST = "api.anthropic.com"
# Given to the client so it looks for no credentials of its own; never sent.
_NO_KEY = "no-key"
_TITLE_PROMPT = (
    "Write a title of 3 to 6 words for the conversation that opens with the text the "
    "user sends. Reply with the title only: no quotes, no final punctuation."
)
_TITLE_INPUT_CHARS = 2_000
_TITLE_MAX_TOKENS = 24
# What an HTTP error status means and what to check (5xx without an entry: the server).
_STATUS = {
    400: ("rejected the request", "check anthropic_model and anthropic_max_tokens"),
    401: (
        "refused the API key",
        "check the anthropic_api_key setting (THREADKEEP_ANTHROPIC_API_KEY) or ANTHROPIC_API_KEY",
    ),
    403: ("denied access", "check that the key's workspace may use this model"),
    404: (
        "was not found",
        "check the model name (anthropic_model) and that anthropic_base_url is the API "
        "root without /v1, e.g. https://api.anthropic.com",
    ),
    429: (
        "is rate limiting the requests",
        "wait and try again, or check the organization's rate limits and billing",
    ),
    529: ("is overloaded", "the API is under heavy load: try again in a moment"),
}
# The stop reasons that leave the reply incomplete (any other one finishes it).
_CUT_SHORT = {
    "refusal": "the model declined to continue the reply (stop_reason refusal from "
    "{where}); the reply is incomplete: rephrase the request",
    "max_tokens": "the reply reached the limit of {limit} tokens (stop_reason max_tokens) "
    "and is cut short; raise anthropic_max_tokens (THREADKEEP_ANTHROPIC_MAX_TOKENS) for "
    "longer replies",
    "model_context_window_exceeded": "the conversation filled the model's context window "
    "(stop_reason model_context_window_exceeded); the reply is incomplete: start a new "
    "conversation or use a model with a larger context",
    "pause_turn": "{where} paused the turn (stop_reason pause_turn), which this provider "
    "does not continue (only server tools pause, and none are sent); the reply is "
    "incomplete: try again",
}


class AnthropicProvider(ApiSettings):
    """Replies from the Anthropic Messages API; see the module docstring.

    ``base_url`` is the API root (no ``/v1``); ``api_key`` ``None`` means none
    configured; ``model`` is the default model; ``max_tokens`` each reply's limit;
    ``max_retries`` the SDK's retries.
    """

    name = "anthropic"
    vendor_host = _ANTHROPIC_HOST
    key_variable = "ANTHROPIC_API_KEY"
    model_example = "claude-sonnet-4-5"
    path = "/v1/messages"

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: SecretStr | str | None = None,
        model: str | None = None,
        max_tokens: int = 4096,
        max_retries: int = 2,
    ) -> None:
        super().__init__(base_url=base_url, api_key=api_key, model=model, max_retries=max_retries)
        self.max_tokens = max_tokens

    @classmethod
    def from_settings(cls, settings: Settings) -> AnthropicProvider:
        """The provider configured by the ``anthropic_*`` settings (no I/O: the
        endpoint is contacted by ``stream``/``title``)."""
        return cls(
            base_url=settings.anthropic_base_url,
            api_key=settings.anthropic_api_key,
            model=settings.anthropic_model,
            max_tokens=settings.anthropic_max_tokens,
        )

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        model = self._model(request.model)
        key = self._key()
        self._no_session(request.session_id, "the Messages API is stateless")
        system, messages = _conversation(request)
        client = self._client(key)
        # Present: _client has imported the package.
        from anthropic import AnthropicError, omit

        # ValueError: an event whose data is not JSON, or one Reply cannot read.
        unreadable: tuple[type[Exception], ...] = (AnthropicError, ValueError)
        reply = Reply()
        async with client:
            try:
                events = await client.messages.create(
                    model=model,
                    max_tokens=self.max_tokens,
                    system=system if system is not None else omit,
                    messages=cast("list[MessageParam]", messages),
                    stream=True,
                    extra_headers=_key_headers(key),
                )
            except AnthropicError as error:
                raise self._failure(error, key, mid_reply=False) from None
            async with events:
                try:
                    async for event in events:
                        for produced in reply.feed(event):
                            yield produced
                        if reply.stopped:
                            break  # message_stop is the end, whatever a server sends after
                except (*unreadable, *_transport_errors()) as error:
                    raise self._failure(error, key, mid_reply=True) from None
        self._check_finished(reply)

    async def title(self, text: str) -> str | None:
        """3-6 words from the model for a conversation opening with ``text``; ``None``
        when it answers no text; ``ProviderError`` when the request fails."""
        model, key = self._title_request()
        client = self._client(key)
        from anthropic import AnthropicError

        async with client:
            try:
                answer = await client.messages.create(
                    model=model,
                    max_tokens=_TITLE_MAX_TOKENS,
                    system=_TITLE_PROMPT,
                    messages=[{"role": "user", "content": text[:_TITLE_INPUT_CHARS]}],
                    extra_headers=_key_headers(key),
                )
            except AnthropicError as error:
                raise self._failure(error, key, mid_reply=False) from None
        content: Any = getattr(answer, "content", None)
        if not isinstance(content, list):
            raise ProviderError(
                f"{self.endpoint} answered the title request with something that is not a "
                "message; check that anthropic_base_url is the Anthropic API root"
            )
        texts = [getattr(block, "text", None) for block in content if _is_text(block)]
        joined = "".join(piece for piece in texts if isinstance(piece, str))
        return clean_title(joined)

    # ------------------------------------------------------------------ configuration

    def _client(self, key: str | None) -> AsyncAnthropic:
        try:
            from anthropic import AnthropicError, AsyncAnthropic
        except ImportError:
            raise package_missing(self.name, INSTALL_HINT) from None
        try:
            return AsyncAnthropic(
                base_url=self.base_url, api_key=key or _NO_KEY, max_retries=self.max_retries
            )
        except (AnthropicError, ValueError) as error:
            raise setup_failure(self.name, self.endpoint, error, key) from None

    # ------------------------------------------------------------------------- errors

    def _check_finished(self, reply: Reply) -> None:
        """The stream ended: a ``ProviderError`` unless the reply is whole."""
        stop = reply.stop_reason
        if stop is None or not reply.stopped:
            missing = "stop_reason" if stop is None else "message_stop"
            raise ProviderError(
                f"the stream from {self.endpoint} ended before the reply was finished (no "
                f"{missing}); the server may have stopped or restarted: try again"
            )
        cut_short = _CUT_SHORT.get(stop)
        if cut_short is not None:
            raise ProviderError(cut_short.format(where=self.endpoint, limit=self.max_tokens))

    def _failure(self, error: Exception, key: str | None, *, mid_reply: bool) -> ProviderError:
        """``error`` (of the SDK, its HTTP client, or a ``ValueError`` reading the
        stream) as a ``ProviderError`` a person can act on, without the key."""
        from anthropic import APIConnectionError, APIStatusError, APITimeoutError

        where = self.endpoint
        if isinstance(error, APIStatusError) and error.status_code < 400:
            # An error event in a stream that had started with 200.
            kind, detail = _server_words(error.body, key)
            advice = "try again in a moment" if kind == "overloaded_error" else "try again"
            return ProviderError(
                f"{where} reported an error in the middle of the reply ({kind or 'error'}): "
                f"{detail or 'no detail'}; the reply is incomplete: {advice}"
            )
        if isinstance(error, APIStatusError):
            return _status_failure(where, error.status_code, *_server_words(error.body, key))
        if isinstance(error, APITimeoutError):
            return ProviderError(
                f"{where} did not answer in time; check that the server is up, then try again"
            )
        if isinstance(error, (APIConnectionError, *_transport_errors())):
            cause = error.__cause__ if isinstance(error, APIConnectionError) else error
            said = scrub(str(cause or error) or type(cause or error).__name__, key)
            return connection_failure(
                where, said, setting="anthropic_base_url", mid_reply=mid_reply
            )
        if isinstance(error, ValueError):
            return ProviderError(
                f"{where} sent a stream that cannot be read as Messages API events "
                f"({scrub(str(error), key)}); check that anthropic_base_url is the "
                "Anthropic API root"
            )
        detail = scrub(getattr(error, "message", None) or str(error), key)
        return ProviderError(f"the request to {where} failed: {detail}")


def _status_failure(where: str, status: int, kind: str, detail: str) -> ProviderError:
    """An HTTP error status as a ``ProviderError`` saying what to check."""
    said = f" ({kind}: {detail})" if kind and detail else f": {detail}" if detail else ""
    server = ("failed with a server error", "the server is having trouble: try again later")
    what, advice = _STATUS.get(status) or (
        server if status >= 500 else ("rejected the request", "")
    )
    return ProviderError(
        f"{where} {what} (HTTP {status}){said}" + (f"; {advice}" if advice else "")
    )


# ------------------------------------------------------------------------ the request


def _conversation(request: ProviderRequest) -> tuple[str | None, list[dict[str, str]]]:
    """The ``system`` parameter and the Messages API's turns for ``request`` (module
    docstring, **Request**)."""
    system = [request.system] if request.system and request.system.strip() else []
    turns: list[dict[str, str]] = []
    for position, message in enumerate(request.messages):
        role, content = message.get("role"), message.get("content")
        if not isinstance(content, str):
            raise InvalidInput(f"message {position} of the request has no text content")
        if role in ("system", "developer"):
            if content.strip():
                system.append(content)
            continue
        if role == "tool":
            role, content = "user", f"[tool result] {content}"
        elif role not in ("user", "assistant"):
            raise InvalidInput(
                f"the anthropic provider cannot send a message with role {role!r:.40}; "
                "use user, assistant, system or tool"
            )
        if not content.strip():
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1] = {"role": role, "content": f"{turns[-1]['content']}\n\n{content}"}
        else:
            turns.append({"role": role, "content": content})
    if not turns:
        raise InvalidInput("the request has no user or assistant text to send")
    if turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": OPENING_TURN})
    return ("\n\n".join(system) or None), turns


def _key_headers(key: str | None) -> dict[str, str | Omit]:
    """The key as ``x-api-key`` and no ``Authorization`` (see the module docstring)."""
    from anthropic import omit

    return {"X-Api-Key": key if key is not None else omit, "Authorization": omit}


def _is_text(block: Any) -> bool:
    return getattr(block, "type", None) == "text"


# -------------------------------------------------------------------------- helpers


def _transport_errors() -> tuple[type[Exception], ...]:
    """The errors of the SDK's HTTP client, which a stream raises unwrapped when the
    connection is lost mid-reply (``httpx2`` in anthropic 2.x, ``httpx`` before)."""
    errors: list[type[Exception]] = []
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _server_words(body: object, key: str | None) -> tuple[str, str]:
    """The error's type and what the server said (the API's ``error.type`` and
    ``error.message``, or the body), scrubbed and cut short."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
    else:
        kind, message = None, body
    return (kind if isinstance(kind, str) else ""), quoted(message, key)
