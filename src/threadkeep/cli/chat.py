"""``threadkeep chat``: talk to a model in the terminal, every turn stored (SPEC S9).

Each message goes through the send pipeline (``runtime.send.Runtime``), as the server's
do: the reply is printed as it streams and stored as it grows, warnings (``Notice``)
are shown on stderr, a failed run says why. Slash commands (``chat_commands.py``) move
between conversations, title, search and export them.

**Two threads.** The main thread reads lines (``input``, with GNU readline's editing
and history when stdin is a terminal) and runs the slash commands through the sync
store. The turns run on an event loop of their own thread (:class:`_LoopThread`), which
keeps running between turns, so a title the runtime makes in the background after a
first reply is written while the person types, not at the next turn; at the end the
session waits for it (``Runtime.settle``).

**Ctrl-C.** Python delivers SIGINT to the main thread as ``KeyboardInterrupt``: at the
prompt it ends the session (as Ctrl-D does); while a reply streams the main thread is
only waiting for the turn, so the interrupt lands there, and the turn's task is
cancelled on its loop. The pipeline then finishes the run ``cancelled`` and the store
marks the partial reply ``incomplete`` — kept, not dropped — and only when that is done
does the prompt come back. A second Ctrl-C while that finishes stops waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import threading
from collections.abc import AsyncIterator, Coroutine
from types import TracebackType
from typing import Annotated, Any, Self, TypeVar

import typer
from rich.markup import escape
from rich.text import Text

from threadkeep.aio import AsyncConversationStore
from threadkeep.cli._context import DbOption, opened_store
from threadkeep.cli.chat_commands import ChatSession
from threadkeep.cli.output import errors_to_exit_codes, note, stderr, stdout, warn
from threadkeep.cli.terminal import one_line, printable
from threadkeep.errors import InvalidInput, ThreadkeepError
from threadkeep.runtime.run_queue import RunQueue
from threadkeep.runtime.send import Notice, ReplyDelta, RunFinished, Runtime, SendEvent, Stored

__all__ = ["PROMPT", "app"]

app = typer.Typer()

T = TypeVar("T")

#: What the person types after.
PROMPT = "you> "


@app.command(rich_help_panel="Chat")
def chat(
    ctx: typer.Context,
    continue_latest: Annotated[
        bool,
        typer.Option("--continue", "-c", help="Continue the most recently updated conversation."),
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            "-r",
            metavar="ID",
            help="Continue this conversation (`threadkeep ls` lists the ids).",
            show_default=False,
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            "-p",
            metavar="NAME",
            help="Who replies: echo (offline, the default), openai, or a plugin's provider. "
            "A conversation keeps the provider it started with.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="MODEL",
            help="The model to ask (default: the one the conversation last used, else the "
            "provider's setting, such as openai_model).",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Chat in the terminal: replies stream in, and every message is stored as it comes.

    Starts a new conversation, or continues one (`--continue`, `--resume ID`) with its
    last messages shown and its history given to the model. Type a message and press
    Enter. Ctrl-C stops a reply (what arrived is kept, marked incomplete); Ctrl-C or
    Ctrl-D at the prompt leaves.

    Slash commands: `/new` (a new conversation), `/resume` (pick one of the recent
    conversations, or `/resume ID`), `/sessions` (list them), `/title NEW`,
    `/search QUERY`, `/export [PATH]` (this conversation to a file, secrets masked),
    `/help`, `/quit`.

    Examples:

        threadkeep chat
        threadkeep chat --continue
        threadkeep chat --resume 0193a5c4-…
        threadkeep chat --provider openai --model gpt-4o-mini
    """
    with errors_to_exit_codes():
        if continue_latest and resume is not None:
            raise InvalidInput("choose one of --continue (the latest conversation) and --resume ID")
    with opened_store(ctx, db) as store:
        runtime = Runtime(AsyncConversationStore(store), RunQueue())
        if provider is not None:
            runtime.provider(provider)  # an unknown name: InvalidInput listing the known
        session = ChatSession(store, runtime, provider=provider, model=model)
        if resume is not None:
            session.open(store.get_conversation(resume))
        elif continue_latest:
            session.open_latest()
        else:
            session.start_new()
        note("Type a message and press Enter; /help lists the commands; Ctrl-D leaves.")
        with _LoopThread() as loop:
            _converse(session, loop)
            try:
                loop.run(runtime.settle())  # the title of a first reply, if still being made
            except KeyboardInterrupt:
                note("left without waiting for the conversation's title")
        if session.conversation is not None:
            note(f"to continue: threadkeep chat --resume {session.conversation_id}")


