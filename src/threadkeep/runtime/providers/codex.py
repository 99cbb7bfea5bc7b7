"""``codex``: OpenAI Codex's CLI as a subprocess, its JSON events read (SPEC S4.3, S4.2).

Each reply is one run of the ``codex`` program (the ``codex_command`` setting), in
``cli_provider_cwd``, driven as :mod:`~threadkeep.runtime.providers.cli_provider`
describes (spawned and stopped by :mod:`~threadkeep.runtime.providers.subprocess_cli`)::

    codex exec --json --skip-git-repo-check [--model M] [resume SESSION_ID] -

The prompt is read from stdin (``-``). ``codex exec`` has no system-prompt option, so
the preamble of :mod:`~threadkeep.runtime.providers.cli_prompt` — the request's system
text and the earlier conversation when there is no session — heads the prompt inside
``<context>`` tags. The options go before the ``resume`` subcommand, where every
release parses them. ``--skip-git-repo-check`` because a chat does not need a git
repository; sandbox and approvals are Codex's own configuration (``exec`` never asks
for approval).

**Output format followed** — the ``--json`` event stream of ``codex exec`` (Codex CLI
0.4x onwards; read against the source of the 0.13x releases, ``codex-rs/exec/src/``
``exec_events.rs`` and ``event_processor_with_jsonl_output.rs``), one JSON object per
line, by ``type``:

* ``thread.started`` — ``thread_id``: reported as :class:`SessionStarted`.
* ``turn.started`` — nothing to report.
* ``item.started`` / ``item.updated`` / ``item.completed`` — ``item`` with ``id`` and
  ``type``. ``agent_message`` (completed only, whole: ``codex exec`` streams no text
  deltas) is a :class:`TextDelta`; two in a row are kept apart by a blank line.
  ``reasoning``, ``todo_list``, ``plan`` and ``error`` items (a non-fatal warning) are
  not part of the reply. Every other item is a tool: a :class:`ToolCall` when it starts
  (or when it completes, for items only ever reported completed, as ``file_change``),
  and a :class:`ToolResult` when it completes — ``command_execution`` (the command; its
  ``aggregated_output`` and a non-zero ``exit_code``), ``file_change`` (the changes;
  status and paths), ``mcp_tool_call`` (``server.tool`` and its ``arguments``; the text
  of its result or its error), ``web_search`` (the query), and any newer item type
  generically (its fields).
* ``turn.completed`` — ``usage``: :class:`Usage` (``input_tokens``, which include the
  cached ones, and ``output_tokens``); the run succeeded.
* ``turn.failed`` — ``error.message``: the run failed, a ``ProviderError`` with it.
* ``error`` — ``message``: not fatal by itself (Codex reports its reconnection attempts
  this way); kept to explain a failure.

Stdout must be JSON objects only; a line in the older ``{"id", "msg"}`` format of
releases before the ``thread.started`` events says to update Codex. A run that ends
without ``turn.completed``, a non-zero exit status or a process killed by a signal is a
``ProviderError`` carrying Codex's words (the last ``error`` event, else stderr,
redacted), after the text already streamed — never a reply quietly cut short.

**Resume** (S4.2): with a session id the run is ``codex exec … resume <id> -``. Codex
refuses a thread it does not have on stderr with exit status 1, before any event:
``Error: thread/resume: thread/resume failed: no rollout found for thread id <id> (code
-32600)`` (current releases; ``No saved session found with ID <id>`` is the wording of
``codex resume``) — :class:`ProviderSessionInvalid`. Older releases did not refuse:
they quietly started a new thread and answered without the history. So a resumed run
also checks that ``thread.started`` names the thread asked for; another id is
:class:`ProviderSessionInvalid` too, raised at once (the run is stopped before it
spends a turn). Events are held back until that ``thread.started`` confirms the thread,
so the refusal always comes before the first event. A session id that could not be one
(it would be read as an option) is refused the same way, unspawned.

**Titles** (S4.6): one extra run per conversation, in the background after its first
reply: the title instruction and the opening text, with ``--sandbox read-only`` (a
title needs no writes) and ``--ephemeral`` (no session file is kept, so it does not
appear among the person's Codex sessions; a release without that option fails the
title, and the pipeline derives one from the first message). It costs one short Codex
turn per conversation and gives the title the model itself would choose; the answer is
cleaned by :func:`~threadkeep.runtime.titles.clean_title`.

**Stopping**: ``aclose`` of the stream or a cancelled task stops the CLI and everything
it started (its process group) and reaps it, as ``subprocess_cli`` describes.
"""

