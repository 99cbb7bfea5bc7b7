"""Contract: cleanup as plan → apply, and the restorable trash (SPEC S7.2).

Off unless configured. Inactive conversations and those past the per-owner limit go to
the trash, never straight to deletion; pinned ones are exempt; the trash is purged only
after a further period. The plan lists exactly what would go, and the apply re-checks
each item so a conversation touched since the plan is left alone. Conversations' clocks
are moved by writing ``updated_at``/``trashed_at`` directly, so nothing waits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from tests.store.custom_stores import DAY, Stores, utcnow
from threadkeep import Conversation, InvalidInput, MessageDraft, NotFound, Page
from threadkeep.models import CleanupItem, CleanupPlan
from threadkeep.store import retention


def _ids(items: Iterable[CleanupItem]) -> list[str]:
    return [item.conversation_id for item in items]


def _conversation_ids(page: Page[Conversation]) -> list[str]:
    return [conversation.id for conversation in page.items]


def test_off_by_default_nothing_happens(stores: Stores) -> None:
    """With no cleanup setting, even very old conversations stay (silent deletion is
    the loudest complaint about peer tools); plan and report say cleanup is off."""
    store = stores.open()
    conv = store.create_conversation(title="old")
    stores.set_columns(conv.id, updated_at=utcnow() - 5000 * DAY)
    plan = store.plan_cleanup()
    assert (plan.enabled, plan.items) == (False, ())
    assert "cleanup is off" in plan.summary
    report = store.apply_cleanup(all_owners=True)
    assert (report.enabled, report.trashed, report.purged) == (False, (), ())
    assert "cleanup is off" in report.to_dict()["summary"]
    assert store.get_conversation(conv.id).status == "active"


def test_inactive_conversations_go_to_the_trash(stores: Stores) -> None:
    """Active and idle past the limit → trash; recent, pinned and archived stay."""
    store = stores.open(cleanup_inactive_days=30)
    now = utcnow()
    idle = store.create_conversation(title="idle")
    recent = store.create_conversation(title="recent")
    pinned = store.create_conversation(title="pinned", pinned=True)
    archived = store.create_conversation(title="archived")
    store.archive_conversation(archived.id)
    for conv in (idle, pinned, archived):
        stores.set_columns(conv.id, updated_at=now - 31 * DAY)
    stores.set_columns(recent.id, updated_at=now - 29 * DAY)

    plan = store.plan_cleanup(now=now)
    assert [(i.conversation_id, i.title, i.action, i.reason) for i in plan.items] == [
        (idle.id, "idle", "trash", "inactive")
    ]
    assert plan.items[0].updated_at == now - 31 * DAY
    assert store.get_conversation(idle.id).status == "active"  # planning changes nothing

    report = store.apply_cleanup(plan, now=now)
    assert _ids(report.trashed) == [idle.id]
    assert report.purged == report.skipped == ()
    trashed = store.get_conversation(idle.id)
    assert (trashed.status, trashed.trashed_at) == ("trash", now)
    assert trashed.updated_at == now - 31 * DAY
    assert _conversation_ids(store.list_conversations(status="trash")) == [idle.id]
    assert idle.id not in _conversation_ids(store.list_conversations())
    assert {c.status for c in map(store.get_conversation, (recent.id, pinned.id))} == {"active"}
    assert store.get_conversation(archived.id).status == "archived"
    archived_events = [e for e in stores.events if e.type == "conversation.archived"]
    assert [(e.conversation_id, e.data) for e in archived_events[-1:]] == [
        (idle.id, {"reason": "cleanup", "status": "trash"})
    ]


def test_each_owner_keeps_its_newest(stores: Stores) -> None:
    """Past cleanup_max_per_owner, the oldest unpinned go; pinned count and stay."""
    store = stores.open(cleanup_max_per_owner=3)
    now = utcnow()
    convs = [store.create_conversation(title=f"c{i}") for i in range(6)]
    for age, conv in enumerate(reversed(convs)):  # c5 newest ... c0 oldest
        stores.set_columns(conv.id, updated_at=now - (age + 1) * DAY)
    store.update_conversation(convs[0].id, pinned=True)  # the oldest, pinned: stays

    plan = store.plan_cleanup(now=now)
    # Kept: c0 (pinned) + c5, c4 = 3. Trashed: c3, c2, c1, oldest first.
    assert [(i.title, i.reason) for i in plan.items] == [
        ("c1", "over_limit"),
        ("c2", "over_limit"),
        ("c3", "over_limit"),
    ]
    store.apply_cleanup(plan)
    active = store.list_conversations().items
    assert sorted(c.title or "" for c in active) == ["c0", "c4", "c5"]
    other = stores.open(owner="someone-else", cleanup_max_per_owner=3)
    assert other.plan_cleanup(now=now).items == ()


def test_rules_together_count_each_conversation_once(stores: Stores) -> None:
    """An idle conversation is trashed as inactive and does not also use up the limit."""
    store = stores.open(cleanup_inactive_days=30, cleanup_max_per_owner=2)
    now = utcnow()
    old = store.create_conversation(title="old")
    a, b, c = (store.create_conversation(title=t) for t in "abc")
    stores.set_columns(old.id, updated_at=now - 90 * DAY)
    for age, conv in enumerate((c, b, a)):
        stores.set_columns(conv.id, updated_at=now - (age + 1) * DAY)
    plan = store.plan_cleanup(now=now)
    assert [(i.title, i.reason) for i in plan.items] == [("old", "inactive"), ("a", "over_limit")]


def test_old_trash_is_purged_with_its_messages_and_runs(stores: Stores) -> None:
    """Trash older than cleanup_purge_after_days is deleted for good (cascade); newer
    trash and pinned trash stay."""
    store = stores.open(cleanup_purge_after_days=10, cleanup_inactive_days=30)
    now = utcnow()
    gone = store.create_conversation(title="gone")
    store.append_message(gone.id, "user", "hello")
    store.start_run(gone.id, provider="echo")
    fresh = store.create_conversation(title="fresh trash")
    kept = store.create_conversation(title="pinned trash")
    stores.set_all(updated_at=now - 60 * DAY)
    store.apply_cleanup(now=now - 11 * DAY)  # all three go to the trash, 11 days ago
    stores.set_columns(fresh.id, trashed_at=now - 9 * DAY)
    store.update_conversation(kept.id, pinned=True)

    plan = store.plan_cleanup(now=now)
    assert [(i.conversation_id, i.action, i.reason) for i in plan.items] == [
        (gone.id, "purge", "expired_trash")
    ]
    assert plan.items[0].trashed_at == now - 11 * DAY
    report = store.apply_cleanup(plan, now=now)
    assert _ids(report.purged) == [gone.id]
    with pytest.raises(NotFound):
        store.get_conversation(gone.id)
    assert stores.count_rows("messages", gone.id) == stores.count_rows("runs", gone.id) == 0
    assert {store.get_conversation(c.id).status for c in (fresh, kept)} == {"trash"}
    deleted = [e for e in stores.events if e.type == "conversation.deleted"]
    assert [(e.conversation_id, e.data) for e in deleted] == [(gone.id, {"reason": "cleanup"})]


def test_apply_leaves_alone_what_changed_since_the_plan(stores: Stores) -> None:
    """Guards against a stale plan deleting a conversation someone just used: updated,
    pinned, archived, deleted or restored since the plan → skipped and reported."""
    store = stores.open(cleanup_inactive_days=30, cleanup_purge_after_days=5)
    now = utcnow()
    convs = {
        name: store.create_conversation(title=name)
        for name in ("untouched", "updated", "renamed", "pinned", "archived", "deleted", "restored")
    }
    stores.set_all(updated_at=now - 40 * DAY)
    restored = convs["restored"]
    stores.set_columns(restored.id, status="trash", trashed_at=now - 6 * DAY)
    plan = store.plan_cleanup(now=now)
    assert len(plan.to_trash) == 6 and _ids(plan.to_purge) == [restored.id]

    store.append_message(convs["updated"].id, "user", "still here")
    store.update_conversation(convs["renamed"].id, title="new name")
    store.update_conversation(convs["pinned"].id, pinned=True)
    store.archive_conversation(convs["archived"].id)
    store.delete_conversation(convs["deleted"].id)
    store.unarchive_conversation(restored.id)

    report = store.apply_cleanup(plan, now=now)
    assert _ids(report.trashed) == [convs["untouched"].id]
    assert report.purged == ()
    assert sorted(i.title or "" for i in report.skipped) == sorted(
        ["updated", "renamed", "pinned", "archived", "deleted", "restored"]
    )
    assert "6 changed since the plan" in report.summary
    for name in ("updated", "renamed", "pinned", "restored"):
        assert store.get_conversation(convs[name].id).status == "active"
    assert store.get_conversation(convs["archived"].id).status == "archived"


def test_a_conversation_restored_and_trashed_again_is_not_purged_early(stores: Stores) -> None:
    """A purge item is tied to its trashed_at: trashed again since the plan → left alone."""
    store = stores.open(cleanup_purge_after_days=5)
    now = utcnow()
    conv = store.create_conversation()
    stores.set_columns(conv.id, status="trash", trashed_at=now - 6 * DAY)
    plan = store.plan_cleanup(now=now)
    stores.set_columns(conv.id, trashed_at=now)
    assert _ids(store.apply_cleanup(plan, now=now).skipped) == [conv.id]
    assert store.get_conversation(conv.id).status == "trash"


def test_the_trash_is_restorable(stores: Stores) -> None:
    """unarchive brings trash back to active; archive moves it to the archive; both clear
    trashed_at, and cleanup then leaves an archived conversation alone."""
    store = stores.open(cleanup_inactive_days=1, cleanup_purge_after_days=0)
    now = utcnow()
    back, shelved = store.create_conversation(), store.create_conversation()
    stores.set_all(updated_at=now - 2 * DAY)
    store.apply_cleanup(now=now)
    assert {c.id for c in store.list_conversations(status="trash").items} == {back.id, shelved.id}

    restored = store.unarchive_conversation(back.id)
    assert (restored.status, restored.trashed_at) == ("active", None)
    assert store.get_conversation(back.id) == restored
    moved = store.archive_conversation(shelved.id)
    assert (moved.status, moved.trashed_at) == ("archived", None)
    assert store.get_conversation(shelved.id) == moved
    unarchived = [e for e in stores.events if e.type == "conversation.unarchived"]
    assert unarchived[-1].data == {"previous_status": "trash"}

    stores.set_columns(back.id, updated_at=now)  # used again after restoring
    report = store.apply_cleanup(now=now + DAY / 2)
    assert report.trashed == report.purged == ()
    assert store.get_conversation(shelved.id).status == "archived"


def test_all_owners(stores: Stores) -> None:
    """By default cleanup sees its owner only; all_owners=True sweeps everyone, and
    events go to each conversation's owner."""
    alice = stores.open(owner="alice", cleanup_inactive_days=7)
    bob = stores.open(owner="bob", cleanup_inactive_days=7)
    now = utcnow()
    mine, theirs = alice.create_conversation(), bob.create_conversation()
    stores.set_all(updated_at=now - 8 * DAY)
    assert _ids(alice.plan_cleanup(now=now).items) == [mine.id]
    everyone = alice.plan_cleanup(now=now, all_owners=True)
    assert everyone.owner is None and everyone.all_owners
    assert {(i.owner, i.conversation_id) for i in everyone.items} == {
        ("alice", mine.id),
        ("bob", theirs.id),
    }
    with pytest.raises(InvalidInput, match="made for owner 'alice'"):
        bob.apply_cleanup(alice.plan_cleanup(now=now))
    with pytest.raises(InvalidInput, match="all_owners=True"):
        alice.apply_cleanup(alice.plan_cleanup(now=now), all_owners=True)
    report = alice.apply_cleanup(everyone, now=now)
    assert len(report.trashed) == 2 and report.owner is None
    assert bob.get_conversation(theirs.id).status == "trash"
    archived = {(e.owner, e.conversation_id) for e in stores.events if e.type.endswith("archived")}
    assert archived == {("alice", mine.id), ("bob", theirs.id)}


