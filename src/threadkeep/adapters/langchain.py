"""threadkeep as a LangChain chat message history (SPEC S11.2).

:class:`ThreadkeepChatMessageHistory` is a langchain-core ``BaseChatMessageHistory``:
give it to ``RunnableWithMessageHistory`` (or call it yourself) and each session's
messages live in a threadkeep conversation::

    store = threadkeep.open_store()
    chain = RunnableWithMessageHistory(
        model, lambda session_id: ThreadkeepChatMessageHistory(session_id, store)
    )
    chain.invoke("Hello", config={"configurable": {"session_id": "user_123"}})

Pass the store in when a factory makes a history per call, as above: with ``store=None``
each history opens (and its :meth:`~ThreadkeepChatMessageHistory.close` closes) the
embedded default store of its own.

**Which conversation.** The session string maps to one conversation per owner
(:mod:`threadkeep.adapters.sessions`), created on the first write; a session never
written reads as no messages. ``messages`` is the whole conversation, oldest first;
``add_messages`` is one transaction for the batch; ``clear`` deletes the messages and
keeps the conversation. ``aget_messages``, ``aadd_messages`` and ``aclear`` never block
the event loop (the append joins the group commit from the loop, the rest run in a
worker thread).

**Messages.** Each ``BaseMessage`` is one threadkeep message holding
``message_to_dict(message)`` in ``metadata["message"]`` — content, id, name,
``additional_kwargs``, ``response_metadata``, tool calls and usage all come back as they
went in (the key the ``langchain-sql`` import uses, so an imported
``SQLChatMessageHistory`` reads back here too). The columns say what it is:

* ``HumanMessage`` → ``user``, ``AIMessage`` → ``assistant``, ``SystemMessage`` →
  ``system``, ``ChatMessage`` by its role (one threadkeep does not know → ``user``),
  each ``text`` with the text parts of its content joined;
* an ``AIMessage`` with tool calls and no text → a ``tool_call`` whose content is JSON
  ``{"name", "arguments"}`` (a list of them for several calls);
* ``ToolMessage`` and ``FunctionMessage`` → ``tool``, ``tool_result``.

Back, a message is its stored dict. Rows other surfaces wrote have none: the runtime's
tool rows become the ``AIMessage`` tool call and ``ToolMessage`` they stand for (by call
id), any other row a message of its role with the text ``labelled_text`` gives it. The
``langchain-sql`` import stores each tool call of an AI message a second time as a row
of its own (``metadata["tool_call"]`` without a message): those rows are read as part
of the AI message they follow, not again. A stored dict that langchain-core can no
longer read (a damaged value) is logged and read as its row's text, so one bad row
never hides the rest of the history.

langchain-core is imported here only; without it, importing this module raises
``ImportError`` naming ``pip install 'threadkeep[langchain]'``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

try:
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        ChatMessage,
        FunctionMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
        message_to_dict,
        messages_from_dict,
    )
except ImportError as missing:
    raise ImportError(
        "threadkeep.adapters.langchain needs langchain-core, which is not installed: "
        "pip install 'threadkeep[langchain]'"
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
from threadkeep.transfer.formats.langchain_sql import CHAT_ROLES, content_text

__all__ = ["INSTALL_HINT", "ThreadkeepChatMessageHistory", "history_message", "message_draft"]

INSTALL_HINT = "pip install 'threadkeep[langchain]'"
FRAMEWORK = "langchain"

log = logging.getLogger(__name__)

_BY_ROLE: dict[str, type[BaseMessage]] = {
    "user": HumanMessage,
    "assistant": AIMessage,
    "system": SystemMessage,
}


class ThreadkeepChatMessageHistory(SessionHolder, BaseChatMessageHistory):
    """A LangChain chat history kept in a threadkeep conversation (see the module
    docstring).

    ``store``: the store to use (``None`` opens the embedded default, closed by
    :meth:`close`). ``owner``: whose conversation (default: the store's owner).
    """

    def __init__(
        self,
        session_id: str,
        store: ConversationStore | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        self._conversation = SessionConversation(session_id, store, owner, framework=FRAMEWORK)
        self.session_id = session_id

    @property
    def conversation_id(self) -> str:
        return self._conversation.conversation_id

    @property
    def store(self) -> ConversationStore:
        return self._conversation.store

    # The base class declares ``messages`` as an attribute and documents a property as
    # the way to provide it; mypy cannot tell the two apart.
    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """Every message of the session, oldest first."""
        return _history(self._conversation.read())

    async def aget_messages(self) -> list[BaseMessage]:
        """:attr:`messages`, read in a worker thread."""
        return _history(await self._conversation.aread())

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append ``messages`` in order, all in one transaction."""
        self._conversation.append([message_draft(message) for message in messages])

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """:meth:`add_messages`, awaitable."""
        await self._conversation.aappend([message_draft(message) for message in messages])

    def clear(self) -> None:
        """Delete every message of the session (the conversation itself stays)."""
        self._conversation.clear()

    async def aclear(self) -> None:
        """:meth:`clear`, awaitable."""
        await self._conversation.aclear()

    def __repr__(self) -> str:
        return f"<ThreadkeepChatMessageHistory {self.session_id!r} {self._conversation!r}>"


def message_draft(message: BaseMessage) -> MessageDraft:
    """The threadkeep message that stores one LangChain message."""
    if not isinstance(message, BaseMessage):
        raise InvalidInput(
            f"a chat history holds LangChain messages (BaseMessage), got {type(message).__name__}"
        )
    metadata = {"message": message_to_dict(message)}
    text = content_text(message.content) or ""
    if isinstance(message, ToolMessage | FunctionMessage):
        return MessageDraft(role="tool", content=text, kind="tool_result", metadata=metadata)
    if isinstance(message, AIMessage):
        if message.tool_calls and not text:
            bodies = [
                {"name": call["name"], "arguments": call["args"]} for call in message.tool_calls
            ]
            shown: Any = bodies[0] if len(bodies) == 1 else bodies
            content = json.dumps(shown, ensure_ascii=False, default=str)
            return MessageDraft(
                role="assistant", content=content, kind="tool_call", metadata=metadata
            )
        return MessageDraft(role="assistant", content=text, metadata=metadata)
    if isinstance(message, HumanMessage):
        role = "user"
    elif isinstance(message, SystemMessage):
        role = "system"
    elif isinstance(message, ChatMessage):
        role = CHAT_ROLES.get(message.role, "user")
    else:
        raise InvalidInput(
            f"a {type(message).__name__} is not a chat message and cannot be stored; "
            "store Human, AI, System, Tool, Function or Chat messages"
        )
    kind = "tool_result" if role == "tool" else "text"
    return MessageDraft(role=role, content=text, kind=kind, metadata=metadata)


def history_message(message: Message) -> BaseMessage | None:
    """The LangChain message a stored message stands for; ``None`` for an imported tool
    call's own row, which its AI message already carries (see the module docstring)."""
    metadata = message.metadata
    if isinstance(metadata, dict):
        stored = metadata.get("message")
        if isinstance(stored, dict):
            try:
                return messages_from_dict([stored])[0]
            except (KeyError, TypeError, ValueError) as error:
                log.warning(
                    "conversation %s seq %d: the stored LangChain message cannot be read "
                    "(%s: %s); reading the row's text instead",
                    message.conversation_id,
                    message.seq,
                    type(error).__name__,
                    error,
                )
        elif "tool_call" in metadata:
            return None
    call = runtime_tool_call(message)
    if call is not None and message.kind == "tool_call":
        args = call.arguments
        return AIMessage(
            content="",
            tool_calls=[
                {
                    "name": call.name,
                    "args": args
                    if isinstance(args, dict)
                    else {}
                    if args is None
                    else {"input": args},
                    "id": call.call_id,
                }
            ],
        )
    if call is not None:
        return ToolMessage(content=message.content, tool_call_id=call.call_id)
    role, text = labelled_text(message)
    return _BY_ROLE[role](content=text)


def _history(messages: list[Message]) -> list[BaseMessage]:
    out = []
    for message in messages:
        restored = history_message(message)
        if restored is not None:
            out.append(restored)
    return out
