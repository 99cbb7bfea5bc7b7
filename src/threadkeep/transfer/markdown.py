"""Markdown export: conversations for people to read, share or paste.

Each conversation is a ``#`` heading (its title, or "Untitled conversation"), a line of
metadata (id, mode, provider and model, status, tags, times, message count), then one
``##`` section per message headed by its role — and its kind when it is not plain
text — with its seq and time. Text is written as it is (it usually is Markdown
already); a tool call is shown as the tool's name and its arguments as a JSON block;
tool results, artifacts and errors go into fenced blocks, fenced with more backticks
than they contain so that nothing inside can close the fence. Conversations are
separated by a rule. The writer streams like the others; it is not meant to be read
back (export JSON or JSONL for that).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any, BinaryIO

from threadkeep.models import Conversation, Message

__all__ = ["MarkdownWriter"]

_ROLES = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}
_KINDS = {
    "tool_call": "tool call",
    "tool_result": "tool result",
    "system_artifact": "artifact",
    "error": "error",
}
_BACKTICKS = re.compile(r"`+")


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fenced(text: str, language: str = "") -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tool_call(content: str) -> str:
    try:
        call: Any = json.loads(content)
    except ValueError:
        return _fenced(content)
    if isinstance(call, dict) and isinstance(call.get("name"), str):
        arguments = call.get("arguments", call.get("input"))
        shown = json.dumps(arguments, indent=2, ensure_ascii=False)
        return f"**`{_one_line(call['name'])}`**\n\n{_fenced(shown, 'json')}"
    return _fenced(json.dumps(call, indent=2, ensure_ascii=False), "json")


class MarkdownWriter:
    """Conversations as Markdown, streamed."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._conversations = 0

    def _write(self, text: str) -> None:
        self._out.write(text.encode("utf-8", "surrogatepass"))

    def conversation(self, conversation: Conversation) -> None:
        title = _one_line(conversation.title or "") or "Untitled conversation"
        facts = [f"`{conversation.id}`", conversation.mode]
        runner = " / ".join(p for p in (conversation.provider, conversation.model) if p)
        if runner:
            facts.append(runner)
        if conversation.status != "active":
            facts.append(conversation.status)
        if conversation.pinned:
            facts.append("pinned")
        if conversation.tags:
            facts.append("tags: " + ", ".join(conversation.tags))
        facts.append(f"created {_when(conversation.created_at)}")
        facts.append(f"updated {_when(conversation.updated_at)}")
        count = conversation.message_count
        facts.append(f"{count} message{'' if count == 1 else 's'}")
        if conversation.forked_from is not None:
            fork = conversation.forked_from
            facts.append(f"forked from `{fork.conversation_id}` at message {fork.seq}")
        lead = "\n---\n\n" if self._conversations else ""
        self._write(f"{lead}# {title}\n\n{' · '.join(facts)}\n")
        self._conversations += 1

    def messages(self, messages: Sequence[Message]) -> None:
        self._write("".join(self._message(message) for message in messages))

    def _message(self, message: Message) -> str:
        heading = _ROLES.get(message.role, message.role)
        if message.kind in _KINDS:
            heading += f" · {_KINDS[message.kind]}"
        if message.status != "complete":
            heading += f" ({message.status})"
        stamp = f"#{message.seq} · {_when(message.created_at)}"
        if message.kind == "tool_call":
            body = _tool_call(message.content)
        elif message.kind == "text":
            body = message.content
        else:
            body = _fenced(message.content)
        return f"\n## {heading}\n\n*{stamp}*\n\n{body}\n"

    def close(self) -> None:
        if not self._conversations:
            self._write("*No conversations.*\n")
