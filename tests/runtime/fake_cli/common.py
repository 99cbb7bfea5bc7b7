"""What the fake ``claude`` and ``codex`` share: sessions on disk, the prompt they were
given, the reply they make, and the scenarios a test asks for.

**Sessions** live in the directory named by an environment variable
(``FAKE_CLAUDE_HOME`` / ``FAKE_CODEX_HOME``), one ``<session id>.jsonl`` file per
session, one line per turn. Every run also appends its arguments and stdin to
``calls.jsonl`` there, so a test can check exactly how the provider ran the CLI.

**The reply** says what the fake was given, so a test can see resume and context
injection from the outside::

    Claude heard: <first line of the message>

    (prior messages: 4 via system-prompt; session turns: 0; model: default)

``prior messages`` counts the ``user:``/``assistant:`` paragraphs of the context the
provider passed (in the system prompt, or in ``<context>`` tags heading the prompt);
``session turns`` the turns of the resumed session found on disk. ``calls.jsonl`` also
lists the ``THREADKEEP_*`` variables the fake was given (names only).

**Scenarios** are asked for in the message text: ``[reply: words]`` makes the first
line ``words`` (a title run sees the opening text, so it answers ``words`` too);
``[tool]``, ``[fail]``, ``[crash]``, ``[garbage]``, ``[hang]``, ``[hang-stubborn]``
and the fake-specific ones described in each fake.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "Sessions",
    "asks",
    "chunks",
    "context_and_message",
    "count_context",
    "emit",
    "hang",
    "record_call",
    "reply_text",
]

_REPLY = re.compile(r"\[reply: ([^\]]+)\]")
_SPEAKER = re.compile(r"^(user|assistant): ", re.MULTILINE)
_CONTEXT_OPEN = "<context>\n"
_CONTEXT_CLOSE = "\n</context>\n\n"


def emit(event: dict[str, Any]) -> None:
    """Print one JSON line on stdout, at once (a real CLI flushes every line)."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def fail(message: str, status: int) -> None:
    sys.stderr.write(message if message.endswith("\n") else message + "\n")
    sys.stderr.flush()
    sys.exit(status)


class Sessions:
    """The sessions kept in ``$<variable>``."""

    def __init__(self, variable: str) -> None:
        home = os.environ.get(variable)
        if not home:
            fail(f"fake CLI: set {variable} to the directory for its sessions", 2)
        self.root = Path(str(home))
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, session_id: str) -> Path:
        return self.root / f"{session_id}.jsonl"

    def exists(self, session_id: str) -> bool:
        return self.path(session_id).is_file()

    def turns(self, session_id: str) -> list[dict[str, Any]]:
        if not self.exists(session_id):
            return []
        lines = self.path(session_id).read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def append(self, session_id: str, message: str, reply: str) -> None:
        with self.path(session_id).open("a", encoding="utf-8") as file:
            file.write(json.dumps({"message": message, "reply": reply}) + "\n")


def record_call(sessions: Sessions, argv: list[str], stdin: str) -> None:
    with (sessions.root / "calls.jsonl").open("a", encoding="utf-8") as file:
        seen = sorted(name for name in os.environ if name.startswith("THREADKEEP_"))
        call = {"argv": argv, "stdin": stdin, "cwd": os.getcwd(), "threadkeep_env": seen}
        file.write(json.dumps(call) + "\n")


def context_and_message(prompt: str) -> tuple[str | None, str]:
    """A prompt headed by ``<context>…</context>``: the context and the message."""
    if prompt.startswith(_CONTEXT_OPEN) and _CONTEXT_CLOSE in prompt:
        context, message = prompt[len(_CONTEXT_OPEN) :].split(_CONTEXT_CLOSE, 1)
        return context, message
    return None, prompt


def count_context(context: str | None) -> int:
    """How many earlier messages a context shows."""
    return 0 if context is None else len(_SPEAKER.findall(context))


def asks(message: str, scenario: str) -> bool:
    return f"[{scenario}]" in message


def reply_text(who: str, message: str, *, prior: int, via: str, turns: int, model: str) -> str:
    asked = _REPLY.search(message)
    first = next((line for line in message.splitlines() if line.strip()), "")
    head = asked.group(1) if asked else f"{who} heard: {first}"
    return f"{head}\n\n(prior messages: {prior} via {via}; session turns: {turns}; model: {model})"


def chunks(text: str) -> list[str]:
    """``text`` in word-sized pieces that join back to it."""
    return re.findall(r"\S+\s*|\s+", text)


def hang(first_text: Any, *, stubborn: bool) -> None:
    """Start a grandchild (same process group, our stdout), tell the test both pids
    through ``first_text(text)``, then never finish. ``stubborn``: both ignore SIGTERM,
    so only SIGKILL ends them."""
    code = "import time\nwhile True: time.sleep(60)"
    if stubborn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + code
    child = subprocess.Popen([sys.executable, "-c", code])
    first_text(f"pids {os.getpid()} {child.pid}")
    while True:
        time.sleep(60)
