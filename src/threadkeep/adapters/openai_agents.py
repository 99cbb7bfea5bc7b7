"""threadkeep as an OpenAI Agents SDK session (SPEC S11.1).

:class:`ThreadkeepSession` implements the SDK's ``Session`` protocol
(``agents.memory.Session``): pass it to ``Runner.run(agent, text, session=...)`` and
the runner reads the history before the turn and appends the turn's items after it::

    store = threadkeep.open_store()
    session = ThreadkeepSession("user_123", store)
    await Runner.run(agent, "Hello", session=session)

**Which conversation.** The session string maps to one conversation per owner
(:mod:`threadkeep.adapters.sessions`), created on the first write; reading a session
never written is an empty history. A conversation's UUID as the session string uses
that conversation, wherever it was made.

**Per user.** The SDK passes the run's context wrapper to a session's methods when
all four accept a ``wrapper`` keyword, as these do. With ``owner_from_context`` set, it
is called with the run's context (``Runner.run(..., context=...)``) and its answer is
the owner for that call: one session object serves many users, each reaching their
own conversation (the owner is part of the mapping), never another's. Without it, or
when it answers ``None``, the session's own owner is used.

**The protocol.** ``get_items(limit)`` returns the latest ``limit`` items (all with
``None``, the default of ``session_settings.limit``) oldest first, reading only those
rows; ``add_items`` is one transaction for the whole batch; ``pop_item`` removes and
returns the most recent item (``None`` when there is none); ``clear_session`` deletes
the messages and keeps the conversation. All are coroutines that never block the event
loop (:class:`~threadkeep.adapters.session_conversation.SessionConversation`).

**Items as messages.** Each Responses API input item becomes one message. The item is
kept whole in ``metadata["item"]`` — what the SDK reads back is exactly what it wrote —
while role, kind and a readable content are real columns, so search, the web page,
exports and the runtime's prior context see the conversation. The mapping is the one
the ``agents-sqlite`` import uses (same metadata key, so an imported ``SQLiteSession``
reads back through this adapter):

* a message (``"type": "message"`` or no type): ``user``, ``assistant`` and ``system``
  keep their role, ``developer`` becomes ``system``; the text parts (``input_text``,
  ``output_text``, ``refusal``) joined are the content. An item ``status`` of
  ``in_progress``/``incomplete`` makes the message ``incomplete``.
* a call (``function_call``, ``custom_tool_call``, ``computer_call``, ``mcp_call``,
  ``web_search_call``, ... every ``*_call``): an ``assistant`` ``tool_call`` whose
  content is JSON ``{"name", "arguments"}``, as the runtime writes its own calls.
* an output (``function_call_output`` and every ``*_output``): a ``tool``
  ``tool_result`` whose content is the output's text (text parts joined, else JSON).
* ``reasoning``: an ``assistant`` ``system_artifact`` holding the readable summary.
* anything else (``compaction``, ``item_reference``, ``mcp_list_tools``, ...): a
  ``system`` ``system_artifact`` whose content is the item type in brackets.

A message another surface wrote (the CLI chat, the server, an import of another
format) has no item and is given one: the runtime's tool rows become the
``function_call``/``function_call_output`` pair they stand for (by call id), every
other row an easy-input message with the text ``labelled_text`` gives it. So a session
pointed at any conversation sees all of it, and ``pop_item`` returns what it removed.

Only JSON is stored (anything else is ``InvalidInput``). With ``redact_on_write`` on,
secrets in items are masked before they are stored, so those items read back masked.

The SDK is imported here only; without it, importing this module raises
``ImportError`` naming ``pip install 'threadkeep[openai-agents]'``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

try:
    from agents.memory.session_settings import SessionSettings, resolve_session_limit
except ImportError as missing:
    raise ImportError(
        "threadkeep.adapters.openai_agents needs the OpenAI Agents SDK (package "
        "'openai-agents'), which is not installed: pip install 'threadkeep[openai-agents]'"
    ) from missing

from threadkeep.adapters.session_conversation import (
    SessionConversation,
    SessionHolder,
    labelled_text,
    runtime_tool_call,
)
from threadkeep.errors import InvalidInput
from threadkeep.models import Message, MessageDraft
from threadkeep.store import ConversationStore
from threadkeep.transfer.formats.agents_sqlite import content_text, output_text
from threadkeep.transfer.formats.json_fields import decode_arguments

if TYPE_CHECKING:
    from agents.items import TResponseInputItem
    from agents.run_context import RunContextWrapper

__all__ = ["INSTALL_HINT", "ThreadkeepSession", "item_draft", "message_item"]

INSTALL_HINT = "pip install 'threadkeep[openai-agents]'"
FRAMEWORK = "openai-agents"

_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
# Text-bearing content parts and the key their text is under.
_INCOMPLETE = frozenset({"in_progress", "incomplete"})
# Where each kind of call keeps what it was asked to do; the first present wins.
_CALL_ARGUMENTS = ("arguments", "input", "action", "operation", "code", "queries")


class ThreadkeepSession(SessionHolder):
    """An Agents SDK ``Session`` kept in a threadkeep conversation (see the module
    docstring).

    ``store``: the store to use (``None`` opens the embedded default, closed by
    :meth:`close`). ``owner``: whose conversation (default: the store's owner).
    ``owner_from_context``: the owner for a run, from its context (per-user routing).
    ``session_settings``: the SDK's settings (``limit`` is the default of ``get_items``).
    """

    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        store: ConversationStore | None = None,
        *,
        owner: str | None = None,
        owner_from_context: Callable[[Any], str | None] | None = None,
        session_settings: SessionSettings | None = None,
    ) -> None:
        self._conversation = SessionConversation(session_id, store, owner, framework=FRAMEWORK)
        self.session_id = session_id
        self.session_settings = (
            session_settings if session_settings is not None else SessionSettings()
        )
        self._owner_from_context = owner_from_context

    @property
    def conversation_id(self) -> str:
        """The conversation of the session's own owner (a routed run may use another)."""
        return self._conversation.conversation_id

    @property
    def store(self) -> ConversationStore:
        return self._conversation.store

    def _route(self, wrapper: RunContextWrapper[Any] | None) -> SessionConversation:
        """The conversation for this call: the run's owner's, or the session's own."""
        if wrapper is None or self._owner_from_context is None:
            return self._conversation
        owner = self._owner_from_context(wrapper.context)
        if owner is None:
            return self._conversation
        return self._conversation.for_owner(owner)

    async def get_items(
        self, limit: int | None = None, *, wrapper: RunContextWrapper[Any] | None = None
    ) -> list[TResponseInputItem]:
        """The latest ``limit`` items (default ``session_settings.limit``; all when
        ``None``), oldest first."""
        limit = resolve_session_limit(limit, self.session_settings)
        messages = await self._route(wrapper).aread(limit)
        return [cast("TResponseInputItem", message_item(message)) for message in messages]

    async def add_items(
        self, items: list[TResponseInputItem], *, wrapper: RunContextWrapper[Any] | None = None
    ) -> None:
        """Append ``items`` in order, all in one transaction."""
        drafts = [item_draft(item) for item in items]
        await self._route(wrapper).aappend(drafts)

    async def pop_item(
        self, *, wrapper: RunContextWrapper[Any] | None = None
    ) -> TResponseInputItem | None:
        """Remove and return the most recent item; ``None`` when the session is empty."""
        popped = await self._route(wrapper).apop()
        return None if popped is None else cast("TResponseInputItem", message_item(popped))

    async def clear_session(self, *, wrapper: RunContextWrapper[Any] | None = None) -> None:
        """Delete every item of the session (the conversation itself stays)."""
        await self._route(wrapper).aclear()

    async def __aenter__(self) -> ThreadkeepSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        return f"<ThreadkeepSession {self.session_id!r} {self._conversation!r}>"


def item_draft(item: object) -> MessageDraft:
    """The message that stores one session item (see the module docstring)."""
    if not isinstance(item, Mapping):
        raise InvalidInput(
            f"a session item must be a JSON object (a dict), got {type(item).__name__}"
        )
    metadata = {"item": item if isinstance(item, dict) else dict(item)}
    item_type = item.get("type")
    status = "incomplete" if item.get("status") in _INCOMPLETE else "complete"
    if item_type is None or item_type == "message":
        role = item.get("role")
        if role not in _ROLES:
            known = ", ".join(sorted(_ROLES))
            raise InvalidInput(f"a message item's role must be one of {known}, got {role!r:.80}")
        return MessageDraft(
            role=_ROLES[role],
            content=content_text(item.get("content")) or "",
            status=status,
            metadata=metadata,
        )
    if not isinstance(item_type, str):
        raise InvalidInput(f"a session item's 'type' must be a string, got {item_type!r:.80}")
    if item_type.endswith("_output"):
        return MessageDraft(
            role="tool",
            content=output_text(item.get("output")),
            kind="tool_result",
            status=status,
            metadata=metadata,
        )
    if item_type.endswith("_call"):
        name = item.get("name")
        raw = next((item[key] for key in _CALL_ARGUMENTS if key in item), None)
        body = {
            "name": name if isinstance(name, str) else item_type.removesuffix("_call"),
            "arguments": decode_arguments(raw),
        }
        return MessageDraft(
            role="assistant",
            content=json.dumps(body, ensure_ascii=False, default=str),
            kind="tool_call",
            status=status,
            metadata=metadata,
        )
    if item_type == "reasoning":
        return MessageDraft(
            role="assistant",
            content=_reasoning(item),
            kind="system_artifact",
            status=status,
            metadata=metadata,
        )
    return MessageDraft(
        role="system", content=f"[{item_type}]", kind="system_artifact", metadata=metadata
    )


def message_item(message: Message) -> dict[str, Any]:
    """The session item a stored message stands for (see the module docstring)."""
    metadata = message.metadata
    if isinstance(metadata, dict) and isinstance(metadata.get("item"), dict):
        item: dict[str, Any] = metadata["item"]
        return item
    call = runtime_tool_call(message)
    if call is not None and message.kind == "tool_call":
        arguments = call.arguments
        return {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": arguments
            if isinstance(arguments, str)
            else json.dumps({} if arguments is None else arguments, ensure_ascii=False),
        }
    if call is not None:
        return {"type": "function_call_output", "call_id": call.call_id, "output": message.content}
    role, text = labelled_text(message)
    return {"role": role, "content": text}


def _reasoning(item: Mapping[str, Any]) -> str:
    """A reasoning item's readable text: its summary, else its reasoning text."""
    for key in ("summary", "content"):
        parts = item.get(key)
        texts = [
            part["text"]
            for part in (parts if isinstance(parts, list) else [])
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        if texts:
            return "\n\n".join(texts)
    return ""
