"""Contract: owners are isolated (SPEC S1 owner, S8.2) — another owner's object is NotFound.

For every public method that takes a conversation, message or run id, a store of another
owner (``as_owner("mallory")``) gets exactly the NotFound a random id gets — same type,
same message once the ids are blanked — so an error never reveals that an object exists,
and the owner's data is unchanged afterwards. :func:`test_every_id_method_is_covered`
fails when a method that takes an id is added without an entry in :data:`CALLS`.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.store.state import Snapshot, snapshot
from threadkeep import Conflict, ConversationStore, MessageDraft, NotFound, ThreadkeepError

ID_PARAMETERS = frozenset({"id", "conversation_id", "run_id"})


@dataclass(frozen=True)
class Target:
    """The ids a call is aimed at."""

    conversation_id: str
    message_id: str
    run_id: str


Call = Callable[[ConversationStore, Target], object]

CALLS: dict[str, Call] = {
    "get_conversation": lambda s, t: s.get_conversation(t.conversation_id),
    "update_conversation": lambda s, t: s.update_conversation(
        t.conversation_id, title="pwned", context_merge={"x": 1}, pinned=True
    ),
    "set_title_if_untitled": lambda s, t: s.set_title_if_untitled(t.conversation_id, "Mine"),
    "archive_conversation": lambda s, t: s.archive_conversation(t.conversation_id),
    "unarchive_conversation": lambda s, t: s.unarchive_conversation(t.conversation_id),
    "delete_conversation": lambda s, t: s.delete_conversation(t.conversation_id),
    "fork_conversation": lambda s, t: s.fork_conversation(t.conversation_id, up_to_seq=1),
    "append_message": lambda s, t: s.append_message(
        t.conversation_id, "user", "intruder", run_id=t.run_id
    ),
    "append_messages": lambda s, t: s.append_messages(
        t.conversation_id, [MessageDraft("user", "intruder", idempotency_key="k1")]
    ),
    "update_message": lambda s, t: s.update_message(
        t.conversation_id, t.message_id, content="pwned"
    ),
    "get_message": lambda s, t: s.get_message(t.conversation_id, t.message_id),
    "get_messages": lambda s, t: s.get_messages(t.conversation_id),
    "tail_messages": lambda s, t: s.tail_messages(t.conversation_id, 5),
    "pop_message": lambda s, t: s.pop_message(t.conversation_id),
    "clear_messages": lambda s, t: s.clear_messages(t.conversation_id),
    "delete_message": lambda s, t: s.delete_message(t.conversation_id, t.message_id),
    "conversation_stats": lambda s, t: s.conversation_stats(t.conversation_id),
    "start_run": lambda s, t: s.start_run(t.conversation_id, provider="echo"),
    "list_runs": lambda s, t: s.list_runs(t.conversation_id),
    "get_run": lambda s, t: s.get_run(t.run_id),
    "finish_run": lambda s, t: s.finish_run(t.run_id, status="failed", provider_session_id="x"),
    "take_turn": lambda s, t: s.take_turn(t.conversation_id, holder="h|1|t", lease_seconds=30),
    "turns_ahead": lambda s, t: s.turns_ahead(t.conversation_id, 10**9),
    "request_run_cancel": lambda s, t: s.request_run_cancel(t.run_id),
    "record_audit": lambda s, t: s.record_audit("export", conversation_id=t.conversation_id),
}

# Ids are global (one primary key for all owners): creating with a taken id cannot
# succeed, so it is a Conflict — which reveals nothing a 128-bit random id could guess.
CONFLICT_CALLS: dict[str, Call] = {
    "create_conversation": lambda s, t: s.create_conversation(id=t.conversation_id),
    "get_or_create_conversation": lambda s, t: s.get_or_create_conversation(
        t.conversation_id, title="pwned"
    ),
}


def _id_methods() -> set[str]:
    """Public methods of ConversationStore that take an object id."""
    found = set()
    for name, member in inspect.getmembers(ConversationStore, inspect.isfunction):
        if name.startswith("_"):
            continue
        if ID_PARAMETERS & set(inspect.signature(member).parameters):
            found.add(name)
    return found


def test_every_id_method_is_covered() -> None:
    """Each public method taking id/conversation_id/run_id has an isolation check below."""
    methods = _id_methods()
    covered = set(CALLS) | set(CONFLICT_CALLS)
    assert methods - covered == set(), "add these methods to CALLS in test_isolation.py"
    assert covered - methods == set(), "these entries name no method taking an id"


@dataclass(frozen=True)
class OwnerData:
    target: Target
    before: Snapshot
    listing: list[str]


def _alice_data(alice: ConversationStore) -> OwnerData:
    conv = alice.create_conversation(title="secret", context={"k": "v"}, tags=["t"])
    run = alice.start_run(conv.id, provider="echo")
    alice.append_messages(
        conv.id,
        [
            MessageDraft("user", "my secret", id="msg_1", idempotency_key="k1"),
            MessageDraft("assistant", "partial", status="streaming", run_id=run.id),
        ],
    )
    return OwnerData(
        target=Target(conversation_id=conv.id, message_id="msg_1", run_id=run.id),
        before=snapshot(alice, conv.id),
        listing=[c.id for c in alice.list_conversations(status="all")],
    )


def _blank(message: str, target: Target) -> str:
    for value in (target.conversation_id, target.run_id):
        message = message.replace(value, "<id>")
    return message


def _error(call: Call, store: ConversationStore, target: Target) -> ThreadkeepError:
    with pytest.raises(ThreadkeepError) as caught:
        call(store, target)
    return caught.value


def _random_target() -> Target:
    return Target(str(uuid.uuid4()), "msg_1", str(uuid.uuid4()))


def test_other_owner_gets_not_found(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """Another owner's call is NotFound like a random id, and the owner's data is unchanged."""
    alice = any_store
    mallory = any_store.as_owner("mallory")
    for method, call in sorted(CALLS.items()):
        with subtests.test(method=method):
            data = _alice_data(alice)

            theirs = _error(call, mallory, data.target)

            random = _random_target()
            unknown = _error(call, mallory, random)
            assert type(theirs) is NotFound, theirs
            assert type(unknown) is NotFound, unknown
            assert _blank(theirs.message, data.target) == _blank(unknown.message, random)
            assert snapshot(alice, data.target.conversation_id) == data.before
            assert [c.id for c in alice.list_conversations(status="all")] == data.listing
            assert mallory.list_conversations(status="all").items == []


def test_other_owner_cannot_take_an_id(
    any_store: ConversationStore, subtests: pytest.Subtests
) -> None:
    """Creating with another owner's id is Conflict and changes nothing of theirs."""
    alice = any_store
    mallory = any_store.as_owner("mallory")
    for method, call in sorted(CONFLICT_CALLS.items()):
        with subtests.test(method=method):
            data = _alice_data(alice)
            with pytest.raises(Conflict):
                call(mallory, data.target)
            assert snapshot(alice, data.target.conversation_id) == data.before
            assert mallory.list_conversations(status="all").items == []


