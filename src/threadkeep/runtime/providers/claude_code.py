"""``claude-code``: Claude Code's CLI as a subprocess, streamed (SPEC S4.3, S4.2).

Each reply is one run of the ``claude`` program (the ``claude_code_command`` setting),
in ``cli_provider_cwd`` (Claude Code keeps its sessions per directory), driven as
:mod:`~threadkeep.runtime.providers.cli_provider` describes (spawned and stopped by
:mod:`~threadkeep.runtime.providers.subprocess_cli`)::

    claude -p --output-format stream-json --verbose --include-partial-messages
           [--model M] [--resume SESSION_ID] [--append-system-prompt PREAMBLE]

with the new user message on stdin (``-p`` with no prompt argument reads it there, with
no length limit). The preamble of :mod:`~threadkeep.runtime.providers.cli_prompt` — the
request's system text and the earlier conversation when there is no session — goes into
Claude Code's system prompt, after its own; one longer than :data:`SYSTEM_ARG_LIMIT`
bytes would not fit in one argument, so it then heads the stdin prompt instead. Tools
and permissions are Claude Code's own configuration (``settings.json``, its permission
mode): this provider passes no permission flags, and a tool Claude Code may not use in
print mode is refused by Claude Code, which tells the model.

**Output format followed** — Claude Code's ``stream-json``, as printed by the 1.0.x and
2.x releases (2025-2026), the message shapes of the Claude Agent SDK: one JSON object
per line, by ``type``:

* ``system`` / ``init`` — ``session_id`` (and tools, model, cwd): reported as
  :class:`SessionStarted`. Other ``system`` subtypes (``compact_boundary``, …) are
  ignored.
* ``stream_event`` (asked for by ``--include-partial-messages``) — the raw Messages-API
  event in ``event``: ``message_start`` gives the message id, ``content_block_delta``
  with a ``text_delta`` gives a :class:`TextDelta` as it is generated.
* ``assistant`` — ``message`` with ``id`` and ``content`` blocks (recent releases print
  one line per block, older ones one line per message): ``tool_use`` blocks are
  :class:`ToolCall` (``id``, ``name``, ``input``). ``text`` blocks are *not* emitted
  again: per message id, only the part of the text not already streamed as deltas is
  emitted — all of it when a release (or a message) gave no deltas, nothing when the
  deltas covered it. ``thinking`` blocks are not reply text and are skipped.
* ``user`` — ``tool_result`` blocks: :class:`ToolResult` (string content, or the text of
  its content blocks; ``error: `` in front when ``is_error``).
* ``result`` — the last line: ``subtype`` ``success`` with ``is_error`` false ends the
  run, reporting its ``session_id`` (again, when it differs from ``init``'s) and
  :class:`Usage` (input tokens: ``input_tokens`` plus the cache reads and writes, which
  Claude counts apart; output: ``output_tokens``). ``is_error`` true or an ``error_*``
  subtype (``error_during_execution``, ``error_max_turns``, …) is a ``ProviderError``
  with the CLI's own words (``errors`` or ``result``).
* Lines of a subagent (``parent_tool_use_id`` set) are skipped: the main agent's
  ``Task`` call and its result stand for them. Unknown types are ignored.

``--include-partial-messages`` appeared during 1.0.x (mid-2025); an older release
refuses it (``error: unknown option``), which is reported as it is — update Claude Code.

Stdout must be JSON objects only; anything else, a run that ends without a ``result``
line, a non-zero exit status and a process killed by a signal are each a
``ProviderError`` carrying the CLI's words (stderr, redacted), after the text already
streamed — never a reply quietly cut short.

**Resume** (S4.2): with a session id the run adds ``--resume <id>``. Claude Code says a
session it does not have in that directory in one of two ways — printed by the
releases seen: ``No conversation found with session ID: <id>`` on stderr with exit status
1 (1.0.x), or, in ``stream-json`` mode, a ``result`` line with ``is_error``,
``subtype`` ``error_during_execution`` and that sentence in ``errors`` (2.x). Either is
:class:`ProviderSessionInvalid`. Since the refusal comes after the process started,
a resumed run holds back every event (``init``'s session id included) until Claude
Code has shown the session is there — its first assistant output (stream event,
assistant or user line) or a successful ``result`` — so the refusal is always raised
before the first event and the pipeline's retry repeats nothing. A session id that
could not be one (it would be read as an option) is refused the same way, unspawned.
Which id a resumed run reports has varied between releases (the same one, or a fork's
new one; 2.1.139 printed an id in ``init`` that it never saved, anthropics/claude-code
#58760): the ``result`` line's id wins, being the last; should it be unusable, the next
resume is refused and the pipeline falls back to the prior context.

**Titles** (S4.6): one extra run per conversation, in the background after its first
reply: the title instruction and the opening text, with ``--max-turns 1`` (no tool
loop) and ``--no-session-persistence`` (the run leaves no session in the person's
``claude --resume`` list; a release without that option fails the title, and the
pipeline derives one from the first message). Claude Code's system prompt makes this
cost more tokens than a bare API call, but it is one run per conversation, mostly
served from Claude's prompt cache, and it gives the title the person would get from
Claude itself; the answer is cleaned by :func:`~threadkeep.runtime.titles.clean_title`.

**Stopping**: ``aclose`` of the stream or a cancelled task stops the CLI and everything
it started (its process group) and reaps it, as ``subprocess_cli`` describes.
"""

