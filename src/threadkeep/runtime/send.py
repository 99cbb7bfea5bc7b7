"""``Runtime.send``: one chat turn — queue -> context -> provider -> persist -> events.

``send`` is an async generator of :data:`SendEvent`\\ s, used alike by the server (which
streams them over SSE), the CLI and tests. One turn, in order:

1. **Queue** (S4.5): wait for the conversation's turn through the process's
   :class:`~threadkeep.runtime.run_queue.RunQueue` (FIFO across every process on the
   database; other conversations run in parallel).
2. **Run and user message**: ``start_run`` first — it refuses a provider other than the
   conversation's with ``Conflict`` (S4.4) before anything is stored — then the user
   message, tied to the run.
3. **Context**: with a provider session stored on the conversation, the request
   carries the new message and the session id (the provider holds the history); without
   one, the earlier messages within the budget (S4.1, ``prior_context.py``) go first as
   chat messages.
4. **Provider**: the reply streams in as events. The assistant message is stored at the
   first piece of text (``status=streaming``), then updated in batches — when
   :data:`FLUSH_CHARS` more characters arrived or :data:`FLUSH_SECONDS` passed, never per
   piece — and ``complete`` at the end (S4.7). A tool call or result closes the text
   before it and is stored as its own message (``kind=tool_call``/``tool_result``); text
   after it starts a new assistant message.
5. **Resume fallback** (S4.2): if the provider refuses the stored session id
   (``ProviderSessionInvalid``, before any event), the turn is retried once, without the
   id and with the prior context; the run records ``retried_without_resume``. A second
   refusal, or any other ``ProviderError``, fails the run (``failed``, the error kept),
   shown as such.
6. **Title** (S4.6): after a conversation's first reply, a title is made in the
   background (``titles.py``): the turn does not wait for it.
7. **Finish**: ``finish_run`` with the usage and the provider's new session id (which
   replaces the old on the conversation). A send whose task is cancelled finishes its
   run ``cancelled``. Messages still ``streaming`` in a run that did not complete become
   ``incomplete`` (the store does it), and a process killed mid-reply leaves its run to
   be marked ``interrupted`` at the next start.

The store publishes ``run.*`` and ``message.*`` events as it writes.

Each stage is an async generator over the next (``send`` -> ``_Turn.run`` ->
``_provide`` -> ``_stream`` -> the provider), each inner one iterated under
``contextlib.aclosing``: a send abandoned mid-reply (a cancelled consumer, a closed
generator) is closed from the inside out, in order — the pending text written, then the
run finished ``cancelled``, then the turn released — never by the garbage collector in
whatever order it finds the generators.

**Degradation** (S4.8): a store that cannot be used during a turn
(``StoreUnavailable``) does not stop the reply. The turn goes on with what it has — no
history if it could not be read, nothing saved from the failure on — and says so with a
:class:`Notice` event the caller shows the person. Nothing stored before is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import pluggy

from threadkeep.aio import AsyncConversationStore
from threadkeep.errors import InvalidInput, ProviderError, ProviderSessionInvalid, StoreUnavailable
from threadkeep.inputs import check_content
from threadkeep.models import Conversation, Message, Run
from threadkeep.runtime.prior_context import ContextBudget, build_prior_context_async
from threadkeep.runtime.providers.base import (
    Provider,
    ProviderRequest,
    SessionStarted,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)
from threadkeep.runtime.providers.registry import provider_spec
from threadkeep.runtime.run_queue import HeldTurn, RunQueue
from threadkeep.runtime.titles import give_title
from threadkeep.settings import Settings

__all__ = [
    "DEFAULT_PROVIDER",
    "FLUSH_CHARS",
    "FLUSH_SECONDS",
    "STORE_FAILED",
    "Background",
    "Notice",
    "ReplyDelta",
    "RunFinished",
    "RunStarted",
    "Runtime",
    "SendEvent",
    "Stored",
]

T = TypeVar("T")

#: A run's error when the store failed during it: the reply streamed on, not saved.
STORE_FAILED = "the store could not be written during the reply; it is stored only up to there"
#: The provider of a conversation that has none yet and a send that names none.
DEFAULT_PROVIDER = "echo"
#: A streaming reply is written back after this many more characters...
FLUSH_CHARS = 2_000
#: ...or when this long passed since it was last written, whichever comes first.
FLUSH_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class RunStarted:
    """The turn has begun: its run, and the user message stored (``None``: not saved)."""

    run: Run | None
    user_message: Message | None


@dataclass(frozen=True, slots=True)
class ReplyDelta:
    """A piece of the reply's text, as the provider streamed it."""

    text: str


