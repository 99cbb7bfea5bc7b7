"""A fake ``codex`` (the Codex CLI): ``codex exec --json``, and ``exec resume``.

It parses ``exec`` as clap does for Codex: options before the ``resume`` subcommand
(``--json``, ``--skip-git-repo-check``, ``-m/--model``, ``-s/--sandbox``,
``--ephemeral``), then ``resume <SESSION_ID>`` and the prompt (``-``: stdin). Any other
argument is refused with clap's ``error: unexpected argument '…' found`` and exit 2;
without ``--skip-git-repo-check`` outside a git repository it stops as Codex does.

It prints the events of ``codex exec --json``: ``thread.started``, ``turn.started``,
``item.started``/``item.completed`` (``reasoning``, ``command_execution``,
``file_change``, ``agent_message``), ``error``, ``turn.completed`` with ``usage`` or
``turn.failed``. A resumed thread keeps its id and its file.

An unknown ``resume`` id is refused as current releases do — on stderr,
``Error: thread/resume: thread/resume failed: no rollout found for thread id <id> (code
-32600)``, nothing on stdout, exit status 1 — or, with
``FAKE_CODEX_RESUME_UNKNOWN=new-thread``, ignored as older releases did: a new thread
is started and answers without the history.

Scenarios (in the message): ``[tool]`` a reasoning item, a command, a file change,
then the answer; ``[two-messages]`` two agent messages in a row; ``[fail]`` two
reconnection ``error`` events then ``turn.failed`` with a key in its message, exit 1;
``[garbage]`` a line that is not JSON; ``[legacy-format]`` the ``{"id", "msg"}`` lines
of releases before ``thread.started``; ``[hang]`` / ``[hang-stubborn]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

from tests.runtime.fake_cli.common import (
    Sessions,
    asks,
    context_and_message,
    count_context,
    emit,
    fail,
    hang,
    record_call,
    reply_text,
)

FLAGS = {"--json", "--skip-git-repo-check", "--ephemeral"}
VALUED = {"-m": "model", "--model": "model", "-s": "sandbox", "--sandbox": "sandbox"}
LEAKED_KEY = "sk-proj-FakeCodexKey7Never9Shown3anywhere2026xYz"


def usage_error(arg: str) -> None:
    fail(
        f"error: unexpected argument '{arg}' found\n\n"
        "Usage: codex exec [OPTIONS] [PROMPT]\n       codex exec [OPTIONS] <COMMAND> [ARGS]\n\n"
        "For more information, try '--help'.",
        2,
    )


def parse(argv: list[str]) -> dict[str, Any]:
    if not argv or argv[0] != "exec":
        fail("fake codex: only `codex exec` is faked", 2)
    options: dict[str, Any] = {"resume": None, "prompt": None}
    rest = argv[1:]
    index = 0
    while index < len(rest):
        arg = rest[index]
        if arg in FLAGS:
            options[arg.lstrip("-").replace("-", "_")] = True
        elif arg in VALUED:
            if index + 1 >= len(rest):
                fail(f"error: a value is required for '{arg} <VALUE>' but none was supplied", 2)
            options[VALUED[arg]] = rest[index + 1]
            index += 1
        elif arg == "resume" and options["prompt"] is None and options["resume"] is None:
            if index + 1 >= len(rest):
                fail("fake codex: resume --last is not faked", 2)
            options["resume"] = rest[index + 1]
            index += 1
        elif arg.startswith("-") and arg != "-":
            usage_error(arg)
        elif options["prompt"] is None:
            options["prompt"] = arg
        else:
            usage_error(arg)
        index += 1
    return options


def in_git_repository() -> bool:
    found = subprocess.run(
        ["git", "rev-parse", "--git-dir"],  # noqa: S607 (as codex finds the repository)
        capture_output=True,
        check=False,
    )
    return found.returncode == 0


def item(kind: str, item_id: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"item_{item_id}", "type": kind, **fields}


def main(argv: list[str]) -> None:
    options = parse(argv)
    if not options.get("skip_git_repo_check") and not in_git_repository():
        fail("Not inside a trusted directory and --skip-git-repo-check was not specified.", 1)
    if not options.get("json"):
        fail("fake codex: only --json output is faked", 2)
    if options["prompt"] in (None, "-"):
        prompt = sys.stdin.read()
        if not prompt.strip():
            fail("No prompt provided via stdin.", 1)
    else:
        prompt = options["prompt"]
    sessions = Sessions("FAKE_CODEX_HOME")
    record_call(sessions, argv, prompt)
    resumed = options["resume"]
    if resumed is not None and not sessions.exists(resumed):
        if os.environ.get("FAKE_CODEX_RESUME_UNKNOWN") != "new-thread":
            fail(
                "Error: thread/resume: thread/resume failed: no rollout found for thread id "
                f"{resumed} (code -32600)",
                1,
            )
        resumed = None  # an older release: a new thread, silently
    thread_id = resumed or str(uuid.uuid4())
    context, message = context_and_message(prompt)
    reply = reply_text(
        "Codex",
        message,
        prior=count_context(context),
        via="prompt" if context is not None else "none",
        turns=len(sessions.turns(thread_id)) if resumed else 0,
        model=options.get("model") or "default",
    )
    if asks(message, "legacy-format"):
        emit({"id": "0", "msg": {"type": "task_started", "model_context_window": 272000}})
        emit({"id": "0", "msg": {"type": "agent_message", "message": reply}})
        return
    emit({"type": "thread.started", "thread_id": thread_id})
    emit({"type": "turn.started"})
    if asks(message, "hang") or asks(message, "hang-stubborn"):
        hang(
            lambda text: emit(
                {"type": "item.completed", "item": item("agent_message", 0, text=text)}
            ),
            stubborn=asks(message, "hang-stubborn"),
        )
    if asks(message, "fail"):
        for attempt in (1, 2):
            emit({"type": "error", "message": f"Reconnecting... {attempt}/5"})
        emit(
            {
                "type": "turn.failed",
                "error": {
                    "message": "unexpected status 401 Unauthorized: Incorrect API key "
                    f"provided: {LEAKED_KEY}"
                },
            }
        )
        sys.exit(1)
    if asks(message, "garbage"):
        sys.stdout.write("Reading prompt from stdin... (on stdout: not JSON)\n")
        sys.stdout.flush()
    next_id = 0
    if asks(message, "tool"):
        emit(
            {
                "type": "item.completed",
                "item": item("reasoning", 0, text="**Listing the files**"),
            }
        )
        running = item(
            "command_execution",
            1,
            command="bash -lc ls",
            aggregated_output="",
            exit_code=None,
            status="in_progress",
        )
        emit({"type": "item.started", "item": running})
        done = {**running, "aggregated_output": "notes.md\nplan.txt\n", "exit_code": 2}
        emit({"type": "item.completed", "item": {**done, "status": "failed"}})
        change = item(
            "file_change", 2, changes=[{"path": "notes.md", "kind": "update"}], status="completed"
        )
        emit({"type": "item.completed", "item": change})
        next_id = 3
    if asks(message, "two-messages"):
        emit({"type": "item.completed", "item": item("agent_message", next_id, text="First.")})
        next_id += 1
    emit({"type": "item.completed", "item": item("agent_message", next_id, text=reply)})
    emit(
        {
            "type": "turn.completed",
            "usage": {
                "input_tokens": 12000 + len(prompt.split()),
                "cached_input_tokens": 3456,
                "output_tokens": len(reply.split()),
            },
        }
    )
    if not options.get("ephemeral"):
        sessions.append(thread_id, message, reply)


if __name__ == "__main__":
    main(sys.argv[1:])
