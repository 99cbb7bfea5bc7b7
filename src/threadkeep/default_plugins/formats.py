"""The built-in formats, registered through ``register_formats`` like a plugin's.

Import formats, in detection order (the first whose ``detect`` says yes wins, so the
more specific come first): ``threadkeep`` documents; the ChatGPT export; Claude Code
transcripts; Codex rollouts; Open WebUI exports; OpenAI chat-messages JSON (the least
specific JSON shape); the Agents SDK and LangChain SQLite databases. Export formats:
``json``, ``jsonl`` and ``markdown``.

Detection reads at most the first 64 KiB of a file (``transfer/sniff.py``). A
directory is in a format when one of the files that format looks for under it is
(found lazily: detection stops at the first); an import of the directory then takes
exactly those files (``Format.files``).
"""

from __future__ import annotations

import itertools
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from threadkeep.hookspecs import hookimpl
from threadkeep.transfer import document_reader
from threadkeep.transfer.document_writer import JsonLinesWriter, JsonWriter
from threadkeep.transfer.formats import (
    Format,
    agents_sqlite,
    chatgpt,
    claude_code,
    codex,
    langchain_sql,
    open_webui,
    openai_messages,
)
from threadkeep.transfer.limits import ImportLimits
from threadkeep.transfer.markdown import MarkdownWriter
from threadkeep.transfer.records import ImportedConversation
from threadkeep.transfer.sniff import head, head_lines, is_sqlite

__all__ = ["register_formats"]

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")
_CLAUDE_TYPES = frozenset({"user", "assistant", "system"})
_CODEX_TYPES = frozenset({"session_meta", "response_item", "turn_context", "event_msg"})
_OPEN_WEBUI = re.compile(rb'"chat"\s*:\s*\{')
_OPEN_WEBUI_TREE = re.compile(rb'"(?:history|messages)"\s*:')
_CHATGPT = re.compile(rb'^\s*\[\s*\{.*"mapping"\s*:\s*[{n]', re.DOTALL)
_ROLE = re.compile(rb'"role"\s*:\s*"(?:system|developer|user|assistant|tool|function)"')
_MESSAGE_LIST = re.compile(rb'^\s*(?:\[\s*\{|\{.*"messages"\s*:\s*\[)', re.DOTALL)


# The files of a format under a directory, each looked at only when it is reached: a
# directory's detection stops at the first, its import takes them all.
_Found = Callable[[Path], Iterable[Path]]


def _by_files(is_file: Callable[[Path], bool], found: _Found) -> Callable[[Path], bool]:
    """A ``detect`` for files and directories: a directory is in the format when it holds
    a file of it."""

    def detect(path: Path) -> bool:
        if path.is_dir():
            return next(iter(found(path)), None) is not None
        return path.is_file() and is_file(path)

    return detect


def _under(pattern: str, is_file: Callable[[Path], bool]) -> _Found:
    def found(directory: Path) -> Iterator[Path]:
        return (p for p in sorted(directory.rglob(pattern)) if p.is_file() and is_file(p))

    return found


# -- ChatGPT ---------------------------------------------------------------------------


def _chatgpt_file(path: Path) -> bool:
    if chatgpt.is_conversations_file(path.name):
        return True
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                return any(chatgpt.is_conversations_file(n) for n in archive.namelist())
        except (zipfile.BadZipFile, OSError):
            return False
    return path.suffix.lower() == ".json" and _CHATGPT.search(head(path)) is not None


def _chatgpt_files(directory: Path) -> Iterable[Path]:
    shards = [p for p in sorted(directory.iterdir()) if chatgpt.is_conversations_file(p.name)]
    if shards:
        return shards
    return (p for p in sorted(directory.glob("*.zip")) if _chatgpt_file(p))


# -- Claude Code and Codex (JSON Lines) ------------------------------------------------


def _claude_file(path: Path) -> bool:
    if path.suffix.lower() != ".jsonl":
        return False
    for record in head_lines(path):
        if record.get("type") in _CLAUDE_TYPES and "sessionId" in record:
            return True
        if record.get("type") == "summary" and "leafUuid" in record:
            return True
    return False


def _codex_file(path: Path) -> bool:
    if path.suffix.lower() != ".jsonl":
        return False
    records = head_lines(path)
    if any(record.get("type") in _CODEX_TYPES for record in records):
        return True
    # Rollouts of 2025 and earlier: the session meta bare on the first line.
    first = records[0] if records else {}
    return "id" in first and "timestamp" in first and "instructions" in first


def _codex_files(directory: Path) -> Iterator[Path]:
    """The rollouts (``rollout-*.jsonl``) under ``directory``; when there are none, any
    Codex ``*.jsonl``."""
    rollouts = iter(_under("rollout-*.jsonl", _codex_file)(directory))
    first = next(rollouts, None)
    if first is None:
        return iter(_under("*.jsonl", _codex_file)(directory))
    return itertools.chain((first,), rollouts)


