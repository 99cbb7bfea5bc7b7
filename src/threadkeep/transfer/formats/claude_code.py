"""Claude Code transcripts (``~/.claude/projects/<project>/<session>.jsonl``) as records.

A transcript is JSON Lines: one object per line with a ``type`` (``user``,
``assistant``, ``summary``, ``system``, and bookkeeping types such as
``file-history-snapshot``), the ``sessionId`` it belongs to, its own ``uuid``, a
``timestamp`` and, for the two conversational types, an Anthropic-style ``message``
whose ``content`` is a string or a list of blocks.

How lines become :class:`~threadkeep.transfer.records.ImportedMessage` values:

* Claude Code writes **one assistant reply over several lines** — typically one per
  content block — all sharing ``message.id``. They are merged into one assistant text
  message, placed where the reply's first text appears; its text blocks are joined, its
  ``thinking`` blocks and usage are kept in ``metadata``.
* ``tool_use`` blocks become separate ``tool_call`` messages (content is the JSON of
  name and input, ``metadata["block"]`` keeps the raw block); ``tool_result`` blocks,
  which arrive in *user* lines, become ``tool_result`` messages with role ``tool``.
  Text in the same user line becomes a user text message, in block order.
* Blocks of any other type (``image``, ``document``, whatever comes next) are kept
  verbatim in ``metadata["blocks"]`` of the message they belong to — never dropped.
* ``summary`` lines give the title. A summary names the last message it covers
  (``leafUuid``); it titles the session that message belongs to, or, when that message
  is not in the file, the session the file is named after.
* Sidechain lines (sub-agent work, ``isSidechain``) and meta lines (``isMeta``:
  caveats and command scaffolding Claude Code injects) are skipped: they are not part
  of the conversation the user saw. Other line types carry no message; how many of
  each were passed over is recorded in the conversation's context.

One file normally holds one session, but a resumed session may continue in the same
file under a new ``sessionId``; each session id yields its own conversation, in order
of first appearance. ``Source("claude-code", file, sessionId)`` makes re-import
idempotent. The conversation's provider is ``claude-code`` (the runtime provider that
can resume it), its provider session the ``sessionId``, and its model the one the
session's latest reply came from (``message.model``; Claude Code's own
``<synthetic>`` notices are not a model).

A line that is not a JSON object, or whose ``message`` has the wrong shape, raises
:class:`~threadkeep.errors.InvalidInput` naming the file and the line number.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadkeep.errors import InvalidInput
from threadkeep.transfer.formats.json_fields import (
    is_model_name,
    iso_time,
    json_line,
    load_jsonl,
)
from threadkeep.transfer.limits import DEFAULT_LIMITS, ImportLimits
from threadkeep.transfer.records import ImportedConversation, ImportedMessage, Source

__all__ = ["FORMAT", "load", "parse_lines"]

FORMAT = "claude-code"
PROVIDER = "claude-code"
# The model Claude Code names on the notices it writes itself (an API error, a cancel).
_NOT_A_MODEL = "<synthetic>"

_MESSAGE_TYPES = frozenset({"user", "assistant", "system"})


@dataclass
class _Draft:
    """A message being assembled; assistant drafts grow as more lines of a reply arrive."""

    role: str
    kind: str
    source_id: str | None
    created_at: dt.datetime | None
    texts: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    tokens: int | None = None

    def is_empty(self) -> bool:
        """True for a text message with no text and no kept blocks (e.g. ``""`` only)."""
        return (
            self.kind == "text"
            and not self.texts
            and "thinking" not in self.metadata
            and "blocks" not in self.metadata
        )

    def build(self) -> ImportedMessage:
        return ImportedMessage(
            role=self.role,
            content="\n\n".join(self.texts),
            kind=self.kind,
            metadata=self.metadata or None,
            tokens=self.tokens,
            created_at=self.created_at,
            source_id=self.source_id,
        )


@dataclass
class _Session:
    """Everything read so far for one ``sessionId``."""

    session_id: str
    drafts: list[_Draft] = field(default_factory=list)
    replies: dict[str, _Draft] = field(default_factory=dict)
    uuids: set[str] = field(default_factory=set)
    context: dict[str, Any] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)
    title: str | None = None
    first_at: dt.datetime | None = None
    last_at: dt.datetime | None = None
    model: str | None = None
    # False when the lines name no sessionId and the file's name stands in for it.
    named: bool = True


def parse_lines(
    lines: Iterable[str], *, file: str, limits: ImportLimits = DEFAULT_LIMITS
) -> Iterator[ImportedConversation]:
    """Parse one transcript's lines; yield one conversation per session that has messages.

    ``file`` names the source in :class:`Source` and in error messages. The whole input
    is read before the first conversation is yielded, because a session's title may
    come from a ``summary`` line anywhere in the file.
    """
    sessions: dict[str, _Session] = {}
    summaries: list[tuple[str | None, str]] = []
    fallback_id = Path(file).stem
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{file}:{lineno}"
        record = json_line(line, where, limits)
        line_type = record.get("type")
        if line_type == "summary":
            summary = record.get("summary")
            if isinstance(summary, str) and summary.strip():
                leaf = record.get("leafUuid")
                summaries.append((leaf if isinstance(leaf, str) else None, summary.strip()))
            continue
        if record.get("isSidechain") is True or record.get("isMeta") is True:
            continue
        named = _optional_str(record, "sessionId", where)
        session_id = named or fallback_id
        session = sessions.get(session_id)
        if session is None:
            session = sessions[session_id] = _Session(session_id, named=named is not None)
        if line_type not in _MESSAGE_TYPES:
            key = str(line_type)
            session.ignored[key] = session.ignored.get(key, 0) + 1
            continue
        _read_message_line(session, record, where)

    _apply_summaries(sessions, summaries, fallback_id)
    for session in sessions.values():
        messages = tuple(draft.build() for draft in session.drafts if not draft.is_empty())
        if not messages:
            continue
        context = dict(session.context)
        if session.ignored:
            context["ignored_line_types"] = dict(sorted(session.ignored.items()))
        yield ImportedConversation(
            source=Source(FORMAT, file, session.session_id),
            title=session.title,
            messages=messages,
            created_at=session.first_at,
            updated_at=session.last_at,
            context=context,
            provider=PROVIDER,
            provider_session_id=session.session_id if session.named else None,
            model=session.model,
        )


def load(path: Path, *, limits: ImportLimits = DEFAULT_LIMITS) -> Iterator[ImportedConversation]:
    """Parse one ``.jsonl`` transcript, or every ``*.jsonl`` under a directory tree."""
    return load_jsonl(path, parse_lines, limits)


def _read_message_line(session: _Session, record: dict[str, Any], where: str) -> None:
    uuid = _optional_str(record, "uuid", where)
    at = iso_time(record.get("timestamp"), where)
    if uuid is not None:
        session.uuids.add(uuid)
    if at is not None:
        session.first_at = at if session.first_at is None else min(session.first_at, at)
        session.last_at = at if session.last_at is None else max(session.last_at, at)
    cwd = _optional_str(record, "cwd", where)
    if cwd and "cwd" not in session.context:
        session.context["cwd"] = cwd
    branch = _optional_str(record, "gitBranch", where)
    if branch and "git_branch" not in session.context:
        session.context["git_branch"] = branch

    if record["type"] == "system":
        _read_system_line(session, record, uuid, at)
        return
    message = record.get("message")
    if not isinstance(message, dict):
        raise InvalidInput(f"{where}: a {record['type']} line needs a 'message' object")
    content = message.get("content")
    if isinstance(content, str):
        blocks: list[Any] = [{"type": "text", "text": content}]
    elif isinstance(content, list):
        blocks = content
    else:
        raise InvalidInput(f"{where}: message.content must be a string or a list of blocks")
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise InvalidInput(f"{where}: content block {index} is not an object with a type")
    if record["type"] == "assistant":
        _read_assistant(session, message, blocks, uuid, at, where)
    else:
        _read_user(session, blocks, uuid, at, where)


def _read_system_line(
    session: _Session, record: dict[str, Any], uuid: str | None, at: dt.datetime | None
) -> None:
    content = record.get("content")
    metadata = {key: record[key] for key in ("subtype", "level") if record.get(key) is not None}
    if not isinstance(content, str):
        # Not text we can show; keep the whole line rather than lose it.
        metadata["line"] = {k: v for k, v in record.items() if k != "content"}
        metadata["content"] = content
        content = ""
    session.drafts.append(
        _Draft("system", "system_artifact", uuid, at, [content] if content else [], metadata)
    )


def _read_user(
    session: _Session,
    blocks: list[dict[str, Any]],
    uuid: str | None,
    at: dt.datetime | None,
    where: str,
) -> None:
    current: _Draft | None = None
    segment = 0
    for block in blocks:
        if block["type"] == "tool_result":
            current = None
            session.drafts.append(_tool_result(block, at, where))
            continue
        if current is None:
            segment += 1
            source_id = uuid if segment == 1 or uuid is None else f"{uuid}#{segment}"
            current = _Draft("user", "text", source_id, at)
            session.drafts.append(current)
        _add_block(current, block)


def _read_assistant(
    session: _Session,
    message: dict[str, Any],
    blocks: list[dict[str, Any]],
    uuid: str | None,
    at: dt.datetime | None,
    where: str,
) -> None:
    message_id = message.get("id")
    key = message_id if isinstance(message_id, str) else (uuid or f"line:{where}")
    model = message.get("model")
    if is_model_name(model) and model != _NOT_A_MODEL:
        session.model = model  # the latest reply's: the model the session is on
    reply = session.replies.get(key)
    for block in blocks:
        if block["type"] == "tool_use":
            session.drafts.append(_tool_call(block, key, model, at, where))
            continue
        if reply is None:
            reply = session.replies[key] = _Draft("assistant", "text", key, at)
            reply.metadata["message_id"] = key
            if isinstance(model, str):
                reply.metadata["model"] = model
            session.drafts.append(reply)
        _add_block(reply, block)
    if reply is not None:
        # Each line repeats the usage so far; the last line's is the reply's.
        usage = message.get("usage")
        if isinstance(usage, dict):
            reply.metadata["usage"] = usage
            output_tokens = usage.get("output_tokens")
            if isinstance(output_tokens, int) and not isinstance(output_tokens, bool):
                reply.tokens = output_tokens
        stop_reason = message.get("stop_reason")
        if isinstance(stop_reason, str):
            reply.metadata["stop_reason"] = stop_reason


def _add_block(draft: _Draft, block: dict[str, Any]) -> None:
    """Add a text block to the content; anything else goes to metadata, never away."""
    kind = block["type"]
    if kind == "text" and isinstance(block.get("text"), str):
        if block["text"].strip():
            draft.texts.append(block["text"])
    elif kind == "thinking" and isinstance(block.get("thinking"), str):
        draft.metadata.setdefault("thinking", []).append(block["thinking"])
    else:
        draft.metadata.setdefault("blocks", []).append(block)


def _tool_call(
    block: dict[str, Any], reply_key: str, model: Any, at: dt.datetime | None, where: str
) -> _Draft:
    call_id = block.get("id")
    name = block.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise InvalidInput(f"{where}: a tool_use block needs string 'id' and 'name'")
    body = json.dumps({"name": name, "input": block.get("input")}, ensure_ascii=False)
    metadata: dict[str, Any] = {"block": block, "message_id": reply_key}
    if isinstance(model, str):
        metadata["model"] = model
    return _Draft("assistant", "tool_call", call_id, at, [body], metadata)


def _tool_result(block: dict[str, Any], at: dt.datetime | None, where: str) -> _Draft:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str):
        raise InvalidInput(f"{where}: a tool_result block needs a string 'tool_use_id'")
    draft = _Draft("tool", "tool_result", f"result:{call_id}", at)
    draft.metadata["tool_use_id"] = call_id
    if block.get("is_error") is True:
        draft.metadata["is_error"] = True
    content = block.get("content")
    if isinstance(content, str):
        draft.texts.append(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                if isinstance(part.get("text"), str):
                    draft.texts.append(part["text"])
                    continue
            draft.metadata.setdefault("blocks", []).append(part)
    elif content is not None:
        draft.metadata["content"] = content
    return draft


def _apply_summaries(
    sessions: dict[str, _Session], summaries: list[tuple[str | None, str]], fallback_id: str
) -> None:
    if not sessions:
        return
    default = sessions.get(fallback_id) or next(iter(sessions.values()))
    # When several summaries apply to one session, the last in the file wins.
    for leaf, summary in summaries:
        owner = next((s for s in sessions.values() if leaf in s.uuids), default)
        owner.title = summary


def _optional_str(record: dict[str, Any], key: str, where: str) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput(f"{where}: '{key}' must be a string")