@dataclass(frozen=True, slots=True)
class Stored:
    """A message of the reply written in full: a tool call or result, or finished text."""

    message: Message


@dataclass(frozen=True, slots=True)
class Notice:
    """A warning the person should see: the history was not read, or is not saved."""

    text: str


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The turn is over: the run as finished (``None`` if not saved), the reply's whole
    text, and the error that failed it (``None`` when it completed)."""

    run: Run | None
    reply: str
    error: str | None


SendEvent = RunStarted | ReplyDelta | Stored | Notice | RunFinished


class Background:
    """Work the turns leave running (a title after a first reply), kept until it ends.

    A :class:`Runtime` has its own by default; one that lasts a single request (the
    server's) is given the app's, which outlives the request and is settled at shutdown.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def keep(self, work: Awaitable[Any]) -> None:
        """Run ``work`` in the background; :meth:`settle` waits for it."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the work (and what it started meanwhile)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class Runtime:
    """Sends on behalf of one owner: ``store`` is that owner's async store.

    ``queue``: the process's :class:`RunQueue` (shared by every ``Runtime`` of the
    process so that turns are ordered across requests); ``settings``: where providers
    read their configuration (default: the store's); ``manager``: the plugin manager
    providers are looked up in (default: the process's); ``background``: where the work
    the turns leave running is kept (default: a :class:`Background` of its own).
    """

    def __init__(
        self,
        store: AsyncConversationStore,
        queue: RunQueue,
        *,
        settings: Settings | None = None,
        manager: pluggy.PluginManager | None = None,
        budget: ContextBudget | None = None,
        background: Background | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.settings = settings if settings is not None else store.settings
        self.manager = manager
        self.budget = budget if budget is not None else ContextBudget()
        self.background = background if background is not None else Background()

    def provider(self, name: str) -> Provider:
        """A provider by name (``InvalidInput`` naming the known ones if unknown)."""
        return provider_spec(name, self.manager).create(self.settings)

    async def send(
        self,
        conversation_id: str,
        text: str,
        *,
        provider: str | None = None,
        model: str | None = None,
    ) -> AsyncIterator[SendEvent]:
        """Send ``text`` as the user's next message and stream the turn (module doc).

        ``provider``: the conversation's provider, or the one to start it with
        (default: the conversation's, else :data:`DEFAULT_PROVIDER`); another than the
        conversation's is ``Conflict``. ``model``: passed to the provider.
        """
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("a message to send needs some text")
        # The store's own limit, checked before the turn: a message it would refuse must
        # not start a run (nor fix the conversation's provider) first.
        check_content(text, self.store.settings.max_message_bytes)
        async with self.queue.turn(self.store, conversation_id) as held:
            turn = _Turn(self, held, conversation_id, text, provider, model)
            async with contextlib.aclosing(turn.run()) as events:
                async for event in events:
                    yield event

    def in_background(self, work: Awaitable[Any]) -> None:
        """Run ``work`` (a title) without making the turn wait; :meth:`settle` awaits it."""
        self.background.keep(work)

    async def settle(self) -> None:
        """Wait for the work the turns left running (titles being made)."""
        await self.background.settle()


class _Turn:
    """One send, from its turn in the queue to its finished run."""

    def __init__(
        self,
        runtime: Runtime,
        held: HeldTurn,
        conversation_id: str,
        text: str,
        provider: str | None,
        model: str | None,
    ) -> None:
        self.runtime = runtime
        self.held = held
        self.store = runtime.store
        self.conversation_id = conversation_id
        self.text = text
        self.provider_name = provider
        self.model = model
        self.warnings: list[str] = []
        self.saving = True  # False once the store failed: the rest is not saved
        self.run_record: Run | None = None
        self.reply: list[str] = []
        self.session_id: str | None = None
        self.usage: dict[str, Any] | None = None
        self.streaming = _Reply(self)  # the text being streamed (empty between messages)

    async def run(self) -> AsyncGenerator[SendEvent, None]:
        conversation = await self._saved(
            self.store.get_conversation(self.conversation_id), reading=True
        )
        known = None if conversation is None else conversation.provider
        name = self.provider_name or known or DEFAULT_PROVIDER
        provider = self.runtime.provider(name)
        session = None if conversation is None else conversation.provider_session_id
        # Refuses another provider (Conflict) before anything of this turn is stored.
        self.run_record = await self._saved(
            self.store.start_run(
                self.conversation_id,
                provider=name,
                model=self.model,
                resumed_session_id=session,
                turn=self.held.ticket,
            )
        )
        try:
            user = await self._saved(
                self.store.append_message(
                    self.conversation_id,
                    "user",
                    self.text,
                    run_id=None if self.run_record is None else self.run_record.id,
                )
            )
            if self.run_record is not None:
                self.held.run_id = self.run_record.id
            yield RunStarted(self.run_record, user)
            for warning in self._new_warnings():
                yield warning
        except BaseException:
            # Cancelled before the provider was asked: the run must not stay "running".
            await asyncio.shield(self._finish("cancelled", None, False))
            raise
        tracking = (
            contextlib.nullcontext()
            if self.run_record is None
            else self.runtime.queue.running(self.run_record.id)
        )
        with tracking:
            async with contextlib.aclosing(
                self._provide(provider, conversation, user, session)
            ) as events:
                async for event in events:
                    yield event

    async def _provide(
        self,
        provider: Provider,
        conversation: Conversation | None,
        user: Message | None,
        session: str | None,
    ) -> AsyncGenerator[SendEvent, None]:
        """Ask the provider (retrying once without the session), store, finish the run."""
        status, error, retried = "completed", None, False
        try:
            request = await self._request(conversation, user, session)
            for warning in self._new_warnings():
                yield warning
            try:
                async with contextlib.aclosing(self._stream(provider, request)) as events:
                    async for event in events:
                        yield event
            except ProviderSessionInvalid:
                if session is None or self.reply:
                    raise
                retried = True
                request = await self._request(conversation, user, None)
                async with contextlib.aclosing(self._stream(provider, request)) as events:
                    async for event in events:
                        yield event
        except ProviderError as failure:
            status, error = "failed", str(failure)
        except BaseException:
            # Cancelled (the client went away) or a bug: the run must not stay "running".
            await asyncio.shield(self._finish("cancelled", None, retried))
            raise
        finished = await self._finish(status, error, retried)
        untitled_first_turn = (
            conversation is not None
            and conversation.message_count == 0
            and conversation.title is None
        )
        if status == "completed" and untitled_first_turn and self.saving and self.reply:
            self.runtime.in_background(
                give_title(self.store, provider, self.conversation_id, self.text)
            )
        for warning in self._new_warnings():
            yield warning
        yield RunFinished(finished, "".join(self.reply), error)

    async def _request(
        self, conversation: Conversation | None, user: Message | None, session: str | None
    ) -> ProviderRequest:
        """The provider's request: the session to resume, or the prior context."""
        new = {"role": "user", "content": self.text}
        if conversation is None:  # the store could not be read: no history to give
            return ProviderRequest(messages=(new,), model=self.model)
        earlier = conversation.message_count  # before this turn's user message
        if session is not None:
            return ProviderRequest(
                messages=(new,), session_id=session, model=self.model, prior_messages=earlier
            )
        before = None if user is None else user.seq
        context = await self._saved(
            build_prior_context_async(
                self.store, self.conversation_id, budget=self.runtime.budget, before_seq=before
            ),
            reading=True,
        )
        if context is None:
            return ProviderRequest(messages=(new,), model=self.model)
        return ProviderRequest(
            messages=(*context.as_chat_messages(), new),
            model=self.model,
            prior_messages=len(context.messages),
        )

    async def _stream(
        self, provider: Provider, request: ProviderRequest
    ) -> AsyncGenerator[SendEvent, None]:
        """Run the provider once, storing what it streams; yield the caller's events."""
        text = self.streaming = _Reply(self)
        events = provider.stream(request)
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    if not event.text:
                        continue
                    self.reply.append(event.text)
                    await text.grow(event.text)  # stored before the caller sees it
                    yield ReplyDelta(event.text)
                elif isinstance(event, ToolCall | ToolResult):
                    closed = await text.close()
                    if closed is not None:
                        yield Stored(closed)
                    stored = await self._tool_message(event)
                    if stored is not None:
                        yield Stored(stored)
                elif isinstance(event, SessionStarted):
                    self.session_id = event.session_id
                elif isinstance(event, Usage):
                    self.usage = {
                        key: value
                        for key, value in (
                            ("input_tokens", event.input_tokens),
                            ("output_tokens", event.output_tokens),
                        )
                        if value is not None
                    }
                for warning in self._new_warnings():
                    yield warning
            closed = await text.close()
            if closed is not None:
                yield Stored(closed)
        finally:
            # Stopped early (an error, a cancelled send): the provider lets go of its
            # connection or child process now, not whenever the generator is collected.
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
        for warning in self._new_warnings():
            yield warning

    async def _tool_message(self, event: ToolCall | ToolResult) -> Message | None:
        run_id = None if self.run_record is None else self.run_record.id
        if isinstance(event, ToolCall):
            return await self._saved(
                self.store.append_message(
                    self.conversation_id,
                    "assistant",
                    json.dumps({"name": event.name, "arguments": event.arguments}, default=str),
                    kind="tool_call",
                    metadata={"call_id": event.call_id, "name": event.name},
                    run_id=run_id,
                )
            )
        return await self._saved(
            self.store.append_message(
                self.conversation_id,
                "tool",
                event.content,
                kind="tool_result",
                metadata={"call_id": event.call_id},
                run_id=run_id,
            )
        )

    async def _finish(self, status: str, error: str | None, retried: bool) -> Run | None:
        """Finish the run — tried even after a failed write: a store that is back
        records that the reply is not saved whole, and the run does not stay
        ``running``."""
        if self.run_record is None:
            return None
        # Cancelled, closed or failed mid-reply: the text the person saw is written
        # first (the finish then marks it incomplete), not only what the last batch
        # wrote. One task does both, in order, when the finish is shielded.
        await self.streaming.write_pending()
        if not self.saving:
            status, error = "failed", error or STORE_FAILED
        return await self._saved(
            self.store.finish_run(
                self.run_record.id,
                status=status,
                provider_session_id=self.session_id,
                usage=self.usage,
                error=error,
                retried_without_resume=retried,
            ),
            closing=True,
        )

    async def _saved(
        self, call: Awaitable[T], *, reading: bool = False, closing: bool = False
    ) -> T | None:
        """``await call``, unless the store failed: then ``None`` and a warning (S4.8).

        Only ``StoreUnavailable`` is caught: a refusal (``Conflict``, ``NotFound``) still
        ends the turn. Once a write failed, later writes are skipped (``saving``): a
        reply half-saved in a store that came back would be worse than one saved up to
        where the warning says. ``reading``: a read, tried even then; ``closing``: the
        run's finish, tried even then and not warned about again.
        """
        if not self.saving and not reading and not closing:
            if asyncio.iscoroutine(call):
                call.close()  # never awaited: no "coroutine was never awaited" warning
            return None
        try:
            return await call
        except StoreUnavailable as failure:
            if closing and not self.saving:
                return None  # the person was told when the first write failed
            if reading:
                self.warnings.append(
                    "the conversation's history could not be read, so the reply was "
                    f"made without it ({failure})"
                )
            else:
                self.saving = False
                self.warnings.append(
                    f"the conversation could not be saved from here on ({failure}); "
                    "the reply below is not stored"
                )
            return None

    def _new_warnings(self) -> list[Notice]:
        taken, self.warnings = self.warnings, []
        return [Notice(text) for text in taken]


class _Reply:
    """The assistant message being streamed: stored at its first text, then in batches."""

    def __init__(self, turn: _Turn) -> None:
        self.turn = turn
        self.parts: list[str] = []
        self.message: Message | None = None
        self.unsaved = 0
        self.saved_at = 0.0

    async def grow(self, piece: str) -> None:
        self.parts.append(piece)
        self.unsaved += len(piece)
        turn = self.turn
        if self.message is None:
            self.message = await turn._saved(
                turn.store.append_message(
                    turn.conversation_id,
                    "assistant",
                    "".join(self.parts),
                    status="streaming",
                    run_id=None if turn.run_record is None else turn.run_record.id,
                )
            )
            self._mark_saved()
        elif self.unsaved >= FLUSH_CHARS or time.monotonic() - self.saved_at >= FLUSH_SECONDS:
            await self._write("streaming")

    async def write_pending(self) -> None:
        """Write what arrived since the last batch, still ``streaming``."""
        if self.unsaved:
            await self._write("streaming")

    async def close(self) -> Message | None:
        """Write the text whole, ``complete``; the stored message (``None`` if none)."""
        if not self.parts:
            return None
        finished = await self._write("complete")
        self.parts, self.message, self.unsaved = [], None, 0
        return finished

    async def _write(self, status: str) -> Message | None:
        turn = self.turn
        if self.message is None:  # its first write failed: nothing to update
            return None
        written = await turn._saved(
            turn.store.update_message(
                turn.conversation_id, self.message.id, content="".join(self.parts), status=status
            )
        )
        self._mark_saved()
        return written

    def _mark_saved(self) -> None:
        self.unsaved = 0
        self.saved_at = time.monotonic()