# -- Open WebUI and OpenAI messages (JSON) ---------------------------------------------


def _open_webui_file(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    start = head(path)
    return _OPEN_WEBUI.search(start) is not None and _OPEN_WEBUI_TREE.search(start) is not None


def _openai_messages_file(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    start = head(path, 8192)
    return _MESSAGE_LIST.search(start) is not None and _ROLE.search(start) is not None


# -- SQLite databases ------------------------------------------------------------------


def _sqlite_with(*tables: bytes) -> Callable[[Path], bool]:
    def is_file(path: Path) -> bool:
        # The schema is plain text in the first pages, so its table names show there.
        start = head(path)
        return is_sqlite(start) and all(table in start for table in tables)

    return is_file


def _sqlite_files(is_file: Callable[[Path], bool]) -> _Found:
    def found(directory: Path) -> Iterator[Path]:
        every = sorted(directory.rglob("*"))
        return (p for p in every if p.suffix.lower() in _SQLITE_SUFFIXES and is_file(p))

    return found


# -- one import format ------------------------------------------------------------------


class _Load(Protocol):
    """A parser's ``load``, which takes the limits by keyword."""

    def __call__(self, path: Path, *, limits: ImportLimits) -> Iterator[ImportedConversation]: ...


def _import_format(
    name: str,
    description: str,
    *,
    is_file: Callable[[Path], bool],
    files: _Found,
    load: _Load,
    file_scoped_ids: bool = False,
) -> Format:
    """An import format whose ``detect`` takes a file when ``is_file`` says so and a
    directory when it holds one of ``files``, and whose ``load`` is a parser's."""

    def load_file(path: Path, limits: ImportLimits) -> Iterator[ImportedConversation]:
        return load(path, limits=limits)

    def every_file(directory: Path) -> list[Path]:
        return list(files(directory))

    return Format(
        name=name,
        description=description,
        detect=_by_files(is_file, files),
        load=load_file,
        files=every_file,
        file_scoped_ids=file_scoped_ids,
    )


def _formats() -> list[Format]:
    agents_file = _sqlite_with(b"agent_sessions", b"agent_messages")
    langchain_file = _sqlite_with(b"message_store")
    return [
        _import_format(
            "threadkeep",
            "threadkeep JSON or JSON Lines documents (.gz too), every version",
            is_file=document_reader.detect,
            files=document_reader.files,
            load=document_reader.load,
        ),
        _import_format(
            chatgpt.FORMAT,
            "ChatGPT data export: the zip, conversations.json or its shards",
            is_file=_chatgpt_file,
            files=_chatgpt_files,
            load=chatgpt.load,
        ),
        _import_format(
            claude_code.FORMAT,
            "Claude Code transcripts (~/.claude/projects/*/*.jsonl)",
            is_file=_claude_file,
            files=_under("*.jsonl", _claude_file),
            load=claude_code.load,
        ),
        _import_format(
            codex.FORMAT,
            "Codex CLI rollouts (~/.codex/sessions/**/rollout-*.jsonl)",
            is_file=_codex_file,
            files=_codex_files,
            load=codex.load,
        ),
        _import_format(
            open_webui.FORMAT,
            "Open WebUI chat exports (chat-export-*.json)",
            is_file=_open_webui_file,
            files=_under("*.json", _open_webui_file),
            load=open_webui.load,
        ),
        _import_format(
            openai_messages.FORMAT,
            "OpenAI chat-completions messages JSON, one conversation per file",
            is_file=_openai_messages_file,
            files=_under("*.json", _openai_messages_file),
            load=openai_messages.load,
            file_scoped_ids=True,
        ),
        _import_format(
            agents_sqlite.FORMAT,
            "OpenAI Agents SDK SQLiteSession databases",
            is_file=agents_file,
            files=_sqlite_files(agents_file),
            load=agents_sqlite.load,
            file_scoped_ids=True,
        ),
        _import_format(
            langchain_sql.FORMAT,
            "LangChain SQLChatMessageHistory SQLite databases",
            is_file=langchain_file,
            files=_sqlite_files(langchain_file),
            load=langchain_sql.load,
            file_scoped_ids=True,
        ),
        Format(
            name="json",
            description="threadkeep JSON: one versioned document with a checksum",
            writer=JsonWriter,
            suffixes=(".json",),
        ),
        Format(
            name="jsonl",
            description="threadkeep JSON Lines: streaming, one line per conversation and message",
            writer=JsonLinesWriter,
            suffixes=(".jsonl", ".ndjson"),
        ),
        Format(
            name="markdown",
            description="Markdown, for people to read",
            writer=MarkdownWriter,
            suffixes=(".md", ".markdown"),
        ),
    ]


# tryfirst: the built-ins are registered (and detected) before any plugin's formats.
@hookimpl(tryfirst=True)
def register_formats(register: Callable[[Format], None]) -> None:
    for format in _formats():
        register(format)
