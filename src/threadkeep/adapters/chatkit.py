"""OpenAI ChatKit's ``Store`` kept in threadkeep (SPEC S11.3).

:class:`ThreadkeepStore` is the ``chatkit.store.Store`` a ``ChatKitServer`` is built
with; every ChatKit thread becomes a threadkeep conversation (mode ``"chatkit"``) and
every thread item a message, so the CLI, the web UI, search and export see ChatKit's
conversations like any other::

    store = ThreadkeepStore(open_store("postgresql+psycopg://app@db/chat"))
    server = MyChatKitServer(store)
    result = await server.process(body, {"user_id": current_user.id})

**Owners.** ChatKit hands every store method the request's ``context``; the store asks
``owner_of(context)`` whose data the request may touch, and every read and write is
scoped to that owner (another owner's thread is "not found"). The default reads
``context["user_id"]`` (or ``context.user_id``); a context of ``None`` means a
single-user app and uses the store's own owner. A context that carries no user id is an
error, never a fall back to some shared owner: a server that forgot to say who is asking
must not read everybody's threads.

**Threads.** ChatKit's thread id (``thr_…``) names its conversation through
:func:`~threadkeep.adapters.sessions.conversation_id_for` — a UUIDv5 of owner and id, so
nothing is looked up and two owners never share a conversation; a thread id that is a
UUID is the conversation's own id, so ChatKit can also open a conversation made
elsewhere. The title is the conversation's title; the rest of the ``ThreadMetadata``
(the ChatKit id, ``created_at``, ``status``, ``metadata``, ...) is kept in the
conversation's context (``chatkit_items.py``). ChatKit's ``locked``/``closed`` status
stays there and is not threadkeep's archive: a closed thread is still listed, while a
conversation archived with threadkeep leaves :meth:`ThreadkeepStore.load_threads`.
Threads list most recently active first (``order="desc"``, ChatKit's default) or least
recently active first (``order="asc"``); the ``after`` cursor is threadkeep's keyset
cursor, passed through as it is, so one handed out for one order is refused
(``InvalidInput``) by the other.

**Items.** One message per item, its id the item's id, the item's JSON whole in the
metadata (``chatkit_items.py`` has the mapping). ``load_thread_items`` pages with
item-id cursors either way by the message seq, reading only the rows of the page; an
``after`` that names no item of the thread (one deleted since the page that named it
was read, say) is ``NotFoundError``, as in ChatKit's own stores: its position went with
it, and a guess could skip or repeat items.
``add_thread_item`` and ``save_item`` are both upserts — ``save_item`` is called again
and again on the same item while a reply streams, and ChatKit adds an item when it is
done that may have been saved already — ``save_item`` trying the update first (the
streaming case), ``add_thread_item`` the append. The ids this store generates are
``thr_``/``msg_``/... with a whole UUIDv7, not ChatKit's default 8 hex digits: an id
collision would make an upsert overwrite another item.

**Deleting an item** (ChatKit deletes the replies it retries, pending client tool calls,
and the items a reply removes) deletes its message by id. Deleting an item that is not
there is a no-op, as in ChatKit's own stores: a reply may remove an item it announced
but never saved, and a retry may race another. The thread not being there (or being
another owner's) is still ``NotFoundError``; deleting an attachment that is not there
is a no-op too.

**Attachments**' metadata (ChatKit keeps it in the ``Store``; the bytes go to the app's
``AttachmentStore``) are messages of one archived conversation per owner, mode
``"chatkit-attachments"``, the attachment id as message id. **Feedback** on items
(``items.feedback``) is kept by :meth:`ThreadkeepStore.add_feedback` in the thread's
context under ``"chatkit_feedback"`` (item id → ``positive``/``negative``), with a merge
patch, so it never races a save of the thread's items.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

try:
    with warnings.catch_warnings():
        # chatkit.widgets subclasses its own deprecated widget classes while it is
        # imported; the warning is meant for apps that build widgets by hand.
        warnings.filterwarnings(
            "ignore", message="Direct usage of named widget", category=DeprecationWarning
        )
        from chatkit.store import NotFoundError, Store, StoreItemType
        from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata
except ImportError as error:
    raise ImportError(
        "threadkeep.adapters.chatkit needs OpenAI ChatKit: pip install 'threadkeep[chatkit]'"
    ) from error

from threadkeep.adapters.chatkit_items import (
    FEEDBACK_KEY,
    THREAD_KEY,
    attachment_from_message,
    attachment_message,
    item_from_message,
    item_message,
    thread_from_conversation,
    thread_patch,
    thread_state,
)
from threadkeep.adapters.sessions import adapter_store, conversation_id_for
from threadkeep.aio import AsyncConversationStore
from threadkeep.errors import Conflict, InvalidInput, NotFound
from threadkeep.ids import new_id
from threadkeep.inputs import check_owner
from threadkeep.store import ConversationStore

__all__ = ["MODE", "ChatKitNotFound", "ThreadkeepStore"]

#: The mode of the conversations ChatKit threads are kept in (and the mode listed).
MODE: Final = "chatkit"
_ATTACHMENTS_MODE: Final = "chatkit-attachments"
# Names the owner's attachments conversation; thread ids are printable, so no thread
# id can name it.
_ATTACHMENTS_NAME: Final = "\x00chatkit attachments"
_FEEDBACK_KINDS: Final = frozenset({"positive", "negative"})
_PREFIXES: Final[dict[str, str]] = {
    "thread": "thr",
    "message": "msg",
    "tool_call": "tc",
    "workflow": "wf",
    "task": "tsk",
    "attachment": "atc",
    "sdk_hidden_context": "shcx",
}


class ChatKitNotFound(NotFound, NotFoundError):
    """A thread, item or attachment that does not exist for this owner: both
    threadkeep's ``NotFound`` and ChatKit's ``NotFoundError``, so either catches it."""


def _user_id(context: Any) -> str | None:
    """``context["user_id"]`` or ``context.user_id``; ``None`` when it has none."""
    if isinstance(context, Mapping):
        user = context.get("user_id")
    else:
        user = getattr(context, "user_id", None)
    if isinstance(user, int) and not isinstance(user, bool):
        return str(user)  # a database's numeric user id names the same user as text
    return user if user is None else check_owner(user)


@contextlib.contextmanager
def _found(what: str) -> Iterator[None]:
    """Turn threadkeep's ``NotFound`` into :class:`ChatKitNotFound` naming ``what``."""
    try:
        yield
    except ChatKitNotFound:
        raise
    except NotFound:
        raise ChatKitNotFound(f"{what} not found") from None