from __future__ import annotations

import json
from typing import Any

from threadkeep.errors import ProviderSessionInvalid
from threadkeep.runtime.providers.base import (
    ProviderEvent,
    SessionStarted,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)
from threadkeep.runtime.providers.cli_provider import CliProvider, CliReader, CliRun
from threadkeep.runtime.providers.subprocess_cli import CliProcess, shorten

__all__ = ["INSTALL_HINT", "SESSION_MISSING", "CodexProvider"]

INSTALL_HINT = (
    "install the Codex CLI with `npm install -g @openai/codex` (or `brew install --cask "
    "codex`; https://developers.openai.com/codex/cli) and sign in with `codex login`"
)
#: What Codex says, in its releases' wordings, about a thread it does not have.
SESSION_MISSING = (
    "no rollout found for thread id",
    "No saved session found with ID",
    "thread not found",
)
_UPDATE_HINT = "update it with `npm install -g @openai/codex@latest`"
# Items that are not tools and not reply text.
_NOT_TOOLS = frozenset({"reasoning", "todo_list", "plan", "error"})


class CodexProvider(CliProvider):
    """Replies from the Codex CLI's ``exec`` mode; see the module docstring and
    :class:`~threadkeep.runtime.providers.cli_provider.CliProvider`."""

    name = "codex"
    default_command = "codex"
    product = "Codex"
    setting = "codex_command"
    install_hint = INSTALL_HINT
    title_options = ("--sandbox", "read-only", "--ephemeral")

    def command_line(self, executable: str, run: CliRun) -> tuple[list[str], str]:
        argv = [executable, "exec", "--json", "--skip-git-repo-check"]
        if run.model:
            argv += ["--model", run.model]
        argv += run.extra
        if run.session is not None:
            argv += ["resume", run.session]
        argv.append("-")  # the prompt: stdin
        return argv, run.prompt.combined()

    def reader(self, process: CliProcess, *, resuming: str | None) -> CliReader:
        return _Reader(process, resuming=resuming)