from __future__ import annotations

from typing import Any

from threadkeep.errors import ProviderError, ProviderSessionInvalid
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

__all__ = ["INSTALL_HINT", "SESSION_MISSING", "SYSTEM_ARG_LIMIT", "ClaudeCodeProvider"]

INSTALL_HINT = (
    "install Claude Code with `npm install -g @anthropic-ai/claude-code` "
    "(https://docs.anthropic.com/en/docs/claude-code) and sign in by running `claude` once"
)
#: What Claude Code says about a session it does not have.
SESSION_MISSING = "No conversation found with session ID"
#: The longest preamble passed as an argument (Linux allows 128 KiB per argument).
SYSTEM_ARG_LIMIT = 100_000
_ERROR_SUBTYPES = {
    "error_during_execution": "failed during execution",
    "error_max_turns": "stopped at its maximum number of turns",
    "error_max_budget_usd": "stopped at its budget",
}


class ClaudeCodeProvider(CliProvider):
    """Replies from Claude Code's CLI; see the module docstring and
    :class:`~threadkeep.runtime.providers.cli_provider.CliProvider`."""

    name = "claude-code"
    default_command = "claude"
    product = "Claude Code"
    setting = "claude_code_command"
    install_hint = INSTALL_HINT
    title_options = ("--max-turns", "1", "--no-session-persistence")

    def command_line(self, executable: str, run: CliRun) -> tuple[list[str], str]:
        prompt, session, model = run.prompt, run.session, run.model
        argv = [executable, "-p", "--output-format", "stream-json", "--verbose"]
        argv.append("--include-partial-messages")
        if model:
            argv += ["--model", model]
        if session is not None:
            argv += ["--resume", session]
        stdin = prompt.message
        if prompt.preamble:
            if len(prompt.preamble.encode("utf-8")) <= SYSTEM_ARG_LIMIT:
                argv += ["--append-system-prompt", prompt.preamble]
            else:
                stdin = prompt.combined()
        argv += run.extra
        return argv, stdin

    def reader(self, process: CliProcess, *, resuming: str | None) -> CliReader:
        return _Reader(process, resuming=resuming)