class ThreadkeepStore(Store[Any]):
    """ChatKit's ``Store`` on a threadkeep store (SPEC S11.3; design in the module doc).

    ``store``: a sync or async threadkeep store, or ``None`` for the embedded default
    (``THREADKEEP_*`` settings), which this object then owns: :meth:`close` closes it.
    ``owner``: the store's owner, which a request with context ``None`` uses (default:
    the given store's owner). ``owner_of``: ``context -> owner``, asked for every request
    instead (default: the context's ``user_id``; see "Owners" in the module doc).
    """

    def __init__(
        self,
        store: ConversationStore | AsyncConversationStore | None = None,
        *,
        owner: str | None = None,
        owner_of: Callable[[Any], str] | None = None,
    ) -> None:
        sync = store.sync if isinstance(store, AsyncConversationStore) else store
        self._store, self._owns_store = adapter_store(sync, owner)
        self._async = AsyncConversationStore(self._store)
        self._owner_of = owner_of

    @property
    def store(self) -> ConversationStore:
        """The threadkeep store underneath (scoped to the default owner)."""
        return self._store

    def close(self) -> None:
        """Close the store if this object opened it (``store=None``)."""
        if self._owns_store:
            self._store.close()

    # ------------------------------------------------------------------ owners and ids

    def owner_for(self, context: Any) -> str:
        """The owner a request with this ChatKit ``context`` reads and writes as."""
        if self._owner_of is not None:
            return check_owner(self._owner_of(context))
        if context is None:
            return self._store.owner
        user = _user_id(context)
        if user is None:
            raise InvalidInput(
                "the ChatKit request context has no user_id, so threadkeep cannot tell "
                "whose threads to use: put it in the context ({'user_id': ...}), give "
                "ThreadkeepStore an owner_of function, or pass context=None in a "
                "single-user app"
            )
        return user

    def conversation_id(self, thread_id: str, context: Any) -> str:
        """The id of the conversation that keeps this thread for the request's owner."""
        return self._thread_cid(thread_id, self.owner_for(context))

    def generate_thread_id(self, context: Any) -> str:
        return f"thr_{_hex_id()}"

    def generate_item_id(
        self, item_type: StoreItemType, thread: ThreadMetadata, context: Any
    ) -> str:
        return f"{_PREFIXES.get(item_type, item_type)}_{_hex_id()}"

    def _scoped(self, context: Any) -> AsyncConversationStore:
        owner = self.owner_for(context)
        return self._async if owner == self._store.owner else self._async.as_owner(owner)

    @staticmethod
    def _thread_cid(thread_id: str, owner: str) -> str:
        if not isinstance(thread_id, str) or not thread_id.isprintable():
            raise InvalidInput(f"a ChatKit thread id must be printable text, got {thread_id!r:.80}")
        return conversation_id_for(thread_id, owner)

    # ------------------------------------------------------------------ threads

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        store = self._scoped(context)
        with _found(f"thread {thread_id!r}"):
            conversation = await store.get_conversation(self._thread_cid(thread_id, store.owner))
        return thread_from_conversation(conversation, thread_id)

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        store = self._scoped(context)
        cid = self._thread_cid(thread.id, store.owner)
        state = thread_state(thread)
        try:
            current = await store.get_conversation(cid)
        except NotFound:
            try:
                await store.create_conversation(
                    id=cid, title=thread.title, mode=MODE, context={THREAD_KEY: state}
                )
                return
            except Conflict:  # created meanwhile by a concurrent save
                with _found(f"thread {thread.id!r}"):
                    current = await store.get_conversation(cid)
        stored = current.context.get(THREAD_KEY)
        changes: dict[str, Any] = {}
        if thread.title != current.title:
            changes["title"] = thread.title
        if stored != state:
            changes["context_merge"] = thread_patch(stored, state)
        if changes:
            await store.update_conversation(cid, **changes)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: Any
    ) -> Page[ThreadMetadata]:
        page = await self._scoped(context).list_conversations(
            mode=MODE, limit=limit, cursor=after, oldest_first=_ascending(order)
        )
        return Page(
            data=[thread_from_conversation(c, c.id) for c in page.items],
            has_more=page.next_cursor is not None,
            after=page.next_cursor,
        )

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        store = self._scoped(context)
        with _found(f"thread {thread_id!r}"):
            await store.delete_conversation(self._thread_cid(thread_id, store.owner))

    async def add_feedback(
        self, thread_id: str, item_ids: list[str], feedback: str, context: Any
    ) -> None:
        """Record ``feedback`` (``positive``/``negative``) on items of the thread.

        Not part of ChatKit's ``Store``: call it from ``ChatKitServer.add_feedback``.
        """
        if not isinstance(feedback, str) or feedback not in _FEEDBACK_KINDS:
            raise InvalidInput(f"feedback must be 'positive' or 'negative', got {feedback!r:.40}")
        if not all(isinstance(item_id, str) and item_id for item_id in item_ids):
            raise InvalidInput("item_ids must be ChatKit item ids (non-empty strings)")
        store = self._scoped(context)
        patch = {FEEDBACK_KEY: dict.fromkeys(item_ids, feedback)}
        with _found(f"thread {thread_id!r}"):
            await store.update_conversation(
                self._thread_cid(thread_id, store.owner), context_merge=patch
            )

    # ------------------------------------------------------------------ items

    async def load_thread_items(
        self,
        thread_id: str,
        after: str | None,
        limit: int,
        order: str,
        context: Any,
    ) -> Page[ThreadItem]:
        descending = not _ascending(order)
        store = self._scoped(context)
        cid = self._thread_cid(thread_id, store.owner)
        bound = None
        if after is not None:
            try:
                bound = (await store.get_message(cid, after)).seq
            except NotFound:
                with _found(f"thread {thread_id!r}"):
                    await store.get_conversation(cid)
                raise ChatKitNotFound(
                    f"item {after!r} (the page cursor) not found in thread {thread_id!r}: it "
                    "was deleted after the page that ended with it was read, or was never "
                    "there; list the thread's items again from the start (after=None)"
                ) from None
        # One row more than the page tells whether there is more.
        with _found(f"thread {thread_id!r}"):
            messages = await store.get_messages(
                cid,
                after_seq=None if descending else bound,
                before_seq=bound if descending else None,
                limit=limit + 1,
                descending=descending,
            )
        data = [item_from_message(message, thread_id) for message in messages[:limit]]
        has_more = len(messages) > limit
        return Page(data=data, has_more=has_more, after=data[-1].id if has_more else None)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        await self._upsert_item(thread_id, item, context, update_first=False)

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        await self._upsert_item(thread_id, item, context, update_first=True)

    async def _upsert_item(
        self, thread_id: str, item: ThreadItem, context: Any, *, update_first: bool
    ) -> None:
        store = self._scoped(context)
        cid = self._thread_cid(thread_id, store.owner)
        role, kind, content, metadata = item_message(item)
        with _found(f"thread {thread_id!r}"):
            await _upsert(store, cid, item.id, role, kind, content, metadata, update_first)

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        store = self._scoped(context)
        with _found(f"item {item_id!r} in thread {thread_id!r}"):
            message = await store.get_message(self._thread_cid(thread_id, store.owner), item_id)
        return item_from_message(message, thread_id)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        """Delete the item; one that is not there is a no-op, but the thread must be
        (see "Deleting an item" in the module doc)."""
        store = self._scoped(context)
        cid = self._thread_cid(thread_id, store.owner)
        try:
            await store.delete_message(cid, item_id)
        except NotFound:
            # The item or the thread is missing; only the thread is an error.
            with _found(f"thread {thread_id!r}"):
                await store.get_conversation(cid)

    # ------------------------------------------------------------------ attachments

    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        store = self._scoped(context)
        cid = await _attachments_conversation(store)
        content, metadata = attachment_message(attachment)
        await _upsert(store, cid, attachment.id, "user", "system_artifact", content, metadata, True)

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        store = self._scoped(context)
        what = f"attachment {attachment_id!r}"
        with _found(what):
            message = await store.get_message(_attachments_cid(store.owner), attachment_id)
        attachment = attachment_from_message(message)
        if attachment is None:
            raise ChatKitNotFound(f"{what} not found (its message holds no attachment)")
        return attachment

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        """Delete the attachment's metadata; one that is not there (nor the owner's
        attachments conversation, before the first save) is a no-op."""
        store = self._scoped(context)
        with contextlib.suppress(NotFound):
            await store.delete_message(_attachments_cid(store.owner), attachment_id)


