"""What the ``claude-code`` and ``codex`` providers (SPEC S4.3, S4.2, S4.6) share: the
provider around one CLI run per reply, and the reader that holds a resumed run's events.

:class:`CliProvider` is the provider: it checks a request's session id and model before
anything is spawned (an id or a model that could not be one — it would be read as an
option — is refused unspawned: :class:`~threadkeep.errors.ProviderSessionInvalid`,
:class:`~threadkeep.errors.InvalidInput`), finds the executable
(:func:`~threadkeep.runtime.providers.subprocess_cli.find_executable`), starts the
:class:`~threadkeep.runtime.providers.subprocess_cli.CliProcess`, feeds each JSON line
of its stdout to a :class:`CliReader` and stops the child in a ``finally`` — so on an
error, on ``aclose`` of the stream and on cancellation alike. A title (S4.6) is one run
with the subclass's :attr:`CliProvider.title_options`, its text cleaned by
:func:`~threadkeep.runtime.titles.clean_title`. A subclass says only what differs
between the CLIs: its command line (:meth:`CliProvider.command_line`) and how its output
reads (:meth:`CliProvider.reader`).

:class:`CliReader` turns one CLI's lines into provider events. Until a resumed session
is shown to exist (``confirmed``), the events are held back, so a refusal of the session
always comes before the first event and the pipeline's retry repeats nothing.
"""

from __future__ import annotations

import contextlib
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from threadkeep.errors import InvalidInput, ProviderSessionInvalid
from threadkeep.runtime.providers.base import ProviderEvent, ProviderRequest, TextDelta
from threadkeep.runtime.providers.cli_prompt import CliPrompt, cli_prompt, title_prompt
from threadkeep.runtime.providers.subprocess_cli import (
    TERMINATE_GRACE,
    CliProcess,
    find_executable,
)
from threadkeep.runtime.titles import clean_title
from threadkeep.settings import Settings

__all__ = ["CliProvider", "CliReader", "CliRun"]

# A session id as both CLIs make them (a UUID), loosely: no leading "-", which the CLI
# would read as an option, and nothing a shell or a path would treat specially.
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


@dataclass(frozen=True)
class CliRun:
    """One run of a CLI: its ``prompt``, the ``session`` it resumes (``None``: a new
    one), the ``model`` asked for (``None``: the CLI's own) and ``extra`` options."""

    prompt: CliPrompt
    session: str | None = None
    model: str | None = None
    extra: Sequence[str] = ()


class CliReader(ABC):
    """One run's stdout lines in, provider events out; see the module docstring."""

    def __init__(self, process: CliProcess, *, resuming: str | None) -> None:
        self.process = process
        self.resuming = resuming
        self.confirmed = resuming is None  # a resumed session is shown to exist
        self.held: list[ProviderEvent] = []  # events held back until it is

    def feed(self, line: dict[str, Any]) -> list[ProviderEvent]:
        """The events of one JSON line, or none while they are held back."""
        return self._release(self._read(line))

    def _release(self, events: list[ProviderEvent]) -> list[ProviderEvent]:
        if not self.confirmed:
            self.held.extend(events)
            return []
        if self.held:
            events, self.held = [*self.held, *events], []
        return events

    @abstractmethod
    def _read(self, line: dict[str, Any]) -> list[ProviderEvent]:
        """The events of one JSON line."""

    @abstractmethod
    def end(self, status: int) -> list[ProviderEvent]:
        """The last events once the CLI exited with ``status``; the failure, if the run
        failed."""


class CliProvider(ABC):
    """Replies from one agent CLI; see the module docstring.

    ``command``: the executable (a name on ``PATH`` or a path; ``None``: the subclass's
    :attr:`default_command`); ``cwd``: where it runs
    (``None``: the current directory); ``terminate_grace``: seconds between ``SIGTERM``
    and ``SIGKILL`` when a run is stopped.
    """

    name: str  # a plain attribute, as the Provider protocol has it
    #: The executable when no ``command`` is given.
    default_command: ClassVar[str]
    #: How messages name the CLI's product (``"Claude Code"``).
    product: ClassVar[str]
    #: The setting that names the executable (read by :meth:`from_settings`), and how
    #: to install the CLI.
    setting: ClassVar[str]
    install_hint: ClassVar[str]
    #: Options of a title run: no session kept, no tool loop.
    title_options: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        *,
        command: str | None = None,
        cwd: str | None = None,
        terminate_grace: float = TERMINATE_GRACE,
    ) -> None:
        self.command = self.default_command if command is None else command
        self.cwd = cwd
        self.terminate_grace = terminate_grace

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The provider of the command in the subclass's :attr:`setting`, run in
        ``cli_provider_cwd`` (no I/O: the executable is looked up when a run starts)."""
        command: str = getattr(settings, cls.setting)
        return cls(command=command, cwd=settings.cli_provider_cwd)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        prompt = cli_prompt(request, self.name)
        session = request.session_id
        if session is not None and not _SESSION_ID.fullmatch(session):
            raise ProviderSessionInvalid(
                f"{session!r:.80} is not a {self.product} session id, so it cannot be resumed"
            )
        if request.model is not None and (not request.model or request.model.startswith("-")):
            raise InvalidInput(f"{request.model!r:.80} is not a model name {self.product} takes")
        # aclosing: closing this stream must close the run's generator now, which stops
        # the child in its ``finally`` — not whenever the inner generator is collected.
        run = self._run(CliRun(prompt, session=session, model=request.model))
        async with contextlib.aclosing(run) as events:
            async for event in events:
                yield event

    async def title(self, text: str) -> str | None:
        """3-6 words from one non-resumed, unsaved run (the provider's module docstring);
        ``None`` when it answers nothing; ``ProviderError`` when the run fails."""
        pieces: list[str] = []
        prompt = CliPrompt(title_prompt(text), None)
        run = self._run(CliRun(prompt, extra=self.title_options))
        async with contextlib.aclosing(run) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    pieces.append(event.text)
        return clean_title("".join(pieces))

    @property
    def label(self) -> str:
        """How messages name the CLI."""
        return f"{self.command} (the {self.name} provider)"

    @abstractmethod
    def command_line(self, executable: str, run: CliRun) -> tuple[list[str], str]:
        """The argument vector of one run and what it is given on stdin."""

    @abstractmethod
    def reader(self, process: CliProcess, *, resuming: str | None) -> CliReader:
        """A reader of the run's output."""

    async def _run(self, run: CliRun) -> AsyncGenerator[ProviderEvent, None]:
        executable = find_executable(
            self.command, provider=self.name, setting=self.setting, install=self.install_hint
        )
        argv, stdin = self.command_line(executable, run)
        process = await CliProcess.start(
            argv,
            stdin=stdin,
            cwd=self.cwd,
            label=self.label,
            provider=self.name,
            terminate_grace=self.terminate_grace,
        )
        reader = self.reader(process, resuming=run.session)
        try:
            while (line := await process.next_json()) is not None:
                for event in reader.feed(line):
                    yield event
            status = await process.finish()
            for event in reader.end(status):
                yield event
        finally:
            await process.aclose()
