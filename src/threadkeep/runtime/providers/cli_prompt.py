"""What an agent CLI is given to read (``claude-code``, ``codex``; SPEC S4.1-S4.3).

A CLI is driven with one prompt per run. From a
:class:`~threadkeep.runtime.providers.base.ProviderRequest` it gets:

* **the new message**: the last of ``request.messages``, which must be the user's;
* **a preamble**, when there is anything before it: ``request.system``, then the earlier
  conversation the pipeline injected as chat messages (S4.1 — it does so when the
  conversation has no provider session, and on the retry after a refused one, S4.2),
  rendered as text under :data:`CONTEXT_HEADING`, one ``role: content`` paragraph per
  message, oldest first. A ``system`` chat message (the pipeline's "(15 earlier
  messages not shown)" line) is kept as it is; tool notes arrive already labelled
  (``[tool call] …``).

Each provider puts the preamble where its CLI takes it: Claude Code in its system prompt
(``--append-system-prompt``); Codex, which has no such option for ``exec``, at the head
of the prompt inside ``<context>`` tags (:meth:`CliPrompt.combined`) — as does Claude
Code when the preamble is too long for one command-line argument.

Titles (S4.6) are asked for with :func:`title_prompt`: the instruction, then the opening
text cut to :data:`TITLE_INPUT_CHARS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadkeep.errors import InvalidInput
from threadkeep.runtime.providers.base import ProviderRequest

__all__ = [
    "CONTEXT_HEADING",
    "TITLE_INPUT_CHARS",
    "TITLE_INSTRUCTION",
    "CliPrompt",
    "cli_prompt",
    "title_prompt",
]

CONTEXT_HEADING = "The conversation so far, oldest first (you are continuing it):"
TITLE_INSTRUCTION = (
    "Write a title of 3 to 6 words for the conversation that opens with the text below. "
    "Reply with the title only: no quotes, no final punctuation. Do not use any tools."
)
TITLE_INPUT_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class CliPrompt:
    """The new message and the preamble to give with it (``None``: nothing earlier)."""

    message: str
    preamble: str | None

    def combined(self) -> str:
        """One prompt: the preamble in ``<context>`` tags, then the message."""
        if not self.preamble:
            return self.message
        return f"<context>\n{self.preamble}\n</context>\n\n{self.message}"


def cli_prompt(request: ProviderRequest, provider: str) -> CliPrompt:
    """The prompt of ``request`` (``InvalidInput`` if it has no user message last)."""
    if not request.messages:
        raise InvalidInput(f"the {provider} provider needs a user message to answer")
    *earlier, last = request.messages
    content = last.get("content")
    if last.get("role") != "user" or not isinstance(content, str) or not content.strip():
        raise InvalidInput(
            f"the {provider} provider answers a user message: the request's last message "
            "must have role 'user' and some text"
        )
    parts = []
    if request.system and request.system.strip():
        parts.append(request.system.strip())
    conversation = [_paragraph(message) for message in earlier]
    conversation = [text for text in conversation if text]
    if conversation:
        parts.append("\n\n".join([CONTEXT_HEADING, *conversation]))
    return CliPrompt(content, "\n\n".join(parts) if parts else None)


def _paragraph(message: dict[str, str]) -> str:
    role = message.get("role") or "user"
    content = (message.get("content") or "").strip()
    if not content:
        return ""
    return content if role == "system" else f"{role}: {content}"


def title_prompt(text: str) -> str:
    """The prompt asking for a title of a conversation that opens with ``text``."""
    return f"{TITLE_INSTRUCTION}\n\n{text[:TITLE_INPUT_CHARS]}"
