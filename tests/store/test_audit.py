"""Contract: the audit log (SPEC S7.5) — who did what, when; kept for a set time.

Off unless ``audit_log`` is on. Each entry is written in the same transaction as the
change it records, so a change that fails leaves no entry and a change that commits
always has one. Entries are scoped to their actor (the owner), newest first.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.store.custom_stores import DAY, Stores, utcnow
from threadkeep import Conflict, ConversationStore, InvalidInput, NotFound, TooLarge
from threadkeep.models import AuditEntry


def _entries(store: ConversationStore, **filters: Any) -> list[AuditEntry]:
    return store.audit_entries(limit=1000, **filters).items


def _log(store: ConversationStore) -> list[tuple[str, str | None, Any]]:
    """(action, conversation id, detail), oldest first."""
    return [(e.action, e.conversation_id, e.detail) for e in reversed(_entries(store))]


def test_off_by_default(stores: Stores) -> None:
    """Without the setting nothing is recorded, and record_audit still checks its input."""
    store = stores.open()
    conv = store.create_conversation(title="t")
    store.update_conversation(conv.id, title="u")
    store.delete_conversation(conv.id)
    store.record_audit("export", detail={"format": "json"})
    assert _entries(store) == []
    with pytest.raises(InvalidInput, match="audit action must be one of"):
        store.record_audit("exfiltrate")


def test_changes_are_recorded_with_what_changed(stores: Stores) -> None:
    """create, rename, archive, unarchive, delete and fork each leave one entry."""
    store = stores.open(audit_log=True)
    before = utcnow()
    conv = store.create_conversation(title="first")
    store.update_conversation(conv.id, title="second")
    store.update_conversation(conv.id, title="second", pinned=True)  # no rename: no entry
    store.archive_conversation(conv.id)
    store.archive_conversation(conv.id)  # already archived: nothing changes, no entry
    store.unarchive_conversation(conv.id)
    store.append_message(conv.id, "user", "hello")
    fork = store.fork_conversation(conv.id, title="branch")
    store.delete_conversation(conv.id)
    assert _log(store) == [
        ("create", conv.id, {"title": "first"}),
        ("rename", conv.id, {"old_title": "first", "new_title": "second"}),
        ("archive", conv.id, {"from": "active"}),
        ("unarchive", conv.id, {"from": "archived"}),
        ("create", fork.id, {"title": "branch", "forked_from": conv.id, "up_to_seq": 1}),
        ("delete", conv.id, {"title": "second"}),
    ]
    entries = _entries(store)
    assert {e.actor for e in entries} == {"local"}
    assert all(before <= e.at <= utcnow() for e in entries)


def test_failed_changes_leave_no_entry(stores: Stores) -> None:
    """The entry shares the change's transaction: no commit, no entry."""
    store = stores.open(audit_log=True)
    conv = store.create_conversation()
    with pytest.raises(Conflict):
        store.create_conversation(id=conv.id)
    missing = "0192f0c4-8a5e-7cc1-9a3b-2f6d1e0a4b7c"
    with pytest.raises(NotFound):
        store.delete_conversation(missing)
    with pytest.raises(NotFound):
        store.update_conversation(missing, title="x")
    with pytest.raises(NotFound):
        store.archive_conversation(missing)
    assert [e.action for e in _entries(store)] == ["create"]


