"""How ChatKit's threads and thread items are kept as conversations and messages.

The other half of :mod:`threadkeep.adapters.chatkit` (which owns the ``Store`` and its
paging): pure conversions, no I/O.

* **A thread item is one message**, whose id is the item's id (``msg_…``). Its role,
  kind and readable text are real columns, so search, export, previews and the CLI see
  a normal conversation; the item's own JSON (ChatKit's wire form) is kept whole in the
  message's metadata under :data:`ITEM_KEY`, and an item is always rebuilt from that
  JSON, never from the columns — what was saved is what is loaded.

  =====================  ==========  ===============  ===================================
  item type              role        kind             content
  =====================  ==========  ===============  ===================================
  user_message           user        text             the text, tags as ``@name``
  assistant_message      assistant   text             the text parts, blank-line joined
  client_tool_call       assistant   tool_call        ``name({args}) → output``
  hidden context (both)  system      system_artifact  the hidden text (JSON if not text)
  widget                 assistant   system_artifact  ``copy_text`` or the widget's text
  workflow, task         assistant   system_artifact  titles and contents of the tasks
  structured_input       assistant   system_artifact  questions and their answers
  anything else          assistant   system_artifact  ``[type]``
  =====================  ==========  ===============  ===================================

* **A message another surface wrote** (the CLI, the runtime, an import) has no item
  JSON: a user or assistant text message reads as a user or assistant message, any
  other message as hidden context (the model sees it, the client does not) holding its
  text labelled by kind (``[tool result] …``), as every adapter labels such rows.
* **A thread's state** other than its title (which is the conversation's title) is
  its ``ThreadMetadata`` JSON in the conversation's context under :data:`THREAD_KEY`.
  It is written with a JSON merge patch (RFC 7396) computed to turn the stored state
  into the new one, so a save never touches the rest of the context (feedback,
  another surface's keys) — which also means a ``null`` inside the thread's
  ``metadata`` reads back as an absent key.
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Final

from threadkeep.adapters.session_conversation import labelled_text
from threadkeep.errors import InvalidInput
from threadkeep.models import Conversation, Message

try:
    with warnings.catch_warnings():
        # chatkit.widgets subclasses its own deprecated widget classes while it is
        # imported; the warning is meant for apps that build widgets by hand.
        warnings.filterwarnings(
            "ignore", message="Direct usage of named widget", category=DeprecationWarning
        )
        from chatkit.types import (
            AssistantMessageContent,
            AssistantMessageItem,
            Attachment,
            ClientToolCallItem,
            CustomSummary,
            GeneratedImageItem,
            HiddenContextItem,
            InferenceOptions,
            SDKHiddenContextItem,
            StructuredInputItem,
            Task,
            TaskItem,
            ThreadItem,
            ThreadMetadata,
            UserMessageItem,
            UserMessageTextContent,
            WidgetItem,
            WorkflowItem,
        )
        from pydantic import TypeAdapter, ValidationError
except ImportError as error:
    raise ImportError(
        "threadkeep.adapters.chatkit needs OpenAI ChatKit: pip install 'threadkeep[chatkit]'"
    ) from error

__all__ = [
    "FEEDBACK_KEY",
    "ITEM_KEY",
    "THREAD_KEY",
    "attachment_from_message",
    "attachment_message",
    "item_from_message",
    "item_message",
    "thread_from_conversation",
    "thread_patch",
    "thread_state",
]

#: Message metadata key holding a thread item's JSON.
ITEM_KEY: Final = "chatkit_item"
#: Message metadata key holding an attachment's JSON.
ATTACHMENT_KEY: Final = "chatkit_attachment"
#: Conversation context key holding a thread's state (its ThreadMetadata but the title).
THREAD_KEY: Final = "chatkit_thread"
#: Conversation context key holding feedback: item id -> "positive" | "negative".
FEEDBACK_KEY: Final = "chatkit_feedback"

_items: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)
_attachments: TypeAdapter[Attachment] = TypeAdapter(Attachment)
_THREAD_FIELDS: Final = frozenset(ThreadMetadata.model_fields) - {"title"}
# Widget components whose "value" is text a person reads.
_TEXT_COMPONENTS: Final = frozenset({"Text", "Markdown", "Title", "Caption", "Label"})


# ------------------------------------------------------------------ thread items


def item_message(item: ThreadItem) -> tuple[str, str, str, dict[str, Any]]:
    """The message that keeps ``item``: ``(role, kind, content, metadata)``."""
    role, kind, content = _columns(item)
    raw = _items.dump_python(item, mode="json", by_alias=True)
    return role, kind, content, {ITEM_KEY: raw}


def item_from_message(message: Message, thread_id: str) -> ThreadItem:
    """The item ``message`` keeps (an item made from its columns when it was written
    without ChatKit)."""
    metadata = message.metadata
    if isinstance(metadata, dict):
        raw = metadata.get(ITEM_KEY)
        if raw is not None:
            item: ThreadItem = _validated(_items, raw, message, widget=raw.get("type") == "widget")
            return item
    return _foreign_item(message, thread_id)


def _validated(adapter: TypeAdapter[Any], raw: Any, message: Message, *, widget: bool) -> Any:
    """``raw`` validated; a stored value this openai-chatkit cannot read is an error that
    says so (a newer version wrote it, or the JSON was edited)."""
    try:
        if not widget:
            return adapter.validate_python(raw)
        with warnings.catch_warnings():
            # Rebuilding a stored widget constructs ChatKit's deprecated widget classes;
            # only widgets, since catching warnings swaps the process-wide filters.
            warnings.filterwarnings(
                "ignore", message="Direct usage of named widget", category=DeprecationWarning
            )
            return adapter.validate_python(raw)
    except ValidationError as error:
        raise InvalidInput(
            f"message {message.id} of conversation {message.conversation_id} holds ChatKit "
            f"data the installed openai-chatkit cannot read ({error.error_count()} errors, "
            f"first: {error.errors()[0]['msg']}); upgrade openai-chatkit"
        ) from None


def _foreign_item(message: Message, thread_id: str) -> ThreadItem:
    """An item for a message written without ChatKit (CLI, runtime, import)."""
    common: dict[str, Any] = {
        "id": message.id,
        "thread_id": thread_id,
        "created_at": message.created_at,
    }
    if message.kind == "text" and message.role == "user":
        return UserMessageItem(
            **common,
            content=[UserMessageTextContent(text=message.content)],
            inference_options=InferenceOptions(),
        )
    if message.kind == "text" and message.role == "assistant":
        return AssistantMessageItem(
            **common, content=[AssistantMessageContent(text=message.content)]
        )
    # Tool rows, artifacts, errors, system text: context for the model, labelled by
    # kind as every adapter labels them, not bubbles in the user's chat.
    return HiddenContextItem(**common, content=labelled_text(message)[1])


def _columns(item: ThreadItem) -> tuple[str, str, str]:
    """Role, kind and readable text of an item (see the table in the module docstring)."""
    match item:
        case UserMessageItem():
            text = "".join(
                part.text if isinstance(part, UserMessageTextContent) else f"@{part.text}"
                for part in item.content
            )
            return "user", "text", text
        case AssistantMessageItem():
            return "assistant", "text", "\n\n".join(part.text for part in item.content)
        case ClientToolCallItem():
            call = f"{item.name}({_json(item.arguments)})"
            if item.status == "completed":
                call += f" → {_json(item.output)}"
            return "assistant", "tool_call", call
        case HiddenContextItem() | SDKHiddenContextItem():
            hidden = item.content
            return "system", "system_artifact", hidden if isinstance(hidden, str) else _json(hidden)
        case WidgetItem():
            text = item.copy_text or _widget_text(
                item.widget.model_dump(mode="json", by_alias=True)
            )
            return "assistant", "system_artifact", text or "[widget]"
        case WorkflowItem():
            summary = item.workflow.summary
            lines = [summary.title] if isinstance(summary, CustomSummary) else []
            lines += [_task_text(task) for task in item.workflow.tasks]
            return "assistant", "system_artifact", "\n".join(lines) or "[workflow]"
        case TaskItem():
            return "assistant", "system_artifact", _task_text(item.task)
        case StructuredInputItem():
            lines = []
            for question in item.inputs:
                answer = question.answer
                values = ", ".join(answer.values) if answer and not answer.skipped else ""
                lines.append(f"{question.question} {values}".rstrip())
            return "assistant", "system_artifact", "\n".join(lines)
        case GeneratedImageItem():
            return "assistant", "system_artifact", "[generated image]"
        case _:
            return "assistant", "system_artifact", f"[{item.type}]"


def _task_text(task: Task) -> str:
    parts = [getattr(task, name, None) for name in ("title", "content")]
    text = " — ".join(part for part in parts if isinstance(part, str) and part)
    return text or f"[{task.type} task]"


def _widget_text(node: Any) -> str:
    """The text components' values of a widget's JSON, in document order."""
    found: list[str] = []
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if value.get("type") in _TEXT_COMPONENTS and isinstance(value.get("value"), str):
                found.append(value["value"])
            stack.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend(reversed(value))
    return "\n".join(found)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


# ------------------------------------------------------------------ attachments


def attachment_message(attachment: Attachment) -> tuple[str, dict[str, Any]]:
    """The content and metadata of the message that keeps ``attachment``."""
    raw = _attachments.dump_python(attachment, mode="json", by_alias=True)
    return attachment.name, {ATTACHMENT_KEY: raw}


def attachment_from_message(message: Message) -> Attachment | None:
    """The attachment ``message`` keeps (``None`` when it holds none: a message another
    surface wrote into the attachments conversation)."""
    metadata = message.metadata
    if not isinstance(metadata, dict) or ATTACHMENT_KEY not in metadata:
        return None
    result: Attachment = _validated(_attachments, metadata[ATTACHMENT_KEY], message, widget=False)
    return result


# ------------------------------------------------------------------ threads


def thread_state(thread: ThreadMetadata) -> dict[str, Any]:
    """What a conversation's context keeps of a thread: its ThreadMetadata but the title
    (a ``Thread`` also carries items, never kept here), nulls left out (see
    :func:`thread_patch`)."""
    raw = thread.model_dump(mode="json", include=set(_THREAD_FIELDS))
    state: dict[str, Any] = _without_nulls(raw)
    return state


def thread_patch(stored: Any, state: dict[str, Any]) -> dict[str, Any]:
    """The context merge patch that replaces the stored thread state by ``state``."""
    return {THREAD_KEY: _replacing(stored, state)}


def thread_from_conversation(conversation: Conversation, thread_id: str) -> ThreadMetadata:
    """The ChatKit thread a conversation holds; a conversation made elsewhere (no thread
    state) is a thread named ``thread_id`` with the conversation's title and birth."""
    state = conversation.context.get(THREAD_KEY)
    if isinstance(state, dict):
        try:
            return ThreadMetadata.model_validate({**state, "title": conversation.title})
        except ValidationError as error:
            raise InvalidInput(
                f"conversation {conversation.id} holds a ChatKit thread the installed "
                f"openai-chatkit cannot read ({error.errors()[0]['msg']}); upgrade openai-chatkit"
            ) from None
    return ThreadMetadata(
        id=thread_id, title=conversation.title, created_at=conversation.created_at
    )


def _without_nulls(value: Any) -> Any:
    # A merge patch cannot hold a null value (null deletes); lists are replaced whole,
    # so nulls inside them survive and are left alone.
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    return value


def _replacing(old: Any, new: Any) -> Any:
    """An RFC 7396 merge patch turning ``old`` into ``new`` (which holds no nulls)."""
    if not isinstance(new, dict) or not isinstance(old, dict):
        return new
    patch: dict[str, Any] = dict.fromkeys((key for key in old if key not in new), None)
    for key, value in new.items():
        patch[key] = _replacing(old.get(key), value)
    return patch
