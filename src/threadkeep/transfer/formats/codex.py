"""Codex CLI rollouts (``~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl``) as records.

A rollout is JSON Lines, one session per file. Each line is
``{"timestamp", "type", "payload"}``:

* ``session_meta`` — the session's ``id`` (the :class:`Source` id), ``cwd``, the base
  ``instructions`` and ``git`` info; these become the conversation's context.
* ``response_item`` — what the model saw and said, in order:

  - ``message`` (role ``user``/``assistant``, content a list of ``input_text`` /
    ``output_text`` parts) becomes a text message. Codex injects the environment and
    the user's instructions as *user* messages starting with ``<environment_context>``
    or ``<user_instructions>``; those are not something the user typed and are
    skipped. ``developer``/``system`` messages become ``system_artifact`` messages.
  - ``function_call`` (``name``, ``arguments``, ``call_id``) and
    ``custom_tool_call`` / ``local_shell_call`` become ``tool_call`` messages;
    ``function_call_output`` / ``custom_tool_call_output`` (``call_id``, ``output``)
    become ``tool_result`` messages with role ``tool``. The raw item is kept in
    ``metadata["item"]``.
  - ``reasoning`` is not shown to the user; its readable summary (never the encrypted
    content) is kept in ``metadata["reasoning"]`` of the next assistant item.
  - any other item type is kept whole as a ``system_artifact`` message, so nothing is
    dropped silently.

* ``turn_context`` gives the model in use (the latest one is the conversation's
  ``model``; ``session_meta`` may name one too); ``event_msg`` and other line types
  duplicate what the response items say and are only counted
  (``context["ignored_line_types"]``).

The conversation's provider is ``codex`` (the runtime provider that can resume it) and
its provider session the ``session_meta`` id. Rollouts have no title: the first thing
the user typed stands in, shortened as a listing preview is (whitespace collapsed, cut
at ``TITLE_CHARS`` with an ellipsis).

Rollouts written before the ``payload`` envelope (2025 and earlier) put the session
meta bare on the first line and the response items bare on later ones; both shapes
are read. A line that is not a JSON object, or an item of the wrong shape, raises
:class:`~threadkeep.errors.InvalidInput` naming the file and the line number.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from threadkeep.errors import InvalidInput
from threadkeep.transfer.formats.json_fields import (
    decode_arguments,
    is_model_name,
    iso_time,
    json_line,
    load_jsonl,
)
from threadkeep.transfer.limits import DEFAULT_LIMITS, ImportLimits
from threadkeep.transfer.records import ImportedConversation, ImportedMessage, Source

__all__ = ["FORMAT", "load", "parse_lines"]

FORMAT = "codex"
PROVIDER = "codex"
TITLE_CHARS = 80

_INJECTED_PREFIXES = ("<environment_context>", "<user_instructions>")
_CALL_TYPES = frozenset({"function_call", "custom_tool_call", "local_shell_call"})
_OUTPUT_TYPES = frozenset({"function_call_output", "custom_tool_call_output"})
_ITEM_TYPES = _CALL_TYPES | _OUTPUT_TYPES | {"message", "reasoning"}


class _Rollout:
    """Everything read so far from one rollout file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.session_id: str | None = None
        self.model: str | None = None
        self.title: str | None = None
        self.context: dict[str, Any] = {}
        self.messages: list[ImportedMessage] = []
        self.reasoning: list[str] = []
        self.ignored: dict[str, int] = {}
        self.first_at: dt.datetime | None = None
        self.last_at: dt.datetime | None = None

    def seen_at(self, at: dt.datetime | None) -> None:
        if at is not None:
            self.first_at = at if self.first_at is None else min(self.first_at, at)
            self.last_at = at if self.last_at is None else max(self.last_at, at)

    def add(self, message: ImportedMessage) -> None:
        self.messages.append(message)

    def take_reasoning(self) -> list[str]:
        taken, self.reasoning = self.reasoning, []
        return taken


def parse_lines(
    lines: Iterable[str], *, file: str, limits: ImportLimits = DEFAULT_LIMITS
) -> Iterator[ImportedConversation]:
    """Parse one rollout's lines; yield its conversation if it has any messages."""
    rollout = _Rollout(file)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{file}:{lineno}"
        record = json_line(line, where, limits)
        line_type, payload = _unwrap(record, lineno)
        if not isinstance(payload, dict):
            raise InvalidInput(f"{where}: 'payload' must be a JSON object")
        at = iso_time(record.get("timestamp"), where)
        rollout.seen_at(at)
        if line_type == "session_meta":
            _read_meta(rollout, payload, where)
        elif line_type == "response_item":
            _read_item(rollout, payload, at, lineno, where)
        elif line_type == "turn_context" and is_model_name(payload.get("model")):
            rollout.model = payload["model"]
        else:
            key = str(line_type)
            rollout.ignored[key] = rollout.ignored.get(key, 0) + 1
    if not rollout.messages:
        return
    if rollout.reasoning:
        # Reasoning after the last reply (an interrupted turn) is still kept.
        rollout.context["trailing_reasoning"] = rollout.take_reasoning()
    if rollout.ignored:
        rollout.context["ignored_line_types"] = dict(sorted(rollout.ignored.items()))
    yield ImportedConversation(
        source=Source(FORMAT, file, rollout.session_id or Path(file).stem),
        title=rollout.title,
        messages=tuple(rollout.messages),
        created_at=rollout.first_at,
        updated_at=rollout.last_at,
        context=rollout.context,
        provider=PROVIDER,
        provider_session_id=rollout.session_id,
        model=rollout.model,
    )


