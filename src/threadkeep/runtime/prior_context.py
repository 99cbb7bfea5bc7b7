"""Context re-injection (SPEC S4.1): the earlier conversation, within a budget.

A provider that resumes a conversation without a session of its own (a stateless
chat-completions endpoint, or a CLI agent whose session was lost, S4.2) is given the
end of the stored conversation instead. :func:`build_prior_context` reads it and
returns a :class:`PriorContext`, rendered either as a section of a system prompt
(:meth:`PriorContext.as_system_section`) or as OpenAI-style chat messages
(:meth:`PriorContext.as_chat_messages`).

**What is read.** Two bounded reads, never the whole conversation: the conversation's
counters (``message_count``, ``last_seq``), then at most ``max_messages`` rows, newest
first, below ``before_seq`` (the pipeline passes the seq of the user message it has just
stored, so that message is not repeated as history). The rows are read below the
``last_seq`` of the counters, so a message appended between the two reads is not shown
and the count of what was left out stays consistent with what is shown.

**What is shown.** The window is the last ``max_messages`` *stored* messages; within
it each message is, by kind and role:

* ``text`` from ``user`` or ``assistant``: shown, under its role. An ``incomplete``
  reply (its run died) is shown as far as it was stored.
* ``tool_call`` / ``tool_result`` (and ``text`` with role ``tool``): condensed to a
  labelled note (``tool call: …`` / ``tool result: …``) cut like any message, so the
  model knows what it did and saw without the full payloads. As chat messages they are
  ``assistant`` messages prefixed ``[tool call]`` / ``[tool result]``: a ``tool``
  message needs the ``tool_call_id`` of a call the provider made itself, which a
  stateless re-send does not have.
* ``system`` text, ``system_artifact`` and ``error``: skipped. The resumed run brings
  its own system prompt (an old one re-sent as history would repeat or contradict it);
  artifacts and errors are app and runtime records, not dialogue.
* a message whose content is blank: skipped (nothing to say).

Skipped messages count as left out, like everything older than the window:
``left_out`` is the number of messages before ``before_seq`` (from the counters) minus
the number shown, and both renderings say it in one line, ``(15 earlier messages not
shown)``.

**Budgets** (:class:`ContextBudget`, defaults from the SPEC): each message's content,
stripped of surrounding whitespace, is cut to ``max_chars`` characters and then marked
with :data:`CUT_MARKER`; with ``max_tokens`` set, the oldest shown messages are dropped
until the rest fit. A message's tokens are its stored ``tokens`` when it is shown whole
and has them, else an estimate of ``ceil(characters / 4)`` of the text shown (cut
marker included) — the usual rule of thumb for English with BPE tokenizers; it
overestimates code and underestimates some scripts, so leave headroom. Only content is
counted, not the role labels and message framing a provider adds (a few tokens per
message).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from dataclasses import dataclass

from threadkeep.aio import AsyncConversationStore
from threadkeep.errors import InvalidInput
from threadkeep.inputs import check_nonnegative
from threadkeep.models import Message
from threadkeep.store import ConversationStore

__all__ = [
    "CUT_MARKER",
    "ContextBudget",
    "PriorContext",
    "PriorMessage",
    "build_prior_context",
    "build_prior_context_async",
    "estimate_tokens",
]

CUT_MARKER = " […]"
"""Appended to content that was cut: the editorial mark for an elision, which a reader
(and a model) takes as "more text was here", and which rarely ends a message naturally."""

# The store reads at most this many rows in one page (``get_messages``'s limit).
_MAX_WINDOW = 100_000

_SECTION_HEADING = "Earlier in this conversation (oldest first):"
_TOOL_LABELS = {"tool_call": "tool call", "tool_result": "tool result"}


def estimate_tokens(text: str) -> int:
    """Roughly how many tokens ``text`` is: ``ceil(len(text) / 4)``."""
    return math.ceil(len(text) / 4)


def _check_budget_value(value: object, name: str, example: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(
            f"{name} must be a whole number of at least 1, got {value!r:.40}; "
            f"for example {name}={example}"
        )


@dataclass(frozen=True, slots=True)
class ContextBudget:
    """How much of the earlier conversation to show (SPEC S4.1 defaults).

    ``max_messages``: the last this many stored messages form the window.
    ``max_chars``: each message's content is cut to this many characters.
    ``max_tokens``: when set, the oldest shown messages are dropped until the rest fit.
    A value that is not a positive whole number raises ``InvalidInput``.
    """

    max_messages: int = 30
    max_chars: int = 500
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        _check_budget_value(self.max_messages, "max_messages", "30")
        if self.max_messages > _MAX_WINDOW:
            raise InvalidInput(
                f"max_messages must be at most {_MAX_WINDOW}, got {self.max_messages}; "
                "use max_tokens to bound a long context instead"
            )
        _check_budget_value(self.max_chars, "max_chars", "500")
        if self.max_tokens is not None:
            _check_budget_value(self.max_tokens, "max_tokens", "4000 (or None for no limit)")


@dataclass(frozen=True, slots=True)
class PriorMessage:
    """One earlier message as it is shown: ``content`` is the text sent (cut and marked
    when ``cut``), ``tokens`` what it counted against the token budget."""

    seq: int
    role: str
    kind: str
    content: str
    cut: bool
    tokens: int

    @property
    def label(self) -> str:
        """Who said it, in the system-prompt section: the role, or the tool note."""
        if self.kind in _TOOL_LABELS:
            return _TOOL_LABELS[self.kind]
        return "tool result" if self.role == "tool" else self.role

    def as_chat_message(self) -> dict[str, str]:
        """OpenAI-style ``{"role", "content"}``; tool notes go as labelled assistant text."""
        if self.role in ("user", "assistant") and self.kind == "text":
            return {"role": self.role, "content": self.content}
        return {"role": "assistant", "content": f"[{self.label}] {self.content}"}


@dataclass(frozen=True, slots=True)
class PriorContext:
    """The earlier conversation to give a provider that resumes without its own session.

    ``messages`` are oldest first; ``left_out`` counts the earlier messages not shown
    (older than the window, skipped by kind, or dropped for the token budget).
    """

    conversation_id: str
    messages: tuple[PriorMessage, ...]
    left_out: int

    @property
    def empty(self) -> bool:
        """Whether there is no earlier conversation at all (nothing shown, none left out)."""
        return not self.messages and self.left_out == 0

    @property
    def tokens(self) -> int:
        """What the shown messages counted against the token budget, together."""
        return sum(message.tokens for message in self.messages)

    @property
    def left_out_line(self) -> str:
        """``(15 earlier messages not shown)``; empty when nothing was left out."""
        if self.left_out == 0:
            return ""
        noun = "message" if self.left_out == 1 else "messages"
        return f"({self.left_out} earlier {noun} not shown)"

    def as_system_section(self) -> str:
        """A section for a system prompt: a heading, the left-out line, then one
        ``role: content`` paragraph per message. ``""`` when there is no earlier
        conversation, so a caller can append it unconditionally."""
        if self.empty:
            return ""
        lines = [_SECTION_HEADING]
        if self.left_out:
            lines.append(self.left_out_line)
        blocks = ["\n".join(lines)]
        blocks.extend(f"{message.label}: {message.content}" for message in self.messages)
        return "\n\n".join(blocks)

    def as_chat_messages(self) -> list[dict[str, str]]:
        """OpenAI-style chat messages, oldest first, for a stateless provider; led by a
        ``system`` message with the left-out line when anything was left out."""
        chat = [{"role": "system", "content": self.left_out_line}] if self.left_out else []
        chat.extend(message.as_chat_message() for message in self.messages)
        return chat


def build_prior_context(
    store: ConversationStore,
    conversation_id: str,
    *,
    budget: ContextBudget | None = None,
    before_seq: int | None = None,
) -> PriorContext:
    """The earlier conversation of ``conversation_id`` within ``budget`` (SPEC defaults
    when ``None``), only messages with ``seq < before_seq`` when that is given.

    Raises ``NotFound`` for a conversation this store's owner cannot see, and
    ``InvalidInput`` for a bad id, budget or ``before_seq``.
    """
    if budget is None:
        budget = ContextBudget()
    elif not isinstance(budget, ContextBudget):
        raise InvalidInput(f"budget must be a ContextBudget, got {type(budget).__name__}")
    check_nonnegative(before_seq, "before_seq")
    conversation = store.get_conversation(conversation_id)
    # Seqs are contiguous (models.Message): the stored ones are first_seq..last_seq.
    first_seq = conversation.last_seq - conversation.message_count + 1
    # Read below the counters' last_seq: a message appended after them is neither shown
    # nor counted.
    end = (
        conversation.last_seq + 1
        if before_seq is None
        else min(before_seq, conversation.last_seq + 1)
    )
    earlier = max(0, end - first_seq)
    window = (
        store.get_messages(
            conversation.id, before_seq=end, limit=budget.max_messages, descending=True
        )
        if earlier
        else []
    )
    shown = _within_tokens(_shown(reversed(window), budget.max_chars), budget.max_tokens)
    # A pop or clear between the two reads can leave fewer rows than counted.
    return PriorContext(conversation.id, shown, max(0, earlier - len(shown)))


async def build_prior_context_async(
    store: AsyncConversationStore,
    conversation_id: str,
    *,
    budget: ContextBudget | None = None,
    before_seq: int | None = None,
) -> PriorContext:
    """:func:`build_prior_context` from a coroutine: both reads in one worker thread."""
    # One thread hop for the two reads, and one implementation (STYLE 9).
    return await asyncio.to_thread(
        build_prior_context, store.sync, conversation_id, budget=budget, before_seq=before_seq
    )


def _shown(messages: Iterable[Message], max_chars: int) -> list[PriorMessage]:
    """The messages that are shown (by kind and role, see the module docstring), cut."""
    shown = []
    for message in messages:
        if not _is_shown(message):
            continue
        text = message.content.strip()
        if not text:
            continue
        cut = len(text) > max_chars
        if cut:
            text = text[:max_chars].rstrip() + CUT_MARKER
        # A stored count is of the whole content: it does not describe a cut text.
        tokens = message.tokens if message.tokens is not None and not cut else None
        shown.append(
            PriorMessage(
                seq=message.seq,
                role=message.role,
                kind=message.kind,
                content=text,
                cut=cut,
                tokens=estimate_tokens(text) if tokens is None else tokens,
            )
        )
    return shown


def _is_shown(message: Message) -> bool:
    if message.kind in _TOOL_LABELS:
        return True
    return message.kind == "text" and message.role in ("user", "assistant", "tool")


def _within_tokens(
    messages: list[PriorMessage], max_tokens: int | None
) -> tuple[PriorMessage, ...]:
    """The newest messages that fit in ``max_tokens``: the oldest go first, and once one
    does not fit nothing older is shown (no gaps in the middle of the history)."""
    if max_tokens is None:
        return tuple(messages)
    total = 0
    start = len(messages)
    while start > 0 and total + messages[start - 1].tokens <= max_tokens:
        start -= 1
        total += messages[start].tokens
    return tuple(messages[start:])
