"""One run of an agent CLI as a child process: what the ``claude-code`` and ``codex``
providers (SPEC S4.3) both do with the program they drive.

A :class:`CliProcess` is started with :meth:`CliProcess.start` and lives for one reply:

* **Finding the program**: :func:`find_executable` resolves the configured command (a
  name looked up on ``PATH``, or a path) before anything is spawned, so a CLI that is not
  installed is a ``ProviderError`` naming the setting and how to install it — not an
  ``OSError`` from deep inside ``asyncio``. A working directory that does not exist is
  named the same way (``cli_provider_cwd``).
* **Spawning**: ``asyncio.create_subprocess_exec`` — an argument vector, never a shell,
  so nothing in a message is ever interpreted by one. The child leads a new session
  (``start_new_session``), hence its own process group: the CLI's own children (tool
  commands, MCP servers) are in it too and can be stopped with it.
* **Environment**: the child gets this process's environment without threadkeep's own
  ``THREADKEEP_*`` variables. A CLI needs its own configuration (``ANTHROPIC_API_KEY``,
  ``CODEX_HOME``, ``PATH``, …) but none of threadkeep's — whose keys and database URL
  would otherwise be one ``env`` command away from an agent that runs shell tools.
* **Input**: the prompt goes on stdin, written by a task of its own and then closed. An
  argument is limited (``MAX_ARG_STRLEN``, 128 KiB on Linux) while stdin is not, and
  writing concurrently with reading stdout means a child that prints before it has read
  everything cannot deadlock against us. A child that exits without reading (a bad
  option) breaks the pipe; that is not reported — its exit status and stderr say why.
* **Output**: :meth:`CliProcess.next_json` reads stdout as JSON Lines, one object per
  line (blank lines skipped). A line that is not a JSON object, or longer than
  :data:`LINE_LIMIT`, is a ``ProviderError`` quoting the line's start: both CLIs
  promise JSON only on stdout in the modes used, so anything else means the CLI is not
  the one expected or is broken — a reply built around it could be silently wrong.
* **Stderr** is drained all along by a task (a child blocked on a full stderr pipe would
  hang the run) and its last :data:`STDERR_KEEP` bytes are kept for error messages; it
  is never shown otherwise (both CLIs log progress and warnings there).
* **Exit**: :meth:`CliProcess.finish` waits for the exit status once stdout has ended;
  :meth:`CliProcess.failure` turns a failure into a ``ProviderError`` with the CLI's own
  words (stderr, or what the caller passes) cut short and passed through
  :func:`threadkeep.redact.redact_text` — a CLI may echo a key or a token.
* **Stopping**: :meth:`CliProcess.aclose` — called from the provider's ``finally``, so on
  an error, on ``aclose`` of the provider's stream and on cancellation alike — stops a
  child that is still running: ``SIGTERM`` to the whole process group (a CLI saves its
  session and stops its tools), up to ``terminate_grace`` seconds for the leader to
  exit, then ``SIGKILL`` to the group — the leader if it did not stop, and whatever it
  left, such as a tool that ignores ``SIGTERM``. The leader is reaped (awaited) and the
  pipes drained to their end, so no zombie, no orphan in the group and no open
  transport is left. A second cancellation while it waits goes straight to
  ``SIGKILL``. (The group id is the leader's pid; asyncio reaps the leader as soon as it
  exits, so that last ``SIGKILL`` may follow the reaping by an instant — too short for
  the pid to be handed out again in practice.) A child that has already exited is only
  reaped and drained: its group is not signalled.
  What escapes the group is out of reach: a grandchild that starts a session of its own
  (a daemon) keeps running, and if it also kept stdout open, draining gives up after
  ``terminate_grace`` seconds instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from threadkeep.errors import ProviderError
from threadkeep.redact import redact_text

__all__ = [
    "DETAIL_CHARS",
    "LINE_LIMIT",
    "STDERR_KEEP",
    "TERMINATE_GRACE",
    "CliProcess",
    "find_executable",
    "shorten",
]

log = logging.getLogger(__name__)

_Stream = TypeVar("_Stream", asyncio.StreamReader, asyncio.StreamWriter)

#: The longest stdout line read (a tool result can carry a whole file).
LINE_LIMIT = 32 * 1024 * 1024
#: How much of the end of stderr is kept for error messages.
STDERR_KEEP = 64 * 1024
#: How much of a CLI's own words an error message quotes.
DETAIL_CHARS = 600
# threadkeep's own settings (see "Environment" above).
_OWN_ENV = "THREADKEEP_"
#: Seconds between SIGTERM and SIGKILL when a run is stopped.
TERMINATE_GRACE = 3.0


def shorten(text: str, limit: int = DETAIL_CHARS, *, keep_start: bool = False) -> str:
    """``text`` on one line, redacted, cut to ``limit`` characters — its end kept, where
    a CLI says what finally went wrong, or its start with ``keep_start``."""
    # Redacted before cutting, so a cut cannot leave a piece of a key unrecognised.
    flat = redact_text(" ".join(text.split()))[0]
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…" if keep_start else "…" + flat[-(limit - 1) :]
    return flat


def find_executable(command: str, *, provider: str, setting: str, install: str) -> str:
    """The path of the CLI ``command`` (a name on ``PATH`` or a path), or a
    ``ProviderError`` naming ``setting`` and how to ``install`` the CLI."""
    env = f"THREADKEEP_{setting.upper()}"
    expanded = os.path.expanduser(command.strip())
    found = None
    if expanded:
        if os.sep in expanded or (os.altsep and os.altsep in expanded):
            candidate = Path(expanded)
            if candidate.is_file() and os.access(candidate, os.X_OK):
                found = str(candidate)
        else:
            found = shutil.which(expanded)
    if found is None:
        raise ProviderError(
            f"the {provider} provider cannot find its CLI {command!r:.200} (the {setting} "
            f"setting, {env}): {install}; or set {setting} to the path of the executable"
        )
    return found


def _working_directory(cwd: str | None, provider: str) -> str | None:
    if cwd is None:
        return None
    path = Path(cwd).expanduser()
    if not path.is_dir():
        raise ProviderError(
            f"the {provider} provider cannot run in {cwd!r:.200}: it is not a directory; "
            "set cli_provider_cwd (THREADKEEP_CLI_PROVIDER_CWD) to an existing directory, "
            "or unset it to run in the current one"
        )
    return str(path)


def _child_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith(_OWN_ENV)}


def _piped(stream: _Stream | None) -> _Stream:
    if stream is None:  # cannot happen: every stream is spawned as a pipe
        raise RuntimeError("the child process was spawned without a pipe")
    return stream


class CliProcess:
    """A running CLI; see the module docstring. ``label`` names it in messages
    (``"claude (the claude-code provider)"``)."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        label: str,
        stdin: bytes,
        terminate_grace: float,
    ) -> None:
        self.process = process
        self.label = label
        self.terminate_grace = terminate_grace
        self._stderr = bytearray()
        self._feeder = asyncio.ensure_future(self._feed(stdin))
        self._drainer = asyncio.ensure_future(self._drain_stderr())
        self._closed = False

    @classmethod
    async def start(
        cls,
        argv: Sequence[str],
        *,
        stdin: str,
        cwd: str | None,
        label: str,
        provider: str,
        terminate_grace: float = TERMINATE_GRACE,
    ) -> CliProcess:
        """Spawn ``argv`` (``argv[0]`` already resolved by :func:`find_executable`) in
        ``cwd`` (``None``: the current directory) and start writing ``stdin`` to it."""
        directory = _working_directory(cwd, provider)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=directory,
                env=_child_environment(),
                start_new_session=True,
                limit=LINE_LIMIT,
            )
        except OSError as error:
            raise ProviderError(
                f"cannot start {label} ({argv[0]!r:.200}): {error.strerror or error}; check "
                "that the file is an executable program for this system"
            ) from None
        return cls(process, label, stdin.encode("utf-8"), terminate_grace)

    # ------------------------------------------------------------------ the child's I/O

    async def _feed(self, data: bytes) -> None:
        stdin = _piped(self.process.stdin)
        # A child that exits without reading its input (a bad option) breaks the pipe;
        # its exit status and stderr tell why, so the write error adds nothing.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.write(data)
            await stdin.drain()
        stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await stdin.wait_closed()

    async def _drain_stderr(self) -> None:
        stderr = _piped(self.process.stderr)
        while chunk := await stderr.read(65536):
            self._stderr += chunk
            if len(self._stderr) > STDERR_KEEP:
                del self._stderr[: len(self._stderr) - STDERR_KEEP]

    @property
    def stderr_text(self) -> str:
        """What the child printed on stderr so far (its end), unredacted."""
        return self._stderr.decode("utf-8", errors="replace")

    async def next_json(self) -> dict[str, Any] | None:
        """The next JSON object the child prints on stdout; ``None`` once stdout ended."""
        stdout = _piped(self.process.stdout)
        while True:
            try:
                raw = await stdout.readline()
            except ValueError:  # the line is longer than the reader's limit
                raise self.failure(
                    f"printed a line longer than {LINE_LIMIT // (1024 * 1024)} MiB", detail=""
                ) from None
            if not raw:
                return None
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                raise self.failure(
                    "printed a line that is not a JSON object, so its output cannot be read",
                    detail=shorten(line, 200, keep_start=True),
                )
            return value

    async def finish(self) -> int:
        """The exit status, once stdout has ended (negative: killed by that signal)."""
        return await self.process.wait()

    def failure(self, what: str, *, detail: str | None = None) -> ProviderError:
        """``ProviderError``: ``"<label> <what>: <detail>"``; ``detail`` defaults to the
        end of stderr (shortened, redacted); an empty detail adds nothing."""
        said = shorten(self.stderr_text) if detail is None else detail
        return ProviderError(f"{self.label} {what}" + (f": {said}" if said else ""))

    def exit_failure(self, status: int, *, detail: str | None = None) -> ProviderError:
        """``ProviderError`` for a child that ended with ``status`` (non-zero)."""
        if status < 0:
            try:
                name = signal.Signals(-status).name
            except ValueError:
                name = f"signal {-status}"
            return self.failure(f"was killed by {name} before it finished", detail=detail)
        return self.failure(f"failed with exit status {status}", detail=detail)

    # --------------------------------------------------------------------------- stop

    async def aclose(self) -> None:
        """Stop the child if it still runs (the whole group), reap it, drain its pipes."""
        if self._closed:
            return
        self._closed = True
        process = self.process
        try:
            if process.returncode is None:
                await self._terminate()
            else:
                await process.wait()
        except asyncio.CancelledError:
            # Cancelled again while waiting for it to stop: no more waiting.
            self._signal_group(signal.SIGKILL)
            self._feeder.cancel()
            self._drainer.cancel()
            raise
        self._feeder.cancel()
        await self._settle()

    async def _terminate(self) -> None:
        process = self.process
        self._signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self.terminate_grace)
        except TimeoutError:
            log.info("%s did not stop on SIGTERM; killing it", self.label)
        # The leader has gone or is about to be killed; its group's id is still its pid,
        # so anything left in the group (a tool that ignored SIGTERM) goes too.
        self._signal_group(signal.SIGKILL)
        await process.wait()

    def _signal_group(self, sig: signal.Signals) -> None:
        process = self.process
        try:
            if hasattr(os, "killpg"):
                os.killpg(process.pid, sig)
            elif sig == signal.SIGKILL:  # no process groups (Windows)
                process.kill()
            else:
                process.terminate()
        except (ProcessLookupError, PermissionError):
            pass  # the group is empty: everything in it has exited

    async def _settle(self) -> None:
        """Read stdout and stderr to their end, so the transport closes (bounded: a
        daemon that escaped the group may hold them open)."""
        stdout = self.process.stdout

        async def drain_stdout() -> None:
            if stdout is not None:
                while await stdout.read(65536):
                    pass

        for work in (drain_stdout(), self._drainer):
            try:
                await asyncio.wait_for(work, self.terminate_grace)
            except TimeoutError:
                log.warning(
                    "%s left a process holding its output open (a daemon outside its "
                    "process group?); not waiting for it",
                    self.label,
                )
        with contextlib.suppress(asyncio.CancelledError):
            await self._feeder