class _Reader(CliReader):
    """Claude Code's stream-json lines in, provider events out (module docstring)."""

    def __init__(self, process: CliProcess, *, resuming: str | None) -> None:
        super().__init__(process, resuming=resuming)
        self.session_id: str | None = None  # the last one reported
        self.result: dict[str, Any] | None = None
        self.emitted: dict[str, str] = {}  # per message id: text given as TextDelta
        self.shown: dict[str, str] = {}  # per message id: text of its text blocks
        self.current = ""  # the message id the stream events are about
        self.text_of: str | None = None  # message whose text came last (None: a tool since)
        self.tools = 0

    def _read(self, line: dict[str, Any]) -> list[ProviderEvent]:
        kind = line.get("type")
        if kind == "system":
            if line.get("subtype") == "init":
                return self._session(line.get("session_id"))
            return []
        if kind == "result":
            if self.result is None:
                self.result = line
            return []
        if kind not in ("stream_event", "assistant", "user"):
            return []
        self.confirmed = True  # the session, if resumed, is answering
        if line.get("parent_tool_use_id"):
            return []  # a subagent's own work (see the module docstring)
        if kind == "stream_event":
            return self._stream_event(line.get("event"))
        message = line.get("message")
        if not isinstance(message, dict):
            raise self.process.failure(f"printed a {kind!r} line without a message")
        content = message.get("content")
        if not isinstance(content, list):
            return []  # a plain-text user message (a replayed prompt): nothing to report
        blocks = [block for block in content if isinstance(block, dict)]
        if kind == "assistant":
            message_id = message.get("id")
            return self._assistant(message_id if isinstance(message_id, str) else "", blocks)
        return self._tool_results(blocks)

    # ------------------------------------------------------------------------- text

    def _stream_event(self, event: Any) -> list[ProviderEvent]:
        if not isinstance(event, dict):
            return []
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            message_id = message.get("id") if isinstance(message, dict) else None
            self.current = message_id if isinstance(message_id, str) else ""
            return []
        delta = event.get("delta")
        if kind == "content_block_delta" and isinstance(delta, dict):
            text = delta.get("text")
            if delta.get("type") == "text_delta" and isinstance(text, str):
                return self._text(self.current, text)
        return []

    def _assistant(self, message_id: str, blocks: list[dict[str, Any]]) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        for block in blocks:
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                # Only what the deltas did not already give (module docstring).
                whole = self.shown.get(message_id, "") + block["text"]
                self.shown[message_id] = whole
                given = self.emitted.get(message_id, "")
                if len(whole) > len(given) and whole.startswith(given):
                    events += self._text(message_id, whole[len(given) :])
            elif kind == "tool_use":
                self.tools += 1
                call_id = block.get("id")
                name = block.get("name")
                events.append(
                    ToolCall(
                        call_id=call_id if isinstance(call_id, str) else f"tool_{self.tools}",
                        name=name if isinstance(name, str) else "tool",
                        arguments=block.get("input", {}),
                    )
                )
                self.text_of = None
        return events

    def _text(self, message_id: str, text: str) -> list[ProviderEvent]:
        if not text:
            return []
        events: list[ProviderEvent] = []
        if self.text_of is not None and self.text_of != message_id:
            # Text of a new message straight after another's: keep them apart.
            events.append(TextDelta("\n\n"))
        self.text_of = message_id
        self.emitted[message_id] = self.emitted.get(message_id, "") + text
        events.append(TextDelta(text))
        return events

    def _tool_results(self, blocks: list[dict[str, Any]]) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        for block in blocks:
            if block.get("type") != "tool_result":
                continue
            call_id = block.get("tool_use_id")
            content = _result_text(block.get("content"))
            if block.get("is_error"):
                content = f"error: {content}"
            events.append(
                ToolResult(call_id=call_id if isinstance(call_id, str) else "", content=content)
            )
            self.text_of = None
        return events

    # ---------------------------------------------------------------- session, result

    def _session(self, session_id: Any) -> list[ProviderEvent]:
        if not isinstance(session_id, str) or not session_id or session_id == self.session_id:
            return []
        self.session_id = session_id
        return [SessionStarted(session_id)]

    def end(self, status: int) -> list[ProviderEvent]:
        """The events of the ``result`` line once the CLI has exited with ``status``;
        the failure, if the run failed."""
        process = self.process
        result = self.result
        if result is not None and (result.get("is_error") or result.get("subtype") != "success"):
            raise self._result_error(result)
        if status != 0:
            said = process.stderr_text
            if self._refused(said):
                raise self._session_invalid(said)
            raise process.exit_failure(status)
        if result is None:
            raise process.failure("ended without its result line, so the reply may be incomplete")
        self.confirmed = True
        events = self._session(result.get("session_id"))
        usage = _usage(result.get("usage"))
        if usage is not None:
            events.append(usage)
        return self._release(events)

    def _refused(self, said: str) -> bool:
        return self.resuming is not None and not self.confirmed and SESSION_MISSING in said

    def _result_error(self, result: dict[str, Any]) -> ProviderError:
        errors = result.get("errors")
        if not isinstance(errors, list):
            errors = []
        words = [item for item in errors if isinstance(item, str)]
        text = result.get("result")
        if not words and isinstance(text, str) and text.strip():
            words = [text]
        said = "; ".join(words)
        if self._refused(said):
            return self._session_invalid(said)
        subtype = result.get("subtype")
        if isinstance(subtype, str) and subtype in _ERROR_SUBTYPES:
            what = _ERROR_SUBTYPES[subtype]
        elif isinstance(subtype, str) and subtype != "success":
            what = f"reported an error ({subtype:.60})"
        else:  # "success" with is_error: an API error ended the run
            what = "reported an error"
        return self.process.failure(what, detail=shorten(said) if said else "")

    def _session_invalid(self, said: str) -> ProviderSessionInvalid:
        return ProviderSessionInvalid(
            f"{self.process.label} has no session {self.resuming!r:.80} in this directory "
            f"({shorten(said, 200)}); it was made elsewhere, deleted or expired"
        )


def _result_text(content: Any) -> str:
    """A ``tool_result``'s content as text: a string, or the text of its blocks."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return "" if content is None else str(content)
    parts = []
    for block in content:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif isinstance(block, dict):
            parts.append(f"[{block.get('type', 'content')}]")
    return "\n".join(parts)


def _usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None

    def count(key: str) -> int | None:
        value = usage.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    inputs = [
        count(key)
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    known = [value for value in inputs if value is not None]
    return Usage(input_tokens=sum(known) if known else None, output_tokens=count("output_tokens"))
