"""Web page sessions (SPEC S10, S8.2): ``Accounts.open_session`` and friends, on SQLite
and PostgreSQL.

What is guarded here:

* a session token is shown once and never stored: the row holds a salt and a keyed
  hash, and no column contains the token, its secret or the API key;
* only a valid API key opens a session; a wrong, malformed or revoked key is
  ``InvalidInput`` and writes nothing;
* a session is its key's user until it is closed, expires, or its key is revoked —
  revoked also by another process (the CLI beside the server), and with its rows gone;
* a tampered token (right id, wrong secret) is refused, and only the whole token can
  close its session;
* a sign-in deletes the sessions that have expired, so the table holds live ones only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
import sqlalchemy as sa

from threadkeep import ConversationStore, InvalidInput, Settings, open_store
from threadkeep.accounts import SESSION_PREFIX, Accounts
from threadkeep.db.schema import api_keys, web_sessions


def _rows(store: ConversationStore) -> list[dict[str, object]]:
    with store.database.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(web_sessions))]


def _expire(store: ConversationStore, session_id: str, ago: dt.timedelta) -> None:
    at = dt.datetime.now(dt.UTC) - ago
    with store.database.engine.begin() as conn:
        conn.execute(
            web_sessions.update().where(web_sessions.c.id == session_id).values(expires_at=at)
        )


def test_a_session_token_is_shown_once_and_only_its_salted_hash_is_stored(
    store: ConversationStore, accounts: Accounts
) -> None:
    """Guards against keeping session tokens in the clear: a copy of the database must
    not sign anyone in to the web page."""
    key_info, key = accounts.add_user("alice")
    session, token = accounts.open_session(key)
    prefix, session_id, secret = token.split("_", 2)
    assert f"{prefix}_" == SESSION_PREFIX and session_id == session.id and len(secret) >= 43
    assert session.user == "alice" and session.key_id == key_info.id
    assert session.expires_at - session.created_at == dt.timedelta(days=30)
    [row] = _rows(store)
    assert row["id"] == session_id and row["key_id"] == key_info.id
    stored = " ".join(str(value) for value in row.values())
    assert token not in stored and secret not in stored and key not in stored
    expected = hmac.new(bytes.fromhex(str(row["salt"])), secret.encode(), hashlib.sha256)
    assert row["secret_hash"] == expected.hexdigest()


def test_a_session_is_its_keys_user(accounts: Accounts) -> None:
    _info, alice_key = accounts.add_user("alice")
    _info, bob_key = accounts.add_user("bob")
    _session, alice = accounts.open_session(alice_key)
    _session, bob = accounts.open_session(bob_key)
    assert accounts.session_owner(alice) == "alice"
    assert accounts.session_owner(bob) == "bob"


def test_the_session_length_is_the_setting(db_url: str) -> None:
    with open_store(db_url, settings=Settings.load(web_session_days=2)) as store:
        accounts = Accounts(store.database, store.settings)
        _info, key = accounts.add_user("alice")
        session, _token = accounts.open_session(key)
    assert session.expires_at - session.created_at == dt.timedelta(days=2)


@pytest.mark.parametrize("setting", [0, -1])
def test_the_session_length_must_be_positive(setting: int) -> None:
    with pytest.raises(InvalidInput, match="web_session_days"):
        Settings.load(web_session_days=setting)


def test_only_a_valid_key_opens_a_session(store: ConversationStore, accounts: Accounts) -> None:
    _info, key = accounts.add_user("alice")
    key_id, secret = key.removeprefix("tk_").split("_", 1)
    wrong_secret = f"tk_{key_id}_{'A' * len(secret)}"
    for bad in (wrong_secret, "tk_0123456789abcdef_" + secret, "", "nonsense", key + "x" * 300):
        with pytest.raises(InvalidInput, match="not valid") as raised:
            accounts.open_session(bad)
        assert key not in str(raised.value)
    accounts.revoke("alice")
    with pytest.raises(InvalidInput):
        accounts.open_session(key)
    assert _rows(store) == []


def test_wrong_unknown_and_malformed_tokens_are_nobody(accounts: Accounts) -> None:
    _info, key = accounts.add_user("alice")
    session, token = accounts.open_session(key)
    secret = token.split("_", 2)[2]
    for bad in (
        f"{SESSION_PREFIX}{session.id}_{'A' * len(secret)}",  # right id, wrong secret
        f"{SESSION_PREFIX}0123456789abcdef_{secret}",  # unknown id
        key,  # an API key is not a session token
        token + "x",
        "",
        "tks_" + "x" * 500,
    ):
        assert accounts.session_owner(bad) is None
    assert accounts.session_owner(token) == "alice"


def test_closing_a_session_ends_it_and_only_it(
    store: ConversationStore, accounts: Accounts
) -> None:
    _info, key = accounts.add_user("alice")
    first, first_token = accounts.open_session(key)
    second, second_token = accounts.open_session(key)
    # A tampered token closes nothing: only the holder of the whole token can.
    accounts.close_session(f"{SESSION_PREFIX}{first.id}_{'A' * 43}")
    assert accounts.session_owner(first_token) == "alice"
    accounts.close_session(first_token)
    assert accounts.session_owner(first_token) is None
    assert accounts.session_owner(second_token) == "alice"
    assert [row["id"] for row in _rows(store)] == [second.id]
    accounts.close_session(first_token)  # again: nothing to do, no error
    accounts.close_session("nonsense")


def test_revoking_the_key_ends_its_sessions_at_once(
    store: ConversationStore, accounts: Accounts, other_process: Accounts
) -> None:
    """Guards against a signed-in browser outliving its key: `users revoke` run by
    another process (the CLI beside the server) ends the session at the next request."""
    _info, kept_key = accounts.add_user("alice")
    _info, doomed_key = accounts.add_user("alice")
    _session, kept = accounts.open_session(kept_key)
    _session, doomed = accounts.open_session(doomed_key)
    other_process.revoke(doomed_key)
    assert accounts.session_owner(doomed) is None
    assert accounts.session_owner(kept) == "alice"
    assert len(_rows(store)) == 1  # the revoked key's session row went with it


def test_a_revoked_keys_session_is_refused_even_if_its_row_stayed(
    store: ConversationStore, accounts: Accounts
) -> None:
    """The check itself requires the key unrevoked (a join), not only the delete at
    revocation: a session opened while the key was being revoked cannot survive it."""
    info, key = accounts.add_user("alice")
    _session, token = accounts.open_session(key)
    with store.database.engine.begin() as conn:
        conn.execute(
            api_keys.update()
            .where(api_keys.c.id == info.id)
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
    assert len(_rows(store)) == 1
    assert accounts.session_owner(token) is None


def test_an_expired_session_is_refused_and_later_deleted(
    store: ConversationStore, accounts: Accounts
) -> None:
    _info, key = accounts.add_user("alice")
    old, old_token = accounts.open_session(key)
    _expire(store, old.id, dt.timedelta(seconds=1))
    assert accounts.session_owner(old_token) is None
    new, new_token = accounts.open_session(key)  # the next sign-in clears it away
    assert [row["id"] for row in _rows(store)] == [new.id]
    assert accounts.session_owner(new_token) == "alice"
