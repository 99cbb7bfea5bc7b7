"""The conversation behind a framework's session, and how foreign rows read back.

Every adapter does the same four things with its conversation — read the latest
messages, append a batch, pop the last, clear — sync and async, and each must behave
the same way on the edges, so :class:`SessionConversation` does them once:

* **Found by name.** The session string maps to one conversation id
  (:func:`~threadkeep.adapters.sessions.conversation_id_for`), with nothing to look up.
* **Created on first write.** Reading a session that was never written is an empty
  history, not an error; nothing is created by a read. A write appends straight away
  (one transaction: the common case, the conversation exists) and only when the store
  says ``NotFound`` creates the conversation and appends again. Two processes making
  the first write of one session at the same moment both get there: the second
  ``create_conversation`` raises ``Conflict``, which means it exists now, so it goes on.
  If the append still finds nothing, the id belongs to another owner (or the
  conversation was deleted that instant) and the ``NotFound`` reaches the caller.
* **Async without blocking the loop.** The async methods go through
  :class:`~threadkeep.aio.AsyncConversationStore` over the same sync store: appends join
  the group commit from the event loop, reads and the rest run in a worker thread.
* **The store's lifetime.** A store the adapter opened itself (``store=None``) is closed
  by :meth:`close`; a store passed in belongs to the caller and is left open.

The adapters keep a framework's own object in a message's ``metadata`` and read it back
from there. Conversations are shared with the other surfaces, though (the CLI chat, the
server's send, imports), whose rows carry no such object. :func:`runtime_tool_call`
reads the tool rows the runtime writes (``metadata["call_id"]`` and content
``{"name", "arguments"}``), which map exactly onto a framework's call and result;
:func:`labelled_text` gives any other row a text a model can read, labelled by kind the
way ``runtime/prior_context.py`` labels tool rows for a stateless re-send.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from threadkeep.adapters.sessions import adapter_store, conversation_id_for
from threadkeep.aio import AsyncConversationStore
from threadkeep.errors import Conflict, InvalidInput, NotFound
from threadkeep.models import Message, MessageDraft
from threadkeep.store import ConversationStore

__all__ = [
    "SessionConversation",
    "SessionHolder",
    "ToolCallRow",
    "labelled_text",
    "runtime_tool_call",
]

# tail_messages reads at most this many rows at once (the store's own bound).
_MAX_TAIL = 100_000

# How a row that is not dialogue text is labelled when it must be read as text.
_LABELS = {
    "tool_call": "tool call",
    "tool_result": "tool result",
    "system_artifact": "artifact",
    "error": "error",
}


class SessionHolder:
    """What an adapter object that holds a :class:`SessionConversation` closes with it:
    ``close`` (the store, when the adapter opened it) and the ``with`` blocks."""

    _conversation: SessionConversation

    def close(self) -> None:
        """Close the store if the adapter opened it (``store=None``)."""
        self._conversation.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SessionConversation:
    """One framework session's conversation in a store (see the module docstring).

    ``framework`` names the adapter: it is the new conversation's ``mode`` and goes into
    its ``context`` with the session string, so a person looking at the conversation
    can tell which session made it.
    """

    def __init__(
        self,
        session_id: str,
        store: ConversationStore | None,
        owner: str | None,
        *,
        framework: str,
    ) -> None:
        self.session_id = session_id
        # The id is checked before a store is opened, so a bad one leaks nothing.
        conversation_id_for(session_id, owner or "local")
        self.store, self._owns_store = adapter_store(store, owner)
        self.conversation_id = conversation_id_for(session_id, self.store.owner)
        self.framework = framework
        self._astore = AsyncConversationStore(self.store)

    @property
    def owner(self) -> str:
        return self.store.owner

    def for_owner(self, owner: str) -> SessionConversation:
        """The same session string for another owner: their own conversation, on the
        same store (which stays this object's to close)."""
        if owner == self.store.owner:
            return self
        return SessionConversation(
            self.session_id, self.store.as_owner(owner), None, framework=self.framework
        )

    def close(self) -> None:
        """Close the store if this object opened it."""
        if self._owns_store:
            self._owns_store = False
            self.store.close()

    # ----------------------------------------------------------------- sync

    def read(self, limit: int | None = None) -> list[Message]:
        """The latest ``limit`` messages (all with ``None``), oldest first; ``[]`` when
        the conversation does not exist yet."""
        if limit is not None and _check_limit(limit) == 0:
            return []
        try:
            if limit is None or limit > _MAX_TAIL:
                found = self.store.get_messages(self.conversation_id)
                return found if limit is None else found[-limit:]
            return self.store.tail_messages(self.conversation_id, limit)
        except NotFound:
            return []

    def append(self, drafts: Sequence[MessageDraft]) -> list[Message]:
        """Append ``drafts`` in one transaction, creating the conversation on first write."""
        if not drafts:
            return []
        try:
            return self.store.append_messages(self.conversation_id, drafts)
        except NotFound:
            self._create()
        return self.store.append_messages(self.conversation_id, drafts)

    def pop(self) -> Message | None:
        """Remove and return the last message; ``None`` when there is none."""
        try:
            return self.store.pop_message(self.conversation_id)
        except NotFound:
            return None

    def clear(self) -> int:
        """Delete every message (the conversation stays); how many were deleted."""
        try:
            return self.store.clear_messages(self.conversation_id)
        except NotFound:
            return 0

    def _create(self) -> None:
        try:
            self.store.create_conversation(**self._new_fields())
        except Conflict:
            pass  # created by someone else meanwhile: the append that follows finds it

    def _new_fields(self) -> dict[str, Any]:
        return {
            "id": self.conversation_id,
            "mode": self.framework,
            "context": {"framework": self.framework, "session_id": self.session_id},
        }

    # ----------------------------------------------------------------- async

    async def aread(self, limit: int | None = None) -> list[Message]:
        """:meth:`read`, awaitable (one worker thread per read)."""
        if limit is not None and _check_limit(limit) == 0:
            return []
        try:
            if limit is None or limit > _MAX_TAIL:
                found = await self._astore.get_messages(self.conversation_id)
                return found if limit is None else found[-limit:]
            return await self._astore.tail_messages(self.conversation_id, limit)
        except NotFound:
            return []

    async def aappend(self, drafts: Sequence[MessageDraft]) -> list[Message]:
        """:meth:`append`, awaitable (the append joins the group commit from the loop)."""
        if not drafts:
            return []
        try:
            return await self._astore.append_messages(self.conversation_id, drafts)
        except NotFound:
            try:
                await self._astore.create_conversation(**self._new_fields())
            except Conflict:
                pass  # created by someone else meanwhile, as in _create
        return await self._astore.append_messages(self.conversation_id, drafts)

    async def apop(self) -> Message | None:
        """:meth:`pop`, awaitable."""
        try:
            return await self._astore.pop_message(self.conversation_id)
        except NotFound:
            return None

    async def aclear(self) -> int:
        """:meth:`clear`, awaitable."""
        try:
            return await self._astore.clear_messages(self.conversation_id)
        except NotFound:
            return 0

    def __repr__(self) -> str:
        return (
            f"<SessionConversation {self.framework} session={self.session_id!r} "
            f"conversation={self.conversation_id} owner={self.owner!r}>"
        )


def _check_limit(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise InvalidInput(f"limit must be a whole number of 0 or more, got {limit!r}")
    return limit


@dataclass(frozen=True, slots=True)
class ToolCallRow:
    """A tool row the runtime wrote: its call id, and for a call its name and arguments."""

    call_id: str
    name: str
    arguments: Any


def runtime_tool_call(message: Message) -> ToolCallRow | None:
    """The call a ``tool_call``/``tool_result`` row written by the runtime stands for.

    ``None`` for any other row, and for a tool row without a call id (an import's),
    which cannot be paired with its call or result.
    """
    if message.kind not in ("tool_call", "tool_result") or not isinstance(message.metadata, dict):
        return None
    call_id = message.metadata.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        return None
    if message.kind == "tool_result":
        return ToolCallRow(call_id, "", None)
    try:
        body = json.loads(message.content)
    except ValueError:
        body = None
    name = message.metadata.get("name")
    arguments: Any = None
    if isinstance(body, dict):
        name = body.get("name", name)
        arguments = body.get("arguments")
    if not isinstance(name, str) or not name:
        return None
    return ToolCallRow(call_id, name, arguments)


def labelled_text(message: Message) -> tuple[str, str]:
    """A role (``user``, ``assistant`` or ``system``) and a text a model can read, for a
    row with no framework object: dialogue text as it is; tool rows, artifacts and
    errors prefixed with their kind (``[tool result] …``), from the assistant."""
    label = _LABELS.get(message.kind) or ("tool result" if message.role == "tool" else None)
    role = message.role if message.role in ("user", "assistant", "system") else "assistant"
    if label is None:
        return role, message.content
    return role, f"[{label}] {message.content}".rstrip()
