"""What a provider is: the contract between the runtime and the code that produces a reply.

A provider turns one :class:`ProviderRequest` into a stream of events: pieces of reply
text (:class:`TextDelta`), tool calls and their results (:class:`ToolCall`,
:class:`ToolResult`), the provider's own session id (:class:`SessionStarted`) and token
counts (:class:`Usage`). It does not touch the store: the ``send`` pipeline builds the
request (the prior context of S4.1, the session id stored on the conversation), stores
what the events say, and decides about retries. A provider is therefore a plain async
generator over the network (or a subprocess), easy to test on its own.

The contract, for every provider:

* ``stream`` is an async generator. The pipeline may stop early (``aclose``, a cancelled
  task): a provider releases what it holds (a connection, a child process) in
  ``finally``, never leaves it behind.
* Failures are :class:`~threadkeep.errors.ProviderError` with a message a person can act
  on (the network, a refusal, an answer that cannot be read), never an exception of a
  provider's SDK and never a reply quietly cut short.
* A session id the provider does not accept (expired, unknown, from another machine) is
  :class:`~threadkeep.errors.ProviderSessionInvalid`, raised *before the first event*:
  the pipeline then retries once without the session id and with the prior context
  injected (S4.2), and a retry must not repeat text already streamed.
* :class:`SessionStarted` may come at any point of the stream (Claude Code reports its
  session at the end); the last one is what the conversation keeps. Each :class:`Usage`
  is the run's totals so far, so the last one counts; ``None`` is "not reported".
* ``title`` (S4.6) is part of the protocol, so the pipeline never probes for it: it
  returns 3-6 words, or ``None`` when the provider does not make titles (``echo``); then
  the pipeline derives one from the first user message. A provider that makes titles
  but failed raises ``ProviderError``, which the pipeline treats the same way — ``None``
  never stands for a failure.

Providers register a :class:`ProviderSpec` through the ``register_providers`` hook
(``threadkeep.hookspecs``), the built-in ones too; ``providers/registry.py`` collects
them by name. ``ProviderSpec.create`` receives the :class:`~threadkeep.settings.Settings`,
where a provider reads its endpoint, key and model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from threadkeep.settings import Settings

__all__ = [
    "Provider",
    "ProviderEvent",
    "ProviderRequest",
    "ProviderSpec",
    "SessionStarted",
    "TextDelta",
    "ToolCall",
    "ToolResult",
    "Usage",
]


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """What a provider is asked to answer.

    * ``messages``: OpenAI-style chat messages (``{"role": ..., "content": ...}``): the
      prior context if the pipeline injects it as messages, then the new user message,
      always last.
    * ``system``: a system prompt section (for instance the prior context rendered as
      text, for a provider that takes it there), or ``None``.
    * ``session_id``: the provider's own session to resume, as it reported it earlier
      with :class:`SessionStarted`; ``None`` starts afresh.
    * ``model``: the model to use, or ``None`` for the provider's configured default.
    * ``prior_messages``: how many earlier messages of the conversation the request
      carries or stands for (a resumed session stands for all of them), so that what a
      provider was given can be reported without counting ``messages``.
    """

    messages: tuple[dict[str, str], ...]
    system: str | None = None
    session_id: str | None = None
    model: str | None = None
    prior_messages: int = 0


@dataclass(frozen=True, slots=True)
class TextDelta:
    """The next piece of the reply's text; the reply is the pieces joined."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model calls a tool; ``arguments`` as the provider gave them (decoded JSON)."""

    call_id: str
    name: str
    arguments: Any


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The result of the tool call ``call_id`` (a provider that runs tools itself)."""

    call_id: str
    content: str


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """The provider's own session id for this conversation, to pass back next time."""

    session_id: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of the run so far; ``None`` where the provider does not report one."""

    input_tokens: int | None = None
    output_tokens: int | None = None


ProviderEvent = TextDelta | ToolCall | ToolResult | SessionStarted | Usage


class Provider(Protocol):
    """A source of replies; see the module docstring for the contract.

    ``name`` is the name it is registered under (its :class:`ProviderSpec`'s).
    """

    name: str

    def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        """The reply to ``request``, as events (an ``async def`` with ``yield``)."""
        ...

    async def title(self, text: str) -> str | None:
        """A title of 3-6 words for a conversation that opens with ``text`` (the first
        user message and the reply), or ``None`` when this provider makes no titles."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider, as registered through the ``register_providers`` hook.

    * ``name``: what a conversation's ``provider`` and the settings name it by (lower
      case, letters, digits and ``-``, as ``claude-code``).
    * ``description``: one line for people (listings, errors).
    * ``create(settings)``: a ready provider, configured from the settings. It must be
      cheap and do no I/O (no connection, no subprocess): those wait for ``stream``; a
      setting it cannot use is ``InvalidInput`` naming the setting.
    """

    name: str
    description: str
    create: Callable[[Settings], Provider]
