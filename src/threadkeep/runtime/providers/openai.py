"""``openai``: any OpenAI-compatible chat-completions endpoint, streamed (SPEC S4.3).

OpenAI, Ollama (``http://localhost:11434/v1``), vLLM, the llama.cpp server and many
others answer the same ``POST {base}/chat/completions`` with ``"stream": true``. This
provider talks to them through the official ``openai`` package (``AsyncOpenAI``), which
is imported on first use: threadkeep runs without it, and a run that needs it fails with
``ProviderError`` naming ``pip install 'threadkeep[openai]'``.

* **Settings**: ``openai_base_url``, ``openai_api_key``, ``openai_model``. The key is
  sent as ``Authorization: Bearer``. Without one, ``OPENAI_API_KEY`` is used — but only
  for ``api.openai.com``, whose key that variable holds: it is never sent to another
  endpoint (a local server, someone else's proxy). Any other endpoint without a key
  gets no ``Authorization`` header at all, as Ollama, vLLM and llama.cpp expect unless
  they were started with a key. ``api.openai.com`` without any key is ``InvalidInput``
  before anything is sent.
* **Request**: ``request.system`` as a leading system message when set, then
  ``request.messages`` as they are; the model is ``request.model``, else
  ``openai_model``, else ``InvalidInput`` naming the setting. Usage is asked for with
  ``stream_options.include_usage``; a server that ignores it sends none, and the run
  then reports no :class:`Usage`.
* **Events**: a :class:`TextDelta` for each piece of content (a refusal's text too: it
  is the model's answer); tool calls assembled from their deltas by ``index`` (``id``
  and name from the first, the argument pieces joined) and reported as :class:`ToolCall`
  when the choice finishes, arguments decoded from JSON — arguments that are not JSON
  are kept as the raw string, since they are the model's output, not a failure of the
  endpoint; a :class:`Usage` for each chunk that carries usage (OpenAI sends one, after
  the last choice).
* **A finished reply or an error, never a reply quietly cut short**: the stream must
  end with a ``finish_reason``. A connection lost mid-reply, a stream that ends
  without one (the SDK ends a stream at end of body without complaint), a chunk that
  is not JSON or not a chunk, an error event in the stream, and ``content_filter`` are
  each a ``ProviderError`` raised after the text received so far was yielded.
* **Errors**: every failure is a ``ProviderError`` naming the URL, the HTTP status and
  what to check (the key on 401/403, the model and base URL on 404, quota on 429, the
  server on 5xx, the address on a refused connection). The key is never in a message:
  the server's own words are passed through :func:`threadkeep.redact.redact_text` with
  the configured key masked first, and the SDK's exception, whose request carries the
  ``Authorization`` header, is not chained (``from None``).
* **Retries**: the SDK's own — connection errors, 408, 409, 429 and 5xx, twice, with
  backoff and ``Retry-After`` honoured. They happen before the first chunk, so a retry
  never repeats streamed text.
* **No sessions**: chat completions are stateless. The whole conversation travels in
  every request and no server keeps it, so there is no session to report (this provider
  never yields :class:`SessionStarted`) and none to resume. A request with a session id
  is refused with ``ProviderSessionInvalid`` before anything is sent: sending just the
  new message would get an answer from a model that has never seen the conversation,
  while the refusal makes the pipeline retry once with the prior context injected as
  messages (S4.2) — exactly what this provider needs.
* **Titles**: one short non-streamed request to ``openai_model`` (a short instruction,
  the opening text cut to 2,000 characters, at most 24 completion tokens); the answer's
  first line with quotes, a ``Title:`` label and end punctuation stripped, cut to six
  words. An empty answer is ``None`` (the pipeline then derives a title); a failure is
  ``ProviderError`` — no model or key configured too, since a title is made in the
  background where only that error means "derive one instead".
  The budget is ``max_completion_tokens``, OpenAI's current name, which the other
  servers either honour or ignore (an unknown field); a reasoning model may spend it
  all on reasoning and answer nothing, which is the ``None`` case.
* **Connections**: each call (``stream``, ``title``) opens its own client and closes it
  when it ends, also when the consumer stops early (``aclose``, a cancelled task): the
  HTTP stream is closed in ``finally`` through the client's context managers. A client
  is not kept because its connection pool belongs to the event loop that opened it,
  and a provider may outlive a loop (the CLI and the tests run one per command); a new
  connection costs little next to generating a reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from pydantic import SecretStr

from threadkeep.errors import ProviderError
from threadkeep.runtime.providers.api_settings import ApiSettings
from threadkeep.runtime.providers.base import (
    ProviderEvent,
    ProviderRequest,
    TextDelta,
    ToolCall,
    Usage,
)
from threadkeep.runtime.providers.http_errors import (
    connection_failure,
    package_missing,
    quoted,
    scrub,
    setup_failure,
)
from threadkeep.runtime.providers.tool_arguments import decoded
from threadkeep.runtime.titles import clean_title
from threadkeep.settings import Settings

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

__all__ = ["DEFAULT_BASE_URL", "INSTALL_HINT", "OpenAIProvider"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
INSTALL_HINT = "pip install 'threadkeep[openai]'"

# The host whose key OPENAI_API_KEY holds (see the module docstring).
_OPENAI_HOST = "api.openai.com"
# The client needs some key to be built; with no key the header is omitted anyway.
_NO_KEY = "no-key"
_TITLE_PROMPT = (
    "Write a title of 3 to 6 words for the conversation that opens with the text below. "
    "Reply with the title only: no quotes, no final punctuation."
)
_TITLE_INPUT_CHARS = 2_000
_TITLE_MAX_TOKENS = 24


class OpenAIProvider(ApiSettings):
    """Replies from an OpenAI-compatible chat-completions endpoint; see the module docstring.

    ``base_url`` is the API root (``.../v1``); ``api_key`` ``None`` means none
    configured; ``model`` is the default model; ``max_retries`` the SDK's retries.
    """

    name = "openai"
    vendor_host = _OPENAI_HOST
    key_variable = "OPENAI_API_KEY"
    model_example = "gpt-4o-mini or llama3.2"
    path = "/chat/completions"

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: SecretStr | str | None = None,
        model: str | None = None,
        max_retries: int = 2,
    ) -> None:
        super().__init__(base_url=base_url, api_key=api_key, model=model, max_retries=max_retries)

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIProvider:
        """The provider configured by ``openai_base_url``, ``openai_api_key`` and
        ``openai_model`` (no I/O: the endpoint is contacted by ``stream``/``title``)."""
        return cls(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
            model=settings.openai_model,
        )

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        model = self._model(request.model)
        key = self._key()
        self._no_session(request.session_id, "chat completions are stateless")
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend(request.messages)
        client = self._client(key)
        # Present: _client has imported the package.
        from openai import OpenAIError
        from openai.types.chat import ChatCompletionChunk

        async with client:
            try:
                chunks = await client.chat.completions.create(
                    model=model,
                    messages=cast("list[ChatCompletionMessageParam]", messages),
                    stream=True,
                    stream_options={"include_usage": True},
                    extra_headers=_auth_override(key),
                )
            except OpenAIError as error:
                raise self._failure(error, key, mid_reply=False) from None
            reply = _Reply(ChatCompletionChunk)
            async with chunks:
                try:
                    async for chunk in chunks:
                        for event in reply.feed(chunk):
                            yield event
                except (OpenAIError, ValueError) as error:
                    # ValueError: an event whose data is not JSON, or a chunk _Reply
                    # cannot read.
                    raise self._failure(error, key, mid_reply=True) from None
        if reply.finish_reason is None:
            raise ProviderError(
                f"the stream from {self.endpoint} ended before the reply was finished (no "
                "finish_reason); the server may have stopped or restarted: try again"
            )
        if reply.finish_reason == "content_filter":
            raise ProviderError(
                f"{self.endpoint} stopped the reply with its content filter "
                "(finish_reason content_filter); the reply is incomplete"
            )

    async def title(self, text: str) -> str | None:
        """3-6 words from the model for a conversation opening with ``text``; ``None``
        when it answers nothing; ``ProviderError`` when the request fails."""
        model, key = self._title_request()
        client = self._client(key)
        from openai import OpenAIError

        async with client:
            try:
                answer = await client.chat.completions.create(
                    model=model,
                    messages=[
                        {"role": "system", "content": _TITLE_PROMPT},
                        {"role": "user", "content": text[:_TITLE_INPUT_CHARS]},
                    ],
                    max_completion_tokens=_TITLE_MAX_TOKENS,
                    extra_headers=_auth_override(key),
                )
            except OpenAIError as error:
                raise self._failure(error, key, mid_reply=False) from None
        choices = getattr(answer, "choices", None)
        if not isinstance(choices, list):
            raise ProviderError(
                f"{self.endpoint} answered the title request with something that is not a "
                "chat completion; check that openai_base_url is an OpenAI-compatible API"
            )
        message = getattr(choices[0], "message", None) if choices else None
        content = getattr(message, "content", None)
        return clean_title(content) if isinstance(content, str) else None

    # ------------------------------------------------------------------ configuration

    def _client(self, key: str | None) -> AsyncOpenAI:
        try:
            from openai import AsyncOpenAI, OpenAIError
        except ImportError:
            raise package_missing(self.name, INSTALL_HINT) from None
        try:
            return AsyncOpenAI(
                base_url=self.base_url, api_key=key or _NO_KEY, max_retries=self.max_retries
            )
        except OpenAIError as error:
            raise setup_failure(self.name, self.endpoint, error, key) from None

    # ------------------------------------------------------------------------- errors

    def _failure(self, error: Exception, key: str | None, *, mid_reply: bool) -> ProviderError:
        """``error`` (of the SDK, or a ``ValueError`` reading the stream) as a
        ``ProviderError`` a person can act on, without the key."""
        from openai import APIConnectionError, APIStatusError, APITimeoutError

        where = self.endpoint
        if isinstance(error, APIStatusError):
            status = error.status_code
            detail = _server_words(error.body, key)
            said = f": {detail}" if detail else ""
            if status == 401:
                advice = (
                    "check the openai_api_key setting (THREADKEEP_OPENAI_API_KEY) or OPENAI_API_KEY"
                )
                return ProviderError(f"{where} refused the API key (HTTP 401){said}; {advice}")
            if status == 403:
                return ProviderError(
                    f"{where} denied access (HTTP 403){said}; check that the key may use "
                    "this model and endpoint"
                )
            if status == 404:
                return ProviderError(
                    f"{where} was not found (HTTP 404){said}; check the model name "
                    "(openai_model) and that openai_base_url is the API root, e.g. "
                    "https://api.openai.com/v1 or http://localhost:11434/v1"
                )
            if status == 429:
                return ProviderError(
                    f"{where} is rate limiting or out of quota (HTTP 429){said}; wait and try "
                    "again, or check the account's limits and billing"
                )
            if status >= 500:
                return ProviderError(
                    f"{where} failed with a server error (HTTP {status}){said}; the server "
                    "or the model is having trouble: try again later"
                )
            return ProviderError(f"{where} rejected the request (HTTP {status}){said}")
        if isinstance(error, APITimeoutError):
            return ProviderError(
                f"{where} did not answer in time; check that the server is up and not "
                "overloaded, then try again"
            )
        if isinstance(error, APIConnectionError):
            cause = scrub(str(error.__cause__ or error), key)
            return connection_failure(where, cause, setting="openai_base_url", mid_reply=mid_reply)
        if isinstance(error, ValueError):
            return ProviderError(
                f"{where} sent a stream that cannot be read as chat-completion chunks "
                f"({scrub(str(error), key)}); check that openai_base_url is an "
                "OpenAI-compatible API"
            )
        # An error event in the stream (APIError without a status), or another SDK error.
        detail = scrub(getattr(error, "message", None) or str(error), key)
        if mid_reply:
            return ProviderError(f"{where} reported an error in the middle of the reply: {detail}")
        return ProviderError(f"the request to {where} failed: {detail}")


# ---------------------------------------------------------------------------- the reply


@dataclass
class _PendingCall:
    call_id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class _Reply:
    """The reply being read: chunks in, events out. The SDK builds chunks without
    validating them, so every field used is checked here; what is not used is ignored
    (servers add fields of their own)."""

    def __init__(self, chunk_type: type[ChatCompletionChunk]) -> None:
        self.finish_reason: str | None = None
        self._chunk_type = chunk_type  # passed in: the SDK is imported only when used
        self._calls: dict[int, _PendingCall] = {}

    def feed(self, chunk: ChatCompletionChunk) -> list[ProviderEvent]:
        if not isinstance(chunk, self._chunk_type):
            raise ValueError(f"an event is {type(chunk).__name__}, not a JSON object")
        events: list[ProviderEvent] = []
        choices: Any = chunk.choices or []
        if not isinstance(choices, list):
            raise ValueError("a chunk's choices is not a list")
        for choice in choices:
            # One choice is asked for (n=1); a server that numbers it is held to 0.
            if getattr(choice, "index", 0) not in (0, None):
                continue
            events.extend(self._delta(getattr(choice, "delta", None)))
            finish = getattr(choice, "finish_reason", None)
            if isinstance(finish, str) and finish:
                self.finish_reason = finish
                events.extend(self._finished_calls())
        usage: Any = chunk.usage
        if usage is not None:
            events.append(
                Usage(
                    input_tokens=_count(getattr(usage, "prompt_tokens", None)),
                    output_tokens=_count(getattr(usage, "completion_tokens", None)),
                )
            )
        return events

    def _delta(self, delta: Any) -> list[ProviderEvent]:
        if delta is None:
            return []
        events: list[ProviderEvent] = []
        for text in (getattr(delta, "content", None), getattr(delta, "refusal", None)):
            if text is not None and not isinstance(text, str):
                raise ValueError("a chunk's delta content is not a string")
            if text:
                events.append(TextDelta(text))
        calls = getattr(delta, "tool_calls", None) or []
        if not isinstance(calls, list):
            raise ValueError("a chunk's tool_calls is not a list")
        for position, call in enumerate(calls):
            index = getattr(call, "index", None)
            pending = self._calls.setdefault(
                index if isinstance(index, int) else position, _PendingCall()
            )
            call_id = getattr(call, "id", None)
            if isinstance(call_id, str) and call_id:
                pending.call_id = call_id
            function = getattr(call, "function", None)
            name = getattr(function, "name", None)
            if isinstance(name, str) and name:
                pending.name = name
            arguments = getattr(function, "arguments", None)
            if isinstance(arguments, str):
                pending.arguments.append(arguments)
        return events

    def _finished_calls(self) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        for index, call in sorted(self._calls.items()):
            if not call.name:
                raise ValueError(f"tool call {index} has no function name")
            events.append(
                ToolCall(
                    call_id=call.call_id or f"call_{index}",
                    name=call.name,
                    arguments=decoded("".join(call.arguments)),
                )
            )
        self._calls.clear()
        return events


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -------------------------------------------------------------------------- helpers


def _auth_override(key: str | None) -> dict[str, Any] | None:
    """No key: send no ``Authorization`` header at all, rather than a made-up key."""
    if key is not None:
        return None
    from openai import omit

    return {"Authorization": omit}


def _server_words(body: object, key: str | None) -> str:
    """What the server said about an error (OpenAI's ``error.message``, or the body),
    scrubbed and cut short."""
    return quoted(body.get("message") if isinstance(body, dict) else body, key)
