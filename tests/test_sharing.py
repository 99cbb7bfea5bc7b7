"""Share links as a use case (SPEC S6.5), on SQLite and PostgreSQL.

What is guarded here:

* the snapshot is redacted — title and content — whatever ``redact_exports`` says, and
  holds nothing but what the page shows (no ids, owner, metadata or context);
* it is a snapshot: later changes to the conversation do not reach it;
* only the token's SHA-256 is stored;
* revoking, or deleting the conversation, makes the token unknown, like a random one;
* another owner can neither share, list nor revoke someone else's conversation or
  share: ``NotFound``, as for an id that does not exist;
* a damaged stored snapshot is ``NotFound`` (and logged), never a crash;
* listing pages and limits, audit entries.
"""

from __future__ import annotations

import hashlib
import logging

import pytest
import sqlalchemy as sa

from threadkeep import (
    ConversationStore,
    InvalidInput,
    MessageDraft,
    NotFound,
    Settings,
    TooLarge,
    open_store,
    sharing,
)
from threadkeep.ids import new_id

SECRET = "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF"
RANDOM_TOKEN = "Q" * 43


def _conversation(store: ConversationStore) -> str:
    conversation = store.create_conversation(
        title=f"deploy with {SECRET}",
        context={"workspace": "/home/alice/secret-project"},
    )
    store.append_messages(
        conversation.id,
        [
            MessageDraft(role="user", content=f"my key is {SECRET}, keep it safe"),
            MessageDraft(
                role="assistant",
                content="noted",
                metadata={"raw": "framework item", "key": SECRET},
            ),
        ],
    )
    return conversation.id


def _column(store: ConversationStore, sql: str) -> list[object]:
    with store.database.engine.connect() as conn:
        return list(conn.execute(sa.text(sql)).scalars())


def test_the_snapshot_is_redacted_and_holds_only_what_the_page_shows(
    db_url: str,
) -> None:
    """Guards against a share link leaking a secret or anything beyond the messages:
    redaction applies even with redact_exports off."""
    with open_store(db_url, settings=Settings.load(redact_exports=False)) as store:
        cid = _conversation(store)
        made = sharing.create_share(store, cid)
        assert made.redacted == {"openai": 2}
        snapshot = sharing.shared_snapshot(store.database, made.token)
        data = snapshot.to_dict()
    assert set(data) == {"version", "title", "created_at", "shared_at", "messages"}
    assert data["title"] == "deploy with [REDACTED:openai]"
    assert [set(m) for m in data["messages"]] == [
        {"role", "kind", "status", "content", "created_at"}
    ] * 2
    assert [m["content"] for m in data["messages"]] == [
        "my key is [REDACTED:openai], keep it safe",
        "noted",
    ]
    text = repr(data)
    for leak in (SECRET, cid, "local", "secret-project", "framework item", made.share.id):
        assert leak not in text
    assert made.share.title == data["title"] and made.share.message_count == 2


def test_a_snapshot_does_not_follow_later_changes(store: ConversationStore) -> None:
    cid = _conversation(store)
    made = sharing.create_share(store, cid)
    store.append_message(cid, "user", "added after sharing")
    store.update_conversation(cid, title="renamed")
    snapshot = sharing.shared_snapshot(store.database, made.token)
    assert len(snapshot.messages) == 2
    assert snapshot.title == "deploy with [REDACTED:openai]"


def test_only_the_hash_of_the_token_is_stored(store: ConversationStore) -> None:
    """Guards against live links in a copy of the database."""
    made = sharing.create_share(store, _conversation(store))
    assert len(made.token) >= 43
    with store.database.engine.connect() as conn:
        [row] = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM shares"))]
    assert row["token_hash"] == hashlib.sha256(made.token.encode()).hexdigest()
    assert made.token not in " ".join(str(value) for value in row.values())


def test_revoked_and_unknown_tokens_are_not_found_alike(store: ConversationStore) -> None:
    made = sharing.create_share(store, _conversation(store))
    kept = sharing.create_share(store, made.share.conversation_id)
    gone = sharing.revoke_share(store, made.share.id)
    assert gone == made.share
    messages = []
    for token in (made.token, RANDOM_TOKEN, "short", "../../etc/passwd", "x" * 500, ""):
        with pytest.raises(NotFound) as caught:
            sharing.shared_snapshot(store.database, token)
        messages.append(str(caught.value))
    assert len(set(messages)) == 1
    assert sharing.shared_snapshot(store.database, kept.token).title is not None
    with pytest.raises(NotFound, match=f"share {made.share.id} not found"):
        sharing.revoke_share(store, made.share.id)


