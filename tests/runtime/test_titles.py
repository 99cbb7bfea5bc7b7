"""Titles after the first reply (SPEC S4.6; runtime/titles.py), on both engines.

Guards against: a conversation left untitled after its first reply, a title the user
set overwritten by a generated one (set before the reply, or while the title was being
made), a provider's failure to title failing the turn, titles regenerated on later
turns, and a model's quotes, prefixes and rambling kept in the title.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.runtime.scripted import Scripted, with_scripted
from threadkeep import AsyncConversationStore, ConversationStore
from threadkeep.errors import ProviderError
from threadkeep.runtime.providers.base import TextDelta
from threadkeep.runtime.send import RunFinished, Runtime
from threadkeep.runtime.titles import clean_title, title_from_message


@pytest.fixture
def scripted() -> Scripted:
    return Scripted()


@pytest.fixture
def runtime(store: ConversationStore, scripted: Scripted) -> Runtime:
    return with_scripted(AsyncConversationStore(store), scripted)


def send_and_settle(runtime: Runtime, conversation_id: str, text: str, **options: str) -> None:
    async def main() -> None:
        events = [e async for e in runtime.send(conversation_id, text, **options)]
        assert isinstance(events[-1], RunFinished) and events[-1].error is None
        await runtime.settle()

    asyncio.run(main())


def test_echo_conversations_are_titled_from_the_first_message(
    runtime: Runtime, store: ConversationStore
) -> None:
    conv = store.create_conversation()
    send_and_settle(runtime, conv.id, "How do otters keep warm in cold rivers at night?")
    assert store.get_conversation(conv.id).title == "How do otters keep warm in"


def test_the_providers_title_is_used_cleaned(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    conv = store.create_conversation()
    scripted.turns.append([TextDelta("They have dense fur.")])
    scripted.title_of = 'Title: "Otters and Their Warm Fur."'
    send_and_settle(runtime, conv.id, "How do otters keep warm?", provider="scripted")
    assert scripted.titled == ["How do otters keep warm?"]
    assert store.get_conversation(conv.id).title == "Otters and Their Warm Fur"


def test_a_provider_that_fails_to_title_falls_back_without_failing_the_turn(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    conv = store.create_conversation()
    scripted.turns.append([TextDelta("sure")])
    scripted.title_of = ProviderError("the title request timed out")
    send_and_settle(runtime, conv.id, "plan a trip to Lisbon", provider="scripted")
    assert store.get_conversation(conv.id).title == "plan a trip to Lisbon"


def test_a_title_the_user_set_is_kept(runtime: Runtime, store: ConversationStore) -> None:
    """Set before the first reply: no title is made at all."""
    conv = store.create_conversation(title="My own title")
    send_and_settle(runtime, conv.id, "hello")
    assert store.get_conversation(conv.id).title == "My own title"


def test_a_title_set_while_one_is_being_made_wins(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    """The race: the user renames the conversation while the provider is still making
    its title; the generated one is then not written."""
    conv = store.create_conversation()
    scripted.turns.append([TextDelta("ok")])
    scripted.title_of = "A Generated Title"

    async def main() -> None:
        scripted.title_gate = asyncio.Event()
        async for _ in runtime.send(conv.id, "first message", provider="scripted"):
            pass
        for _ in range(100_000):  # until the title is being made (a bound for hangs)
            if scripted.titled:
                break
            await asyncio.sleep(0.001)
        store.update_conversation(conv.id, title="Renamed by the user")
        scripted.title_gate.set()
        await runtime.settle()

    asyncio.run(main())
    assert scripted.titled == ["first message"]
    assert store.get_conversation(conv.id).title == "Renamed by the user"


def test_later_turns_do_not_make_a_title(
    runtime: Runtime, store: ConversationStore, scripted: Scripted
) -> None:
    """Only the first reply is titled: a conversation whose title was cleared later
    stays as the user left it."""
    conv = store.create_conversation()
    send_and_settle(runtime, conv.id, "first")
    store.update_conversation(conv.id, title=None)
    send_and_settle(runtime, conv.id, "second")
    assert store.get_conversation(conv.id).title is None


def test_set_title_if_untitled_writes_only_over_no_title(store: ConversationStore) -> None:
    conv = store.create_conversation()
    titled = store.set_title_if_untitled(conv.id, "Made")
    assert titled is not None and titled.title == "Made"
    assert store.get_conversation(conv.id) == titled
    assert store.set_title_if_untitled(conv.id, "Again") is None
    assert store.get_conversation(conv.id).title == "Made"


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ('"Otters in Winter."', "Otters in Winter"),
        ("Title: Packing for Lisbon", "Packing for Lisbon"),
        ("\n\n**Rust lifetimes explained**\nSecond line ignored", "Rust lifetimes explained"),
        ("one two three four five six seven eight", "one two three four five six"),
        ("\u201cCurly quotes\u201d", "Curly quotes"),
        ("   ", None),
    ],
)
def test_clean_title(raw: str, title: str | None) -> None:
    assert clean_title(raw) == title


def test_the_fallback_is_never_empty() -> None:
    assert title_from_message("   \n ") == "New conversation"
    assert title_from_message("x" * 500).endswith("…")
    assert len(title_from_message("x" * 500)) == 60