def _converse(session: ChatSession, loop: _LoopThread) -> None:
    """Read lines until the person leaves: slash commands run, the rest is sent."""
    _line_editing()
    # Lines piped in (``echo hi | threadkeep chat``) get no prompt: stdout is the replies.
    prompt = PROMPT if sys.stdin.isatty() else ""
    while True:
        try:
            line = session.ask(prompt)
        except (EOFError, KeyboardInterrupt):
            if prompt:
                stdout.print()  # off the prompt's line
            return
        text = line.strip()
        if not text:
            continue
        try:
            if text.startswith("/") and not text.startswith("//"):
                if not session.run(text):
                    return
            else:
                _turn(session, loop, text.removeprefix("/"))
        except KeyboardInterrupt:
            stdout.print()
            note("cancelled")
        except ThreadkeepError as error:
            _error(error.code, error.message)
        except OSError as error:  # /export into a file that cannot be written
            path = error.filename2 or error.filename
            _error("os_error", f"{error.strerror or error}{f': {path}' if path else ''}")


def _line_editing() -> None:
    """Line editing and history for ``input`` (it uses readline once that is loaded)."""
    if sys.stdin.isatty():
        with contextlib.suppress(ImportError):  # a Python built without it: plain input
            importlib.import_module("readline")


def _error(code: str, message: str) -> None:
    """An error the session survives, in the form every command prints its errors."""
    line = escape(one_line(" ".join(message.split())))
    stderr.print(f"[bold red]error[/] ({code}): {line}", highlight=False, soft_wrap=True)


def _turn(session: ChatSession, loop: _LoopThread, text: str) -> None:
    """Send ``text`` and show the turn; Ctrl-C stops it (see the module doc)."""
    session.stored()
    shown = _TurnPrinter()
    events = session.runtime.send(
        session.conversation_id, text, provider=session.provider, model=session.send_model
    )
    try:
        loop.run(shown.follow(events))
    except KeyboardInterrupt:
        shown.end_line()
        warn("reply stopped: what arrived is kept, marked incomplete")
    session.refresh()


class _TurnPrinter:
    """Shows a turn's events: the reply as it streams, the rest on lines of their own."""

    def __init__(self) -> None:
        self.at_line_start = True

    async def follow(self, events: AsyncIterator[SendEvent]) -> None:
        async for event in events:
            self.show(event)
        self.end_line()

    def show(self, event: SendEvent) -> None:
        if isinstance(event, ReplyDelta):
            # Nothing a model says can drive the terminal; newlines and tabs stay.
            sys.stdout.write(printable(event.text))
            sys.stdout.flush()
            self.at_line_start = event.text.endswith("\n")
        elif isinstance(event, Notice):
            self.end_line()
            warn(event.text)
        elif isinstance(event, Stored) and event.message.kind in ("tool_call", "tool_result"):
            self.end_line()
            name = (event.message.metadata or {}).get("name")
            label = "tool result" if event.message.kind == "tool_result" else "tool call"
            detail = f": {one_line(str(name))}" if name else ""
            stdout.print(Text(f"[{label}{detail}]", style="dim"), soft_wrap=True)
        elif isinstance(event, RunFinished) and event.error is not None:
            # The run failed: the provider's error, or the store's (after its Notice).
            self.end_line()
            failed = Text("reply failed", style="bold red")
            failed.append(f": {one_line(' '.join(event.error.split()))}")
            stderr.print(failed, soft_wrap=True)

    def end_line(self) -> None:
        if not self.at_line_start:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.at_line_start = True


class _LoopThread:
    """An event loop running on a thread of its own for the whole session."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="threadkeep-chat-loop", daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.run(self._wind_down())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the loop and wait for its result.

        Ctrl-C while waiting cancels it, waits until it has ended (cleaned up), and
        raises ``KeyboardInterrupt`` — unless it finished before the cancellation
        reached it, in which case its result is returned as usual.
        """
        ended = threading.Event()
        tasks: list[asyncio.Task[T]] = []

        def start() -> None:
            task = self.loop.create_task(work)
            task.add_done_callback(lambda _: ended.set())
            tasks.append(task)

        self.loop.call_soon_threadsafe(start)
        try:
            ended.wait()
        except KeyboardInterrupt:
            # Callbacks run in the order they were queued: start() has made the task.
            self.loop.call_soon_threadsafe(lambda: tasks[0].cancel())
            ended.wait()
            if tasks[0].cancelled():
                raise
        return tasks[0].result()

    async def _wind_down(self) -> None:
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.loop.shutdown_asyncgens()
        await self.loop.shutdown_default_executor()