def test_deleting_the_conversation_deletes_its_links(store: ConversationStore) -> None:
    cid = _conversation(store)
    made = sharing.create_share(store, cid)
    store.delete_conversation(cid)
    with pytest.raises(NotFound):
        sharing.shared_snapshot(store.database, made.token)
    assert _column(store, "SELECT count(*) FROM shares") == [0]
    assert sharing.list_shares(store).items == []


def test_another_owner_cannot_share_list_or_revoke(store: ConversationStore) -> None:
    """Guards against an IDOR: bob names alice's conversation and share ids."""
    cid = _conversation(store)
    made = sharing.create_share(store, cid)
    bob = store.as_owner("bob")
    with pytest.raises(NotFound, match=f"conversation {cid} not found"):
        sharing.create_share(bob, cid)
    with pytest.raises(NotFound, match=f"share {made.share.id} not found"):
        sharing.revoke_share(bob, made.share.id)
    assert sharing.list_shares(bob).items == []
    assert sharing.list_shares(bob, conversation_id=cid).items == []
    assert [s.id for s in sharing.list_shares(store).items] == [made.share.id]
    # The same answers as for ids that exist nowhere.
    unknown = new_id()
    with pytest.raises(NotFound, match=f"conversation {unknown} not found"):
        sharing.create_share(bob, unknown)
    with pytest.raises(NotFound, match=f"share {unknown} not found"):
        sharing.revoke_share(bob, unknown)


def test_listing_pages_newest_first(store: ConversationStore) -> None:
    first = _conversation(store)
    second = store.create_conversation(title="second").id
    made = [sharing.create_share(store, cid).share for cid in (first, second, first)]
    page = sharing.list_shares(store, limit=2)
    assert [s.id for s in page.items] == [made[2].id, made[1].id]
    assert page.next_cursor is not None
    rest = sharing.list_shares(store, limit=2, cursor=page.next_cursor)
    assert [s.id for s in rest.items] == [made[0].id] and rest.next_cursor is None
    only_first = sharing.list_shares(store, conversation_id=first)
    assert [s.id for s in only_first.items] == [made[2].id, made[0].id]
    with pytest.raises(InvalidInput, match="cursor"):
        sharing.list_shares(store, cursor="not-a-cursor")
    with pytest.raises(InvalidInput, match="limit"):
        sharing.list_shares(store, limit=0)
    with pytest.raises(InvalidInput, match="conversation id"):
        sharing.list_shares(store, conversation_id="nope")


def test_an_empty_conversation_can_be_shared(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    made = sharing.create_share(store, cid)
    snapshot = sharing.shared_snapshot(store.database, made.token)
    assert snapshot.title is None and snapshot.messages == ()


def test_a_long_conversation_is_read_page_by_page(
    store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sharing, "_PAGE", 3)
    cid = store.create_conversation().id
    store.append_messages(
        cid, [MessageDraft(role="user", content=f"message {n}") for n in range(1, 8)]
    )
    made = sharing.create_share(store, cid)
    snapshot = sharing.shared_snapshot(store.database, made.token)
    assert [m.content for m in snapshot.messages] == [f"message {n}" for n in range(1, 8)]


def test_a_conversation_too_large_to_share_is_refused(
    store: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sharing, "MAX_SNAPSHOT_BYTES", 20)
    cid = store.create_conversation().id
    store.append_message(cid, "user", "x" * 21)
    with pytest.raises(TooLarge, match="fork"):
        sharing.create_share(store, cid)
    assert sharing.list_shares(store).items == []


def test_a_damaged_snapshot_is_not_found_and_logged(
    store: ConversationStore, caplog: pytest.LogCaptureFixture
) -> None:
    made = sharing.create_share(store, _conversation(store))
    with store.database.engine.begin() as conn:
        conn.execute(sa.text("""UPDATE shares SET snapshot = '{"version": 99}'"""))
    with caplog.at_level(logging.WARNING, logger="threadkeep.sharing"):
        with pytest.raises(NotFound):
            sharing.shared_snapshot(store.database, made.token)
    assert made.share.id in caplog.text and made.token not in caplog.text


def test_sharing_is_audited_when_the_audit_log_is_on(db_url: str) -> None:
    with open_store(db_url, settings=Settings.load(audit_log=True)) as store:
        cid = _conversation(store)
        made = sharing.create_share(store, cid)
        sharing.revoke_share(store, made.share.id)
        entries = store.audit_entries(action="share").items
        assert [(e.conversation_id, e.detail) for e in entries] == [
            (cid, {"share_id": made.share.id})
        ]
        [unshared] = store.audit_entries(action="unshare").items
        assert unshared.detail == {"share_id": made.share.id}
