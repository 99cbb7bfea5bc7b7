"""Titles (SPEC S4.6): a few words for a conversation, after its first reply.

After a conversation's first assistant reply, :func:`give_title` asks the
conversation's provider for a title (``Provider.title``: 3-6 words). When the provider
makes none (``echo`` returns ``None``) or fails (``ProviderError``), the title is
derived from the first user message instead (:func:`title_from_message`). The store
writes it only while the conversation has no title
(``store.set_title_if_untitled``), in the same transaction that checks: a title the
user set — before the reply, or while the title was being made — is never overwritten.

It runs in the background: the turn's reply does not wait for it, and a failure to
title is logged, never shown as the turn's error. ``Runtime.settle()`` waits for the
titles still being made (the CLI before it exits, tests).
"""

from __future__ import annotations

import logging
import re

from threadkeep.aio import AsyncConversationStore
from threadkeep.errors import ProviderError, ThreadkeepError
from threadkeep.runtime.providers.base import Provider

__all__ = ["MAX_WORDS", "clean_title", "give_title", "title_from_message"]

log = logging.getLogger(__name__)

#: A title is at most this many words (the provider's, trimmed; or the derived one).
MAX_WORDS = 6
#: A derived title is cut to this many characters (very long "words": URLs, code).
MAX_CHARS = 60

_LABEL = re.compile(r"^\s*title\s*:\s*", re.IGNORECASE)
# Quotes (straight, curly, angle), backticks and markdown marks a model wraps a title in.
_EDGES = "\"'`*_#\u00ab\u00bb\u201c\u201d\u2018\u2019 \t"
_END_PUNCTUATION = ".!?,;:"


def clean_title(text: str) -> str | None:
    """``text`` as a title — a provider's answer, or a first message: its first
    non-empty line without a ``Title:`` label, quotes, markdown emphasis or end
    punctuation, at most :data:`MAX_WORDS` words and :data:`MAX_CHARS` characters;
    ``None`` if nothing is left."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    line = _LABEL.sub("", line.strip(_EDGES))
    line = line.strip(_EDGES).rstrip(_END_PUNCTUATION).strip(_EDGES)
    title = " ".join(line.split()[:MAX_WORDS]).rstrip(_END_PUNCTUATION)
    if len(title) > MAX_CHARS:
        title = title[: MAX_CHARS - 1].rstrip() + "\u2026"
    return title or None


def title_from_message(text: str) -> str:
    """The fallback: the first words of the first user message (never empty)."""
    return clean_title(text) or "New conversation"


async def give_title(
    store: AsyncConversationStore, provider: Provider, conversation_id: str, first_message: str
) -> str | None:
    """Title the conversation if it has none; the title written, or ``None``."""
    try:
        made = await provider.title(first_message)
    except ProviderError as error:
        log.info(
            "title: provider %s made none (%s); derived from the message", provider.name, error
        )
        made = None
    title = (clean_title(made) if made else None) or title_from_message(first_message)
    try:
        updated = await store.set_title_if_untitled(conversation_id, title)
    except ThreadkeepError as error:  # the conversation went away, the store is down
        log.warning("title: not written for %s (%s)", conversation_id, error.code)
        return None
    return None if updated is None else updated.title