def test_bad_arguments_are_refused(stores: Stores) -> None:
    """Naive datetimes, non-bool flags and non-plans are InvalidInput naming the problem."""
    store = stores.open(cleanup_inactive_days=7)
    with pytest.raises(InvalidInput, match="now must be a timezone-aware datetime"):
        store.plan_cleanup(now=utcnow().replace(tzinfo=None))
    with pytest.raises(InvalidInput, match="all_owners must be true or false"):
        store.plan_cleanup(all_owners="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="plan must be a CleanupPlan"):
        store.apply_cleanup({"trash": []})  # type: ignore[arg-type]


def test_large_cleanups_run_in_batches(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many candidates are applied batch by batch, each batch whole, none lost or doubled."""
    monkeypatch.setattr(retention, "BATCH_SIZE", 4)
    monkeypatch.setattr(retention, "BATCH_MESSAGES", 3)
    store = stores.open(cleanup_inactive_days=1, cleanup_purge_after_days=1)
    now = utcnow()
    convs = [store.create_conversation(title=f"c{i}") for i in range(11)]
    for size, conv in enumerate(convs[:5]):
        store.append_messages(conv.id, [MessageDraft("user", "x")] * (size + 1))
    stores.set_all(updated_at=now - 3 * DAY)
    for conv in convs[:5]:
        stores.set_columns(conv.id, status="trash", trashed_at=now - 2 * DAY)
    plan = store.plan_cleanup(now=now)
    assert (len(plan.to_trash), len(plan.to_purge)) == (6, 5)
    assert [i.message_count for i in plan.to_purge] == [1, 2, 3, 4, 5]
    # Trash: 4 conversations per batch. Purge: at most 3 messages per batch, and a
    # larger conversation alone.
    assert [len(b) for b in retention._batches(plan.to_trash)] == [4, 2]
    assert [len(b) for b in retention._batches(plan.to_purge)] == [2, 1, 1, 1]
    doubled = CleanupPlan(
        planned_at=plan.planned_at,
        owner=plan.owner,
        inactive_days=plan.inactive_days,
        max_per_owner=plan.max_per_owner,
        purge_after_days=plan.purge_after_days,
        items=plan.items + plan.items[:2],
    )
    report = store.apply_cleanup(doubled, now=now)
    assert sorted(_ids(report.trashed)) == sorted(c.id for c in convs[5:])
    assert sorted(_ids(report.purged)) == sorted(c.id for c in convs[:5])
    assert report.skipped == ()
    assert len(store.list_conversations(status="trash").items) == 6
    assert sum(stores.count_rows("messages", c.id) for c in convs[:5]) == 0


def test_plan_and_report_are_json(stores: Stores) -> None:
    """to_dict() gives what ``threadkeep cleanup --json`` prints: JSON, with counts."""
    store = stores.open(cleanup_inactive_days=3)
    conv = store.create_conversation(title="Ünïcode")
    stores.set_columns(conv.id, updated_at=utcnow() - 4 * DAY)
    plan = store.plan_cleanup()
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["counts"] == {"trash": 1, "purge": 0}
    assert data["rules"]["cleanup_inactive_days"] == 3
    assert data["trash"][0]["title"] == "Ünïcode" and data["trash"][0]["reason"] == "inactive"
    assert data["summary"] == "cleanup would move 1 conversation to the trash and purge 0"
    report = json.loads(json.dumps(store.apply_cleanup(plan).to_dict()))
    assert report["counts"] == {"trashed": 1, "purged": 0, "skipped": 0, "audit_expired": 0}
    assert report["trashed"][0]["conversation_id"] == conv.id