def test_record_audit_for_exports_and_imports(stores: Stores) -> None:
    """What the store does not write itself (export, import) is recorded on request;
    bad input is refused whether or not audit is on."""
    store = stores.open(audit_log=True)
    conv = store.create_conversation()
    store.record_audit("export", conversation_id=conv.id, detail={"format": "markdown"})
    store.record_audit("import", detail={"format": "chatgpt", "conversations": 3})
    assert _log(store)[1:] == [
        ("export", conv.id, {"format": "markdown"}),
        ("import", None, {"format": "chatgpt", "conversations": 3}),
    ]
    with pytest.raises(InvalidInput, match="conversation id must be a UUID"):
        store.record_audit("export", conversation_id="not-a-uuid")
    with pytest.raises(NotFound):
        store.as_owner("mallory").record_audit("export", conversation_id=conv.id)
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        store.record_audit("export", detail=["a list"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="JSON-serialisable"):
        store.record_audit("export", detail={"when": object()})
    big = stores.open(audit_log=True, max_message_bytes=100)
    with pytest.raises(TooLarge):
        big.record_audit("export", detail={"x": "y" * 200})


def test_entries_are_scoped_to_their_owner(stores: Stores) -> None:
    """Another owner's actions are not in this owner's log."""
    alice = stores.open(owner="alice", audit_log=True)
    bob = stores.open(owner="bob", audit_log=True)
    alice.create_conversation(title="a")
    bob.create_conversation(title="b")
    assert [(e.actor, e.detail) for e in _entries(alice)] == [("alice", {"title": "a"})]
    assert [(e.actor, e.detail) for e in _entries(bob)] == [("bob", {"title": "b"})]


def test_pages_and_filters(stores: Stores) -> None:
    """Keyset pages cover every entry once, newest first; since and action narrow them."""
    store = stores.open(audit_log=True)
    convs = [store.create_conversation(title=f"c{i}") for i in range(5)]
    for conv in convs[:2]:
        store.archive_conversation(conv.id)
    seen: list[int] = []
    cursor = None
    while True:
        page = store.audit_entries(limit=3, cursor=cursor)
        seen += [e.id for e in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    everything = _entries(store)
    assert seen == [e.id for e in everything] and len(seen) == 7
    assert [(e.at, e.id) for e in everything] == sorted(
        ((e.at, e.id) for e in everything), reverse=True
    )
    assert [e.conversation_id for e in _entries(store, action="archive")] == [
        convs[1].id,
        convs[0].id,
    ]
    assert _entries(store, since=utcnow() + DAY) == []
    assert len(_entries(store, since=everything[-1].at)) == 7
    with pytest.raises(InvalidInput, match="cursor"):
        store.audit_entries(cursor="bogus")
    with pytest.raises(InvalidInput, match="audit action"):
        store.audit_entries(action="nope")
    with pytest.raises(InvalidInput, match="timezone-aware"):
        store.audit_entries(since=utcnow().replace(tzinfo=None))


def test_entries_expire(stores: Stores) -> None:
    """Entries older than audit_retention_days go, by expire_audit and by every cleanup
    run — even with audit since turned off — and only the store owner's unless asked."""
    alice = stores.open(owner="alice", audit_log=True, audit_retention_days=30)
    bob = stores.open(owner="bob", audit_log=True, audit_retention_days=30)
    alice.create_conversation()
    bob.create_conversation()
    assert alice.expire_audit(now=utcnow() + 29 * DAY) == 0
    assert alice.expire_audit(now=utcnow() + 31 * DAY) == 1
    assert _entries(alice) == [] and len(_entries(bob)) == 1
    quiet = stores.open(owner="bob", audit_retention_days=30)  # audit now off
    report = quiet.apply_cleanup(now=utcnow() + 31 * DAY)
    assert report.audit_expired == 1 and not report.enabled
    assert _entries(bob) == []
    alice.create_conversation()
    bob.create_conversation()
    assert alice.expire_audit(now=utcnow() + 31 * DAY, all_owners=True) == 2


def test_cleanup_is_recorded(stores: Stores) -> None:
    """Each trashed or purged conversation is recorded under its owner, by cleanup, and
    each run once with its counts under whoever ran it."""
    alice = stores.open(owner="alice", audit_log=True, cleanup_inactive_days=5)
    bob = stores.open(owner="bob", audit_log=True)
    mine = alice.create_conversation(title="mine")
    theirs = bob.create_conversation(title="theirs")
    now = utcnow()
    stores.set_all(updated_at=now - 6 * DAY)
    alice.apply_cleanup(now=now, all_owners=True)
    assert _log(bob)[-1] == (
        "trash",
        theirs.id,
        {"by": "cleanup", "reason": "inactive", "title": "theirs"},
    )
    assert _log(alice)[-2:] == [
        ("trash", mine.id, {"by": "cleanup", "reason": "inactive", "title": "mine"}),
        (
            "cleanup",
            None,
            {"trashed": 2, "purged": 0, "skipped": 0, "audit_expired": 0, "all_owners": True},
        ),
    ]
    assert json.loads(json.dumps(_entries(alice)[0].to_dict()))["action"] == "cleanup"
