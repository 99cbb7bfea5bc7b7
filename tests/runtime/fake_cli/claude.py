"""A fake ``claude`` (Claude Code's CLI) in print mode with ``stream-json`` output.

It takes the options the ``claude-code`` provider uses — ``-p``, ``--output-format
stream-json`` (which, as in Claude Code, requires ``--verbose``),
``--include-partial-messages``, ``--model``, ``-r/--resume``,
``--append-system-prompt``, ``--max-turns``, ``--no-session-persistence`` — and refuses
any other as commander does (``error: unknown option '--x'``, exit 1). The prompt comes
from the argument or stdin.

It prints the lines Claude Code 2.x prints: ``system``/``init``, ``stream_event`` lines
(only with ``--include-partial-messages``: ``message_start``, ``content_block_start``,
``content_block_delta``, ``content_block_stop``, ``message_delta``, ``message_stop``),
one ``assistant`` line per content block after the block's stream events, ``user``
lines with ``tool_result`` blocks, and the ``result`` line. A resumed session appends to
the same session file and reports the same id.

An unknown ``--resume`` id is refused as Claude Code 2.x does in ``stream-json`` mode: a
``result`` line with ``is_error``, ``subtype`` ``error_during_execution``, a fresh
``session_id`` and ``errors: ["No conversation found with session ID: <id>"]``, exit
status 1 — or, with ``FAKE_CLAUDE_RESUME_ERROR=stderr``, as the 1.0.x releases did:
that sentence on stderr, nothing on stdout, exit status 1.

Scenarios (in the message): ``[tool]`` a text block and a ``Bash`` tool use, its
result, then a second message; ``[no-deltas]`` no stream events even when asked for;
``[partial-deltas]`` stream events for the first half of the text only; ``[fail]`` an
API error result (``subtype`` ``success``, ``is_error`` true, a key in its text), exit
1; ``[crash]`` one piece of text then exit 3 with no result; ``[garbage]`` a line that
is not JSON mid-stream; ``[hang]`` / ``[hang-stubborn]`` (see ``common.hang``).
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

from tests.runtime.fake_cli.common import (
    Sessions,
    asks,
    chunks,
    context_and_message,
    count_context,
    emit,
    fail,
    hang,
    record_call,
    reply_text,
)

DEFAULT_MODEL = "claude-sonnet-4-5-20250929"
FLAGS = {"-p", "--print", "--verbose", "--include-partial-messages", "--no-session-persistence"}
VALUED = {"--output-format", "--model", "--append-system-prompt", "--max-turns"}
LEAKED_KEY = "sk-ant-api03-FakeKeyNeverShown0123456789abcdefABCDEF-xyzXYZ0123-AA"


def parse(argv: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {"prompt": None}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in FLAGS:
            options[arg.lstrip("-").replace("-", "_")] = True
        elif arg in VALUED:
            if index + 1 >= len(argv):
                fail(f"error: option '{arg} <value>' argument missing", 1)
            options[arg.lstrip("-").replace("-", "_")] = argv[index + 1]
            index += 1
        elif arg in ("-r", "--resume"):
            # commander's optional value: taken only when it does not look like an option
            if index + 1 < len(argv) and not argv[index + 1].startswith("-"):
                options["resume"] = argv[index + 1]
                index += 1
            else:
                fail("fake claude: --resume without an id opens a picker (interactive)", 1)
        elif arg.startswith("-"):
            fail(f"error: unknown option '{arg}'", 1)
        elif options["prompt"] is None:
            options["prompt"] = arg
        else:
            fail(f"error: too many arguments. Expected 1 argument but got {arg!r}.", 1)
        index += 1
    options["print"] = options.pop("p", False) or options.get("print", False)
    return options


class Run:
    """One print-mode run: the lines it prints."""

    def __init__(self, session_id: str, model: str, partial: bool) -> None:
        self.session_id = session_id
        self.model = model
        self.partial = partial
        self.messages = 0

    def line(self, kind: str, **fields: Any) -> None:
        emit(
            {
                "type": kind,
                **fields,
                "parent_tool_use_id": None,
                "session_id": self.session_id,
                "uuid": str(uuid.uuid4()),
            }
        )

    def event(self, event: dict[str, Any]) -> None:
        if self.partial:
            self.line("stream_event", event=event)

    def message(self, blocks: list[dict[str, Any]], *, deltas: str = "all") -> None:
        """One assistant message: stream events per block, then its assistant line."""
        self.messages += 1
        message_id = f"msg_fake{self.messages:04d}"
        send = self.partial and deltas != "none"
        if send:
            self.event(
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": self.model,
                        "content": [],
                        "stop_reason": None,
                        "usage": {"input_tokens": 3, "output_tokens": 1},
                    },
                }
            )
        for index, block in enumerate(blocks):
            if send:
                self._block_events(index, block, partial_only=deltas == "partial")
            emit(
                {
                    "type": "assistant",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": self.model,
                        "content": [block],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 3, "output_tokens": 10},
                    },
                    "parent_tool_use_id": None,
                    "session_id": self.session_id,
                    "uuid": str(uuid.uuid4()),
                }
            )
        if send:
            stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
            self.event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 10},
                }
            )
            self.event({"type": "message_stop"})

    def _block_events(self, index: int, block: dict[str, Any], *, partial_only: bool) -> None:
        if block["type"] == "text":
            self.event(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            pieces = chunks(block["text"])
            if partial_only:
                pieces = pieces[: len(pieces) // 2]
            for piece in pieces:
                self.event(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    }
                )
        elif block["type"] == "tool_use":
            start = {**block, "input": {}}
            self.event({"type": "content_block_start", "index": index, "content_block": start})
            partial = '{"command": "ls"}'
            self.event(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": partial},
                }
            )
        self.event({"type": "content_block_stop", "index": index})

    def result(self, text: str, *, is_error: bool = False) -> None:
        emit(
            {
                "type": "result",
                "subtype": "success",
                "is_error": is_error,
                "duration_ms": 1200,
                "duration_api_ms": 1100,
                "num_turns": self.messages,
                "result": text,
                "stop_reason": "end_turn",
                "session_id": self.session_id,
                "total_cost_usd": 0.0123,
                "usage": {
                    "input_tokens": 5,
                    "cache_creation_input_tokens": 200,
                    "cache_read_input_tokens": 3000,
                    "output_tokens": len(text.split()),
                    "service_tier": "standard",
                },
                "modelUsage": {},
                "permission_denials": [],
                "uuid": str(uuid.uuid4()),
            }
        )


def refuse_resume(session_id: str) -> None:
    said = f"No conversation found with session ID: {session_id}"
    if os.environ.get("FAKE_CLAUDE_RESUME_ERROR") == "stderr":
        fail(said, 1)
    emit(
        {
            "type": "result",
            "subtype": "error_during_execution",
            "duration_ms": 0,
            "duration_api_ms": 0,
            "is_error": True,
            "num_turns": 0,
            "stop_reason": None,
            "session_id": str(uuid.uuid4()),
            "total_cost_usd": 0,
            "usage": {
                "input_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 0,
            },
            "modelUsage": {},
            "permission_denials": [],
            "uuid": str(uuid.uuid4()),
            "errors": [said],
        }
    )
    sys.exit(1)


def main(argv: list[str]) -> None:
    options = parse(argv)
    if not options["print"]:
        fail("fake claude: only print mode (-p) is faked", 2)
    if options.get("output_format") != "stream-json":
        fail("fake claude: only --output-format stream-json is faked", 2)
    if not options.get("verbose"):
        fail("Error: When using --print, --output-format=stream-json requires --verbose", 1)
    prompt = options["prompt"] if options["prompt"] is not None else sys.stdin.read()
    if not prompt.strip():
        fail(
            "Error: Input must be provided either through stdin or as a prompt argument "
            "when using --print",
            1,
        )
    sessions = Sessions("FAKE_CLAUDE_HOME")
    record_call(sessions, argv, prompt)
    resumed = options.get("resume")
    if resumed is not None and not sessions.exists(resumed):
        refuse_resume(resumed)
    session_id = resumed or str(uuid.uuid4())
    model = options.get("model") or DEFAULT_MODEL
    system = options.get("append_system_prompt")
    context, message = context_and_message(prompt)
    via = "system-prompt" if system else "prompt" if context is not None else "none"
    reply = reply_text(
        "Claude",
        message,
        prior=count_context(system if system else context),
        via=via,
        turns=len(sessions.turns(session_id)) if resumed else 0,
        model=options.get("model") or "default",
    )
    run = Run(session_id, model, partial=bool(options.get("include_partial_messages")))
    emit(
        {
            "type": "system",
            "subtype": "init",
            "cwd": os.getcwd(),
            "session_id": session_id,
            "tools": ["Task", "Bash", "Read", "Edit"],
            "mcp_servers": [],
            "model": model,
            "permissionMode": "default",
            "slash_commands": [],
            "apiKeySource": "none",
            "claude_code_version": "2.0.99-fake",
            "output_style": "default",
            "agents": [],
            "uuid": str(uuid.uuid4()),
        }
    )
    if asks(message, "hang") or asks(message, "hang-stubborn"):
        hang(
            lambda text: run.message([{"type": "text", "text": text}], deltas="none"),
            stubborn=asks(message, "hang-stubborn"),
        )
    if asks(message, "crash"):
        run.message([{"type": "text", "text": "Half a "}])
        fail("fatal: the fake Claude crashed (out of memory)", 3)
    if asks(message, "fail"):
        said = (
            'API Error: 401 {"type":"error","error":{"type":"authentication_error",'
            f'"message":"invalid x-api-key {LEAKED_KEY}"}}}}'
        )
        run.message([{"type": "text", "text": said}])
        run.result(said, is_error=True)
        sys.exit(1)
    if asks(message, "garbage"):
        sys.stdout.write("Welcome to Claude Code! (this line is not JSON)\n")
        sys.stdout.flush()
    if asks(message, "tool"):
        tool = {
            "type": "tool_use",
            "id": "toolu_01Fake",
            "name": "Bash",
            "input": {"command": "ls"},
        }
        run.message([{"type": "text", "text": "Let me look."}, tool])
        run.line(
            "user",
            message={
                "role": "user",
                "content": [
                    {
                        "tool_use_id": "toolu_01Fake",
                        "type": "tool_result",
                        "content": "notes.md\nplan.txt",
                        "is_error": False,
                    }
                ],
            },
            tool_use_result={"stdout": "notes.md\nplan.txt", "stderr": "", "interrupted": False},
        )
    deltas = "none" if asks(message, "no-deltas") else "all"
    deltas = "partial" if asks(message, "partial-deltas") else deltas
    run.message([{"type": "text", "text": reply}], deltas=deltas)
    if not options.get("no_session_persistence"):
        sessions.append(session_id, message, reply)
    run.result(reply)


if __name__ == "__main__":
    main(sys.argv[1:])