def test_lists_never_show_other_owners(any_store: ConversationStore) -> None:
    """Each owner lists only their own conversations, whatever the filter or page."""
    alice = any_store
    mallory = any_store.as_owner("mallory")
    mine = {alice.create_conversation(tags=["shared"], mode="chat").id for _ in range(3)}
    archived = alice.create_conversation(tags=["shared"]).id
    alice.archive_conversation(archived)
    theirs = {mallory.create_conversation(tags=["shared"], mode="chat").id for _ in range(2)}
    for conv in mine | theirs:
        owner = alice if conv in mine else mallory
        owner.start_run(conv, provider="echo", model="m")
    assert {c.id for c in alice.list_conversations()} == mine
    assert {c.id for c in alice.list_conversations(status="all")} == mine | {archived}
    assert {c.id for c in mallory.list_conversations(status="all")} == theirs
    for filters in ({"tag": "shared"}, {"mode": "chat"}, {"provider": "echo"}, {"model": "m"}):
        assert {c.id for c in mallory.list_conversations(**filters)} == theirs  # type: ignore[arg-type]
    # Paging walks only the owner's own keyset.
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = mallory.list_conversations(limit=1, cursor=cursor, status="all")
        seen.extend(c.id for c in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(theirs)
    assert {c.owner for c in alice.list_conversations(status="all")} == {alice.owner}
    assert {c.owner for c in mallory.list_conversations(status="all")} == {"mallory"}


def test_other_owner_interrupt_sweep_is_scoped(any_store: ConversationStore) -> None:
    """Another owner's mark_interrupted_runs() leaves this owner's running runs alone."""
    data = _alice_data(any_store)
    assert any_store.as_owner("mallory").mark_interrupted_runs() == []
    assert snapshot(any_store, data.target.conversation_id) == data.before


def test_run_id_of_another_owner_does_not_reach_their_messages(
    any_store: ConversationStore,
) -> None:
    """A message tagged with another owner's run id is not changed when that run ends.

    Ending a run is one owner's write; it must not flip the status of messages in a
    conversation of someone else who put that run id on a message of theirs.
    """
    alice = any_store
    mallory = any_store.as_owner("mallory")
    data = _alice_data(alice)
    theirs = mallory.create_conversation()
    planted = mallory.append_message(
        theirs.id, "assistant", "mine", status="streaming", run_id=data.target.run_id
    )
    alice.finish_run(data.target.run_id, status="failed", error="stopped")
    assert mallory.get_messages(theirs.id) == [planted]
    alice_messages = alice.get_messages(data.target.conversation_id)
    assert alice_messages[-1].status == "incomplete"
