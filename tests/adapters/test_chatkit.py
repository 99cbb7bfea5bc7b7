"""The OpenAI ChatKit adapter (SPEC S11.3), end to end with the real ``openai-chatkit``.

A real ``ChatKitServer`` built on :class:`ThreadkeepStore` is driven through its public
``process()`` with ChatKit's request JSON, on SQLite and PostgreSQL. Guards against:
a streamed reply stored twice (``save_item`` then ``add_thread_item`` of the same item)
or not growing in place; items that do not come back exactly as saved; item-id
cursors that skip or repeat items either way, or that quietly take a deleted item's
place (its seq given to the next item); a deleted item that leaves a row behind, or a
removal of an item never saved that breaks the reply; threads that do not page
oldest first as well as newest first, or a cursor of one order read by the other; a
rename or a thread save that drops feedback; one user reading another's thread, or a
request without a user falling back to a shared owner; a thread lost to a fresh
process; and an import without the package that does not say what to install.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from threadkeep import InvalidInput, NotFound, open_store
from threadkeep.adapters.chatkit import ChatKitNotFound, ThreadkeepStore

# isort: split
# (threadkeep.adapters.chatkit has imported chatkit quietly: its widgets module warns
# while it is imported, which pytest's filterwarnings=error would turn into a failure.)
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.store import NotFoundError
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClosedStatus,
    FeedbackKind,
    FileAttachment,
    HiddenContextItem,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    UserMessageTextContent,
)
from pydantic import TypeAdapter

ALICE = {"user_id": "alice"}
BOB = {"user_id": "bob"}


class EchoServer(ChatKitServer[Any]):
    """Replies ``echo: <text>`` a word at a time, saving the growing reply with
    ``save_item`` as it streams and noting what threadkeep held after each save; titles
    a new thread and leaves a hidden context item on its first turn. A text starting
    with "think" first announces a placeholder item and removes it unsaved (ChatKit
    then deletes an item the store never had)."""

    def __init__(self, store: ThreadkeepStore) -> None:
        super().__init__(store)
        self.tk = store
        self.seen: list[tuple[int, str]] = []  # (message count, reply content) per save

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        assert input_user_message is not None
        text = "".join(
            part.text for part in input_user_message.content if part.type == "input_text"
        )
        if text.startswith("think"):
            placeholder = AssistantMessageItem(
                id=self.tk.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=dt.datetime.now(dt.UTC),
                content=[AssistantMessageContent(text="thinking…")],
            )
            yield ThreadItemAddedEvent(item=placeholder)
            yield ThreadItemRemovedEvent(item_id=placeholder.id)
        reply = AssistantMessageItem(
            id=self.tk.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=dt.datetime.now(dt.UTC),
            content=[AssistantMessageContent(text="")],
        )
        yield ThreadItemAddedEvent(item=reply)
        scoped = self.tk.store.as_owner(self.tk.owner_for(context))
        cid = self.tk.conversation_id(thread.id, context)
        for word in f"echo: {text}".split(" "):
            delta = word if not reply.content[0].text else f" {word}"
            reply.content[0].text += delta
            await self.tk.save_item(thread.id, reply, context)
            stored = scoped.get_message(cid, reply.id)
            self.seen.append((scoped.get_conversation(cid).message_count, stored.content))
            yield ThreadItemUpdatedEvent(
                item_id=reply.id,
                update=AssistantMessageContentPartTextDelta(content_index=0, delta=delta),
            )
        yield ThreadItemDoneEvent(item=reply)
        if thread.title is None:
            thread.title = f"Chat about {text}"
            yield ThreadItemDoneEvent(
                item=HiddenContextItem(
                    id=self.tk.generate_item_id("message", thread, context),
                    thread_id=thread.id,
                    created_at=dt.datetime.now(dt.UTC),
                    content={"first_turn": True},
                )
            )

    async def add_feedback(
        self, thread_id: str, item_ids: list[str], feedback: FeedbackKind, context: Any
    ) -> None:
        await self.tk.add_feedback(thread_id, item_ids, feedback, context)


def user_input(text: str) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    }


async def stream(server: EchoServer, request: dict[str, Any], context: Any) -> list[Any]:
    """The events of a streaming request, parsed from its server-sent events."""
    result = await server.process(json.dumps(request).encode(), context)
    assert isinstance(result, StreamingResult)
    events = []
    async for chunk in result:
        for line in chunk.decode().split("\n\n"):
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
    return events


async def call(server: EchoServer, request: dict[str, Any], context: Any) -> Any:
    result = await server.process(json.dumps(request).encode(), context)
    assert isinstance(result, NonStreamingResult)
    return json.loads(result.json)


async def list_all(server: EchoServer, thread_id: str, order: str, context: Any) -> list[str]:
    """Every item id ``items.list`` gives, two at a time, following ``after``."""
    ids: list[str] = []
    after = None
    for _ in range(20):
        params = {"thread_id": thread_id, "limit": 2, "order": order, "after": after}
        page = await call(server, {"type": "items.list", "params": params}, context)
        ids += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            return ids
        after = page["after"]
    raise AssertionError("items.list did not reach the end")


def wire(item: ThreadItem) -> Any:
    """An item as ChatKit sends it to the client."""
    return json.loads(item.model_dump_json(by_alias=True, exclude_none=True))


def test_a_chatkit_server_keeps_its_threads_in_threadkeep(db_url: str) -> None:
    async def main() -> None:
        with open_store(db_url) as tk:
            store = ThreadkeepStore(tk)
            server = EchoServer(store)
            create = {"type": "threads.create", "params": {"input": user_input("hello there")}}
            events = await stream(server, create, ALICE)

            assert events[0]["type"] == "thread.created"
            thread_id = events[0]["thread"]["id"]
            done = [e["item"] for e in events if e["type"] == "thread.item.done"]
            assert [d["type"] for d in done] == ["user_message", "assistant_message"]
            assert done[1]["content"][0]["text"] == "echo: hello there"
            assert events[-1]["type"] == "thread.updated"
            assert events[-1]["thread"]["title"] == "Chat about hello there"
            # The reply grew in place: one message, saved three times, then re-added.
            assert server.seen == [(2, "echo:"), (2, "echo: hello"), (2, "echo: hello there")]

            alices = tk.as_owner("alice")
            cid = store.conversation_id(thread_id, ALICE)
            conversation = alices.get_conversation(cid)
            assert (conversation.title, conversation.mode) == ("Chat about hello there", "chatkit")
            assert conversation.context["chatkit_thread"]["id"] == thread_id
            rows = [(m.id, m.role, m.kind, m.content) for m in alices.get_messages(cid)]
            assert rows[:2] == [
                (done[0]["id"], "user", "text", "hello there"),
                (done[1]["id"], "assistant", "text", "echo: hello there"),
            ]
            assert rows[2][1:] == ("system", "system_artifact", '{"first_turn": true}')
            for sent in done:
                assert wire(await store.load_item(thread_id, sent["id"], ALICE)) == sent

            for text in ("second", "think third"):
                params = {"thread_id": thread_id, "input": user_input(text)}
                add = {"type": "threads.add_user_message", "params": params}
                replies = await stream(server, add, ALICE)
                assert replies[-1]["item"]["content"][0]["text"] == f"echo: {text}"
            # The placeholder removed unsaved was a no-op delete, not an error event.
            kinds = [event["type"] for event in replies]
            assert "thread.item.removed" in kinds and "error" not in kinds

            # items.list, two at a time both ways (hidden context is the server's to drop).
            visible = [m.id for m in alices.get_messages(cid) if m.role != "system"]
            assert len(visible) == 6
            assert await list_all(server, thread_id, "asc", ALICE) == visible
            assert await list_all(server, thread_id, "desc", ALICE) == visible[::-1]

            feedback = {"thread_id": thread_id, "item_ids": [visible[1]], "kind": "positive"}
            assert await call(server, {"type": "items.feedback", "params": feedback}, ALICE) == {}
            rename = {"type": "threads.update", "params": {"thread_id": thread_id, "title": "Hi"}}
            assert (await call(server, rename, ALICE))["title"] == "Hi"
            conversation = alices.get_conversation(cid)
            assert conversation.title == "Hi"
            assert conversation.context["chatkit_feedback"] == {visible[1]: "positive"}

            # Retrying the last user message deletes the reply after it and replies anew.
            params = {"thread_id": thread_id, "item_id": visible[4]}
            retry = {"type": "threads.retry_after_item", "params": params}
            await stream(server, retry, ALICE)
            after_retry = await list_all(server, thread_id, "asc", ALICE)
            assert after_retry[:5] == visible[:5] and len(after_retry) == 6
            assert after_retry[5] != visible[5]
            with pytest.raises(ChatKitNotFound):
                await store.load_item(thread_id, visible[5], ALICE)

            # Another user sees nothing of Alice's; a request that names no user is refused.
            get = {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}
            with pytest.raises(NotFoundError):
                await call(server, get, BOB)
            with pytest.raises(NotFoundError):
                await stream(server, add, BOB)
            assert (await call(server, {"type": "threads.list", "params": {}}, BOB))["data"] == []
            with pytest.raises(InvalidInput, match="user_id"):
                await call(server, get, {"session": "anonymous"})
            assert tk.as_owner("bob").list_conversations(status="all").items == []

            # threads.list pages the owner's threads, most recently active first by
            # default, least recently active first with order="asc".
            other = await stream(server, create, ALICE)
            other_id = other[0]["thread"]["id"]
            cursors = {}
            for order, expected in (
                ("desc", [other_id, thread_id]),
                ("asc", [thread_id, other_id]),
            ):
                params = {"limit": 1, "order": order}
                first = await call(server, {"type": "threads.list", "params": params}, ALICE)
                assert [t["id"] for t in first["data"]] == expected[:1] and first["has_more"]
                cursors[order] = params["after"] = first["after"]
                second = await call(server, {"type": "threads.list", "params": params}, ALICE)
                assert [t["id"] for t in second["data"]] == expected[1:]
                assert not second["has_more"] and second.get("after") is None
            # A cursor of one order is refused by the other, not read as a position in it.
            for order, cursor in (("asc", cursors["desc"]), ("desc", cursors["asc"])):
                params = {"limit": 1, "order": order, "after": cursor}
                with pytest.raises(InvalidInput, match="cursor is from the"):
                    await call(server, {"type": "threads.list", "params": params}, ALICE)

            delete = {"type": "threads.delete", "params": {"thread_id": other_id}}
            assert await call(server, delete, ALICE) == {}
            with pytest.raises(NotFound):
                alices.get_conversation(store.conversation_id(other_id, ALICE))
            with pytest.raises(ChatKitNotFound):
                await store.load_thread(other_id, ALICE)
            whole = await call(server, get, ALICE)
            assert [item["id"] for item in whole["items"]["data"]] == after_retry

        # A fresh store on the same database finds the thread as it was left.
        with open_store(db_url) as reopened:
            again = ThreadkeepStore(reopened)
            thread = await again.load_thread(thread_id, ALICE)
            assert (thread.id, thread.title) == (thread_id, "Hi")
            page = await again.load_thread_items(thread_id, None, 50, "asc", ALICE)
            assert [i.id for i in page.data if i.type != "hidden_context_item"] == after_retry

    asyncio.run(main())


def raw_items(thread_id: str) -> list[ThreadItem]:
    """One item of most kinds, as ChatKit would save them (built from wire JSON)."""
    at = dt.datetime(2025, 5, 1, 12, 30, 15, 123456, tzinfo=dt.UTC).isoformat()
    common = {"thread_id": thread_id, "created_at": at}
    raw: list[dict[str, Any]] = [
        {
            "type": "user_message",
            "id": "msg_user",
            "content": [
                {"type": "input_text", "text": "ask "},
                {"type": "input_tag", "id": "t1", "text": "Ada", "data": {"k": None}},
            ],
            "attachments": [
                {"type": "file", "id": "atc_1", "name": "notes.txt", "mime_type": "text/plain"}
            ],
            "quoted_text": "quoted",
            "inference_options": {"model": "gpt-x", "tool_choice": {"id": "search"}},
        },
        {
            "type": "assistant_message",
            "id": "msg_reply",
            "content": [
                {"text": "Part one.", "annotations": []},
                {
                    "text": "Part two.",
                    "annotations": [
                        {"source": {"type": "url", "url": "https://e.example", "title": "E"}}
                    ],
                },
            ],
        },
        {
            "type": "client_tool_call",
            "id": "tc_weather",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": {"city": "Paris"},
        },
        {
            "type": "widget",
            "id": "msg_widget",
            "widget": {
                "type": "Card",
                "children": [
                    {"type": "Title", "value": "Forecast"},
                    {"type": "Text", "id": "t", "value": "Sunny", "streaming": False},
                ],
            },
        },
        {
            "type": "workflow",
            "id": "wf_1",
            "workflow": {
                "type": "custom",
                "summary": {"title": "Planning"},
                "tasks": [{"type": "thought", "title": "Think", "content": "hmm"}],
            },
        },
        {"type": "task", "id": "tsk_1", "task": {"type": "custom", "title": "Fetched data"}},
        {
            "type": "structured_input",
            "id": "msg_form",
            "inputs": [
                {
                    "type": "multiple_choice",
                    "id": "q1",
                    "question": "Color?",
                    "options": [{"value": "red"}, {"value": "blue"}],
                    "answer": {"values": ["blue"]},
                }
            ],
            "status": "answered",
        },
        {"type": "sdk_hidden_context", "id": "shcx_1", "content": "cancelled"},
        {"type": "end_of_turn", "id": "eot_1"},
    ]
    with warnings.catch_warnings():
        # Rebuilding a widget constructs ChatKit's deprecated named widget classes.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        adapter: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)
        return [adapter.validate_python({**common, **item}) for item in raw]


def test_thread_items_round_trip_exactly_and_page_around_deleted_ones(db_url: str) -> None:
    async def main() -> None:
        with open_store(db_url) as tk:
            store = ThreadkeepStore(tk)
            thread = ThreadMetadata(
                id="thr_demo",
                created_at=dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC),
                status=ClosedStatus(reason="resolved"),
                allowed_image_domains=["img.example"],
                metadata={"topic": {"name": "weather", "tags": ["a", None]}},
            )
            await store.save_thread(thread, ALICE)
            assert await store.load_thread("thr_demo", ALICE) == thread
            changed = thread.model_copy(update={"metadata": {"topic": {"other": 1}}})
            await store.save_thread(changed, ALICE)
            assert await store.load_thread("thr_demo", ALICE) == changed

            items = raw_items("thr_demo")
            for item in items:
                await store.add_thread_item("thr_demo", item, ALICE)
            for item in items:
                loaded = await store.load_item("thr_demo", item.id, ALICE)
                assert loaded == item
                assert loaded.model_dump(mode="json") == item.model_dump(mode="json")

            cid = store.conversation_id("thr_demo", ALICE)
            alices = tk.as_owner("alice")
            columns = [(m.role, m.kind, m.content) for m in alices.get_messages(cid)]
            assert columns == [
                ("user", "text", "ask @Ada"),
                ("assistant", "text", "Part one.\n\nPart two."),
                ("assistant", "tool_call", 'get_weather({"city": "Paris"})'),
                ("assistant", "system_artifact", "Forecast\nSunny"),
                ("assistant", "system_artifact", "Planning\nThink — hmm"),
                ("assistant", "system_artifact", "Fetched data"),
                ("assistant", "system_artifact", "Color? blue"),
                ("system", "system_artifact", "cancelled"),
                ("assistant", "system_artifact", "[end_of_turn]"),
            ]

            # save_item replaces an item in place (a client tool call completing).
            call_item = items[2].model_copy(update={"status": "completed", "output": "18°C"})
            await store.save_item("thr_demo", call_item, ALICE)
            assert await store.load_item("thr_demo", call_item.id, ALICE) == call_item
            message = alices.get_message(cid, call_item.id)
            assert (message.seq, message.content) == (3, 'get_weather({"city": "Paris"}) → "18°C"')

            # add_thread_item of an item stored already (ChatKit adds a reply it streamed
            # with save_item when it is done) replaces it too.
            final = items[1].model_copy(update={"content": [AssistantMessageContent(text="Done.")]})
            await store.add_thread_item("thr_demo", final, ALICE)
            assert await store.load_item("thr_demo", final.id, ALICE) == final
            message = alices.get_message(cid, final.id)
            assert (message.seq, message.content) == (2, "Done.")
            assert alices.get_conversation(cid).message_count == len(items)

            # Deleting items in the middle removes their messages (the others keep their
            # seqs); deleting one again, or one never saved, is a no-op; a missing thread
            # is not.
            seqs = {m.id: m.seq for m in alices.get_messages(cid)}
            await store.delete_thread_item("thr_demo", items[3].id, ALICE)
            await store.delete_thread_item("thr_demo", items[4].id, ALICE)
            await store.delete_thread_item("thr_demo", items[4].id, ALICE)
            await store.delete_thread_item("thr_demo", "msg_never_saved", ALICE)
            with pytest.raises(ChatKitNotFound, match="thr_nothing"):
                await store.delete_thread_item("thr_nothing", items[0].id, ALICE)
            with pytest.raises(ChatKitNotFound, match="thr_demo"):
                await store.delete_thread_item("thr_demo", items[0].id, BOB)
            with pytest.raises(NotFoundError):
                await store.load_item("thr_demo", items[3].id, ALICE)
            live = [item.id for item in items if item not in (items[3], items[4])]
            assert {m.id: m.seq for m in alices.get_messages(cid)} == {i: seqs[i] for i in live}
            assert alices.get_conversation(cid).message_count == len(live)
            for order, expected in (("asc", live), ("desc", live[::-1])):
                seen: list[str] = []
                after = None
                for _ in range(10):
                    page = await store.load_thread_items("thr_demo", after, 2, order, ALICE)
                    seen += [item.id for item in page.data]
                    assert page.after == (page.data[-1].id if page.has_more else None)
                    if not page.has_more:
                        break
                    after = page.after
                assert seen == expected

            # A cursor naming a deleted item is NotFoundError saying what to do, even when
            # its seq went to a newer item (the last item's seq is given back): its
            # position went with it, and a guess could skip or repeat items.
            last = items[-1]
            await store.delete_thread_item("thr_demo", last.id, ALICE)
            newer = last.model_copy(update={"id": "eot_2"})
            await store.add_thread_item("thr_demo", newer, ALICE)
            assert alices.get_message(cid, newer.id).seq == seqs[last.id]
            for cursor in (items[3].id, last.id, "msg_missing"):
                for order in ("asc", "desc"):
                    with pytest.raises(ChatKitNotFound, match=r"again from the start \(after=None"):
                        await store.load_thread_items("thr_demo", cursor, 1, order, ALICE)
            with pytest.raises(ChatKitNotFound, match="thread 'thr_nothing'"):
                await store.load_thread_items("thr_nothing", items[0].id, 1, "asc", ALICE)
            after_newest = await store.load_thread_items("thr_demo", newer.id, 10, "desc", ALICE)
            assert [item.id for item in after_newest.data] == live[-2::-1]
            with pytest.raises(InvalidInput, match="order"):
                await store.load_thread_items("thr_demo", None, 5, "sideways", ALICE)
            with pytest.raises(InvalidInput, match="order"):
                await store.load_threads(10, None, "sideways", ALICE)

            # Messages other surfaces wrote read as ChatKit items too.
            alices.append_message(cid, "assistant", "from the CLI", id="cli-1")
            alices.append_message(cid, "tool", "raw tool output", kind="tool_result", id="cli-2")
            cli_reply, cli_tool = (
                await store.load_thread_items("thr_demo", None, 2, "desc", ALICE)
            ).data[::-1]
            assert isinstance(cli_reply, AssistantMessageItem)
            assert cli_reply.content[0].text == "from the CLI"
            assert (
                isinstance(cli_tool, HiddenContextItem)
                and cli_tool.content == "[tool result] raw tool output"
            )

            # A conversation made elsewhere opens as a thread by its id.
            made = alices.create_conversation(title="From the CLI")
            alices.append_message(made.id, "user", "hi")
            opened = await store.load_thread(made.id, ALICE)
            assert (opened.id, opened.title) == (made.id, "From the CLI")
            first = (await store.load_thread_items(made.id, None, 5, "asc", ALICE)).data
            assert isinstance(first[0], UserMessageItem)
            assert first[0].content == [UserMessageTextContent(text="hi")]

            # Attachments' metadata: saved (twice: upsert), loaded, deleted; never listed.
            attachment = FileAttachment(id="atc_1", name="notes.txt", mime_type="text/plain")
            await store.save_attachment(attachment, ALICE)
            with_thread = attachment.model_copy(update={"thread_id": "thr_demo"})
            await store.save_attachment(with_thread, ALICE)
            assert await store.load_attachment("atc_1", ALICE) == with_thread
            with pytest.raises(NotFoundError):
                await store.load_attachment("atc_1", BOB)
            await store.delete_attachment("atc_1", ALICE)
            with pytest.raises(NotFoundError):
                await store.load_attachment("atc_1", ALICE)
            attachments = alices.list_conversations(status="all", mode="chatkit-attachments")
            assert [c.message_count for c in attachments] == [0]
            # Deleting it again, or for an owner who never saved one, is a no-op.
            await store.delete_attachment("atc_1", ALICE)
            await store.delete_attachment("atc_1", BOB)
            listed = await store.load_threads(10, None, "desc", ALICE)
            assert [t.id for t in listed.data] == ["thr_demo"]

            await store.delete_thread("thr_demo", ALICE)
            with pytest.raises(NotFoundError):
                await store.load_thread_items("thr_demo", None, 5, "asc", ALICE)

    asyncio.run(main())


def test_owner_of_and_the_embedded_default_store(tmp_path: Path) -> None:
    """``store=None`` opens (and closes) the embedded default; ``owner_of`` decides the
    owner of every request, and a context of ``None`` is the single-user owner."""

    class Request:
        def __init__(self, tenant: str) -> None:
            self.tenant = tenant

    async def main() -> None:
        store = ThreadkeepStore(owner="solo", owner_of=None)
        try:
            thread = ThreadMetadata(id="thr_1", created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
            await store.save_thread(thread, None)
            assert store.store.as_owner("solo").list_conversations().items[0].mode == "chatkit"
            with pytest.raises(InvalidInput, match="user_id"):
                await store.load_thread("thr_1", {})
        finally:
            store.close()

        with open_store(tmp_path / "tenants.db") as tk:
            tenants = ThreadkeepStore(tk, owner_of=lambda request: request.tenant)
            await tenants.save_thread(thread, Request("acme"))
            assert (await tenants.load_thread("thr_1", Request("acme"))).id == "thr_1"
            with pytest.raises(ChatKitNotFound):
                await tenants.load_thread("thr_1", Request("globex"))
            with pytest.raises(InvalidInput, match="owner"):
                await tenants.load_thread("thr_1", Request(""))
            ids = {tenants.generate_thread_id(None) for _ in range(100)}
            assert len(ids) == 100 and all(i.startswith("thr_") and len(i) == 36 for i in ids)

    asyncio.run(main())


def test_without_chatkit_the_import_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n == "chatkit" or n.startswith("chatkit.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "threadkeep.adapters.chatkit")
    monkeypatch.delitem(sys.modules, "threadkeep.adapters.chatkit_items")
    with pytest.raises(ImportError, match=r"pip install 'threadkeep\[chatkit\]'"):
        importlib.import_module("threadkeep.adapters.chatkit")