def _hex_id() -> str:
    return new_id().replace("-", "")


def _ascending(order: str) -> bool:
    """ChatKit's ``order`` (``"asc"``/``"desc"``) as oldest first or not."""
    if order not in ("asc", "desc"):
        raise InvalidInput(f"order must be 'asc' or 'desc', got {order!r:.40}")
    return order == "asc"


async def _upsert(
    store: AsyncConversationStore,
    cid: str,
    message_id: str,
    role: str,
    kind: str,
    content: str,
    metadata: dict[str, Any],
    update_first: bool,
) -> None:
    """Update the message ``message_id`` if it exists, else append it.

    Each step is one transaction; a racing writer that appends the same id first makes
    the append a ``Conflict``, and then the update wins.
    """
    if update_first:
        try:
            await store.update_message(cid, message_id, content=content, metadata=metadata)
            return
        except NotFound:
            pass  # not stored yet (or no such conversation, which the append reports)
    try:
        await store.append_message(cid, role, content, kind=kind, metadata=metadata, id=message_id)
    except Conflict:
        await store.update_message(cid, message_id, content=content, metadata=metadata)


def _attachments_cid(owner: str) -> str:
    return conversation_id_for(_ATTACHMENTS_NAME, owner)


async def _attachments_conversation(store: AsyncConversationStore) -> str:
    """The owner's attachments conversation, made (and archived, out of the sidebar) on
    first use."""
    cid = _attachments_cid(store.owner)
    try:
        await store.get_conversation(cid)
    except NotFound:
        try:
            await store.create_conversation(
                id=cid, title="ChatKit attachments", mode=_ATTACHMENTS_MODE
            )
        except Conflict:
            return cid  # made meanwhile by a concurrent save
        await store.archive_conversation(cid)
    return cid
