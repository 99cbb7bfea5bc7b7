"""What the templates show of a conversation and its messages (view models).

The templates never reach into the store's models for decisions: each message becomes
a :class:`MessageView` that says how it is drawn — its *kind* for the page (``user``,
``assistant``, ``tool``, ``artifact``, ``error``, ``system``: the colours of the
message and of its minimap dot) and its body as sanitized HTML. Text messages of
people and assistants are Markdown (``markdown.py``); tool calls and results, errors
and system messages are shown as the text they are, escaped by the template. Each
conversation in the sidebar becomes a :class:`ItemView` with its group and relative
time (``groups.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from markupsafe import Markup

from threadkeep.models import Conversation, Message
from threadkeep.server.web.groups import Group, group_of, relative_time
from threadkeep.server.web.markdown import render_markdown

__all__ = ["ItemView", "MessageView", "item_view", "message_view", "provider_label"]

_ROLE_LABELS = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool"}
_KIND_LABELS = {
    "tool_call": "Tool call",
    "tool_result": "Tool result",
    "system_artifact": "Artifact",
    "error": "Error",
}


@dataclass(frozen=True, slots=True)
class MessageView:
    """One message as the page draws it."""

    message: Message
    #: ``user``, ``assistant``, ``tool``, ``artifact``, ``error`` or ``system``.
    kind: str
    label: str
    #: Sanitized HTML for Markdown messages; ``None`` when the text is shown as is.
    html: Markup | None
    incomplete: bool


def _page_kind(message: Message) -> str:
    if message.kind == "error":
        return "error"
    if message.kind in ("tool_call", "tool_result") or message.role == "tool":
        return "tool"
    if message.kind == "system_artifact":
        return "artifact"
    if message.role in ("user", "assistant"):
        return message.role
    return "system"


def message_view(message: Message) -> MessageView:
    kind = _page_kind(message)
    label = _KIND_LABELS.get(message.kind) or _ROLE_LABELS.get(message.role, message.role)
    markdown = kind in ("user", "assistant", "artifact")
    return MessageView(
        message=message,
        kind=kind,
        label=label,
        # What a person typed keeps its line breaks; a model's Markdown is CommonMark.
        html=render_markdown(message.content, breaks=kind == "user") if markdown else None,
        incomplete=message.status != "complete",
    )


def provider_label(conversation: Conversation | None) -> str:
    """``openai · gpt-4o``, ``echo``, or the mode while no provider is fixed."""
    if conversation is None:
        return ""
    if conversation.provider is None:
        return conversation.mode
    if conversation.model:
        return f"{conversation.provider} · {conversation.model}"
    return conversation.provider


@dataclass(frozen=True, slots=True)
class ItemView:
    """One conversation in the sidebar."""

    conversation: Conversation
    group: Group
    badge: str
    when: str


def item_view(
    conversation: Conversation, now: dt.datetime, zone: dt.tzinfo, *, pinned_first: bool = True
) -> ItemView:
    """``pinned_first``: a pinned conversation goes in the Pinned group (the list of
    active ones), rather than by its time (the archive)."""
    pinned = conversation.pinned and pinned_first
    return ItemView(
        conversation=conversation,
        group=group_of(conversation.updated_at, now, zone, pinned=pinned),
        badge=conversation.provider or conversation.mode,
        when=relative_time(conversation.updated_at, now),
    )