class _Reader(CliReader):
    """``codex exec --json`` events in, provider events out (module docstring); here a
    resumed run is confirmed by ``thread.started`` naming the thread asked for."""

    def __init__(self, process: CliProcess, *, resuming: str | None) -> None:
        super().__init__(process, resuming=resuming)
        self.thread_id: str | None = None
        self.started: set[str] = set()  # tool items reported as started
        self.completed = False
        self.failed: str | None = None
        self.last_error: str | None = None
        self.after_text = False  # the last event given was reply text

    def _read(self, line: dict[str, Any]) -> list[ProviderEvent]:
        kind = line.get("type")
        if kind is None and "msg" in line:
            raise self.process.failure(
                "prints the JSON format of an older Codex release, which this provider "
                f"does not read; {_UPDATE_HINT}",
                detail="",
            )
        if kind == "thread.started":
            return self._thread(line.get("thread_id"))
        if kind in ("item.started", "item.completed"):
            item = line.get("item")
            if not isinstance(item, dict):
                raise self.process.failure(f"printed a {kind!r} event without an item")
            return self._item(item, completed=kind == "item.completed")
        if kind == "turn.completed":
            self.completed = True
            usage = _usage(line.get("usage"))
            return [] if usage is None else [usage]
        if kind == "turn.failed":
            error = line.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            self.failed = message if isinstance(message, str) and message else "turn failed"
            return []
        if kind == "error":
            message = line.get("message")
            if isinstance(message, str) and message:
                self.last_error = message
            return []
        return []  # turn.started, item.updated, newer events

    def _thread(self, thread_id: Any) -> list[ProviderEvent]:
        if not isinstance(thread_id, str) or not thread_id:
            raise self.process.failure("printed a thread.started event without a thread id")
        if self.resuming is not None and not self.confirmed and thread_id != self.resuming:
            # An older Codex that does not know the thread starts a new one instead.
            raise ProviderSessionInvalid(
                f"{self.process.label} started a new thread {thread_id!r:.80} instead of "
                f"resuming {self.resuming!r:.80}: it does not have that session here"
            )
        self.confirmed = True
        if thread_id == self.thread_id:
            return []
        self.thread_id = thread_id
        return [SessionStarted(thread_id)]

    # ------------------------------------------------------------------------ items

    def _item(self, item: dict[str, Any], *, completed: bool) -> list[ProviderEvent]:
        kind = item.get("type")
        item_id = item.get("id")
        call_id = item_id if isinstance(item_id, str) else f"item_{len(self.started)}"
        if kind == "agent_message":
            text = item.get("text")
            if not completed or not isinstance(text, str) or not text:
                return []
            events: list[ProviderEvent] = [TextDelta("\n\n")] if self.after_text else []
            events.append(TextDelta(text))
            self.after_text = True
            return events
        if not isinstance(kind, str) or kind in _NOT_TOOLS:
            return []
        events = []
        if call_id not in self.started:
            self.started.add(call_id)
            name, arguments = _call(kind, item)
            events.append(ToolCall(call_id=call_id, name=name, arguments=arguments))
        if completed:
            events.append(ToolResult(call_id=call_id, content=_result(kind, item)))
        self.after_text = False
        return events

    # ---------------------------------------------------------------------------- end

    def end(self, status: int) -> list[ProviderEvent]:
        """Nothing more to report once Codex exited with ``status``; the failure, if
        the run failed."""
        process = self.process
        if self.failed is not None:
            raise process.failure("reported that the turn failed", detail=shorten(self.failed))
        explained = shorten(self.last_error) if self.last_error else None
        if status != 0:
            said = process.stderr_text
            if self.resuming is not None and not self.confirmed:
                if any(marker.lower() in said.lower() for marker in SESSION_MISSING):
                    raise ProviderSessionInvalid(
                        f"{process.label} has no session {self.resuming!r:.80} "
                        f"({shorten(said, 200)}); it was made elsewhere, deleted or expired"
                    )
            raise process.exit_failure(status, detail=explained)
        if not self.completed:
            raise process.failure(
                "ended without finishing its turn (no turn.completed event), so the reply "
                "may be incomplete",
                detail=explained,
            )
        if not self.confirmed:  # exited 0 without ever naming its thread
            raise process.failure("never reported which thread it ran in", detail=explained)
        return []


def _call(kind: str, item: dict[str, Any]) -> tuple[str, Any]:
    """The name and arguments a tool item is reported with."""
    if kind == "command_execution":
        return kind, {"command": item.get("command")}
    if kind == "file_change":
        return kind, {"changes": item.get("changes", [])}
    if kind == "mcp_tool_call":
        return f"{item.get('server')}.{item.get('tool')}", item.get("arguments", {})
    if kind == "web_search":
        return kind, {"query": item.get("query")}
    return kind, _fields(item, drop=("id", "type", "status"))


def _result(kind: str, item: dict[str, Any]) -> str:
    """What a completed tool item gives back, as text."""
    status = item.get("status")
    if kind == "command_execution":
        output = item.get("aggregated_output")
        text = output if isinstance(output, str) else ""
        code = item.get("exit_code")
        if isinstance(code, int) and code != 0:
            text += f"\n(exit code {code})"
        if status == "declined":
            text = "declined" + (f": {text}" if text else "")
        return text
    if kind == "file_change":
        changes = item.get("changes")
        paths = [
            f"{change.get('kind')} {change.get('path')}"
            for change in (changes if isinstance(changes, list) else [])
            if isinstance(change, dict)
        ]
        return f"{status}: " + ", ".join(paths)
    if kind == "mcp_tool_call":
        error = item.get("error")
        if isinstance(error, dict) and error.get("message"):
            return f"error: {error['message']}"
        result = item.get("result")
        if isinstance(result, dict):
            blocks = result.get("content")
            texts = [
                block["text"]
                for block in (blocks if isinstance(blocks, list) else [])
                if isinstance(block, dict) and isinstance(block.get("text"), str)
            ]
            if texts:
                return "\n".join(texts)
            return _json(result.get("structured_content"))
        return ""
    if kind == "web_search":
        return _json(item.get("action")) if item.get("action") is not None else ""
    return _json(_fields(item, drop=("id", "type")))


def _fields(item: dict[str, Any], *, drop: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in drop}


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None

    def count(key: str) -> int | None:
        value = usage.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return Usage(input_tokens=count("input_tokens"), output_tokens=count("output_tokens"))