def title_from(text: str) -> str | None:
    """A title made of the first words of ``text``: whitespace collapsed, at most
    ``TITLE_CHARS`` characters, an ellipsis where it was cut."""
    words = " ".join(text[: TITLE_CHARS * 4].split())
    if len(words) <= TITLE_CHARS:
        return words or None
    return words[: TITLE_CHARS - 1].rstrip() + "…"


def load(path: Path, *, limits: ImportLimits = DEFAULT_LIMITS) -> Iterator[ImportedConversation]:
    """Parse one rollout ``.jsonl``, or every ``*.jsonl`` under a directory tree."""
    return load_jsonl(path, parse_lines, limits)


def _unwrap(record: dict[str, Any], lineno: int) -> tuple[str | None, Any]:
    """Return (line type, payload) for both the enveloped and the older bare shape."""
    if "payload" in record:
        line_type = record.get("type")
        return (line_type if isinstance(line_type, str) else None), record["payload"]
    if record.get("type") in _ITEM_TYPES:
        return "response_item", record
    if lineno == 1 and "id" in record and "type" not in record:
        return "session_meta", record
    line_type = record.get("type") or record.get("record_type")
    return (line_type if isinstance(line_type, str) else None), record


def _read_meta(rollout: _Rollout, meta: dict[str, Any], where: str) -> None:
    if rollout.session_id is not None:
        # A resumed or forked rollout repeats earlier sessions' meta; the first is ours.
        return
    session_id = meta.get("id")
    if not isinstance(session_id, str) or not session_id:
        raise InvalidInput(f"{where}: session_meta needs a string 'id'")
    rollout.session_id = session_id
    if rollout.model is None and is_model_name(meta.get("model")):
        rollout.model = meta["model"]
    for key in ("cwd", "instructions", "git", "cli_version", "originator"):
        if meta.get(key) is not None:
            rollout.context[key] = meta[key]
    git = meta.get("git")
    if isinstance(git, dict) and isinstance(git.get("branch"), str):
        rollout.context["git_branch"] = git["branch"]


def _read_item(
    rollout: _Rollout, item: dict[str, Any], at: dt.datetime | None, lineno: int, where: str
) -> None:
    item_type = item.get("type")
    raw_id = item.get("id")
    item_id = raw_id if isinstance(raw_id, str) else f"line:{lineno}"
    if item_type == "message":
        _read_message(rollout, item, item_id, at, where)
    elif item_type == "reasoning":
        summary = item.get("summary")
        if isinstance(summary, list):
            rollout.reasoning.extend(
                part["text"]
                for part in summary
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    elif item_type in _CALL_TYPES:
        call_id = item.get("call_id") or item.get("id")
        if not isinstance(call_id, str):
            raise InvalidInput(f"{where}: a {item_type} item needs a string 'call_id'")
        body = {
            "name": item.get("name", "shell" if item_type == "local_shell_call" else None),
            "arguments": _arguments(item),
        }
        metadata: dict[str, Any] = {"item": item}
        reasoning = rollout.take_reasoning()
        if reasoning:
            metadata["reasoning"] = reasoning
        rollout.add(
            ImportedMessage(
                role="assistant",
                content=json.dumps(body, ensure_ascii=False),
                kind="tool_call",
                metadata=metadata,
                created_at=at,
                source_id=call_id,
            )
        )
    elif item_type in _OUTPUT_TYPES:
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            raise InvalidInput(f"{where}: a {item_type} item needs a string 'call_id'")
        output = item.get("output")
        content = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        rollout.add(
            ImportedMessage(
                role="tool",
                content=content,
                kind="tool_result",
                metadata={"call_id": call_id, "item": item},
                created_at=at,
                source_id=f"result:{call_id}",
            )
        )
    else:
        # Web searches, images and item types yet to come: kept whole, not dropped.
        rollout.add(
            ImportedMessage(
                role="system",
                content="",
                kind="system_artifact",
                metadata={"item": item},
                created_at=at,
                source_id=item_id,
            )
        )


def _read_message(
    rollout: _Rollout, item: dict[str, Any], item_id: str, at: dt.datetime | None, where: str
) -> None:
    role = item.get("role")
    content = item.get("content")
    if not isinstance(role, str) or not isinstance(content, list):
        raise InvalidInput(f"{where}: a message item needs a string 'role' and a content list")
    texts: list[str] = []
    other: list[Any] = []
    for part in content:
        if (
            isinstance(part, dict)
            and part.get("type") in ("input_text", "output_text", "text")
            and isinstance(part.get("text"), str)
        ):
            texts.append(part["text"])
        else:
            other.append(part)
    text = "\n\n".join(t for t in texts if t.strip())
    if role == "user" and text.lstrip().startswith(_INJECTED_PREFIXES):
        return
    metadata: dict[str, Any] = {}
    if other:
        metadata["blocks"] = other
    if role == "assistant":
        reasoning = rollout.take_reasoning()
        if reasoning:
            metadata["reasoning"] = reasoning
    if not text and not metadata:
        return
    if role in ("user", "assistant"):
        kind, target_role = "text", role
        if role == "user" and rollout.title is None:
            rollout.title = title_from(text)
    else:
        kind, target_role = "system_artifact", "system"
        metadata["role"] = role
    rollout.add(
        ImportedMessage(
            role=target_role,
            content=text,
            kind=kind,
            metadata=metadata or None,
            created_at=at,
            source_id=item_id,
        )
    )


def _arguments(item: dict[str, Any]) -> Any:
    """The call's arguments, decoded when Codex stored them as a JSON string."""
    return decode_arguments(item.get("arguments", item.get("input", item.get("action"))))
