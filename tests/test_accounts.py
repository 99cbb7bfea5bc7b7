"""Users and API keys (SPEC S8.2), on SQLite and PostgreSQL.

What is guarded here:

* a key is shown once and never stored: the table holds a salt and a keyed hash, and
  no column of any row contains the key or its secret;
* a key authenticates as its user; a wrong secret, an unknown id, a malformed or a
  revoked key does not;
* whether any key exists is read from the database on every call, so a key made or
  revoked by another process (the CLI beside a running server) counts at once;
* revoking by user, by key id and by key prefix, and the errors of a bad target;
* last use is recorded, but not rewritten on every request;
* key changes reach the audit log when it is on, and only then.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
import sqlalchemy as sa

from threadkeep import ConversationStore, InvalidInput, NotFound, Settings, open_store
from threadkeep.accounts import Accounts


def _rows(store: ConversationStore, table: str) -> list[dict[str, object]]:
    with store.database.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]


def test_a_key_is_shown_once_and_only_its_salted_hash_is_stored(
    store: ConversationStore, accounts: Accounts
) -> None:
    """Guards against keeping keys in the clear: a copy of the database must not give
    anyone a working key."""
    info, key = accounts.add_user("alice")
    prefix, key_id, secret = key.split("_", 2)
    assert prefix == "tk" and key_id == info.id and len(secret) >= 43
    [row] = _rows(store, "api_keys")
    assert row["id"] == key_id
    stored = " ".join(str(value) for value in row.values())
    assert key not in stored and secret not in stored
    expected = hmac.new(bytes.fromhex(str(row["salt"])), secret.encode(), hashlib.sha256)
    assert row["secret_hash"] == expected.hexdigest()
    # The listing never shows it either.
    [listed] = accounts.list_keys()
    assert secret not in repr(listed) and secret not in str(listed.to_dict())
    assert listed.prefix == f"tk_{key_id}_"


def test_every_key_has_its_own_salt(store: ConversationStore, accounts: Accounts) -> None:
    accounts.add_user("alice")
    accounts.add_user("alice")
    salts = {row["salt"] for row in _rows(store, "api_keys")}
    assert len(salts) == 2
    assert [row["name"] for row in _rows(store, "users")] == ["alice"]


def test_a_key_authenticates_as_its_user(accounts: Accounts) -> None:
    _, alice = accounts.add_user("alice")
    _, bob = accounts.add_user("bob")
    assert accounts.authenticate(alice) == "alice"
    assert accounts.authenticate(bob) == "bob"


def test_wrong_unknown_and_malformed_keys_do_not_authenticate(accounts: Accounts) -> None:
    _, key = accounts.add_user("alice")
    key_id = key.split("_")[1]
    other_id = "0" * 16 if key_id != "0" * 16 else "1" * 16
    wrong_secret = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    for candidate in [
        wrong_secret,
        key.replace(key_id, other_id),
        "",
        "tk_",
        key_id,
        key + "x" * 300,
        key.upper(),
        key[3:],
        f"tk_{key_id}_",
        f"tk_{key_id}_short",
        "sk-" + key,
        key + "\n",
    ]:
        assert accounts.authenticate(candidate) is None, candidate


def test_has_keys_reads_the_database_each_time(accounts: Accounts, other_process: Accounts) -> None:
    """Guards against a cached answer: a key added by the CLI while the server runs
    must take effect at once, and so must revoking the last one."""
    assert not accounts.has_keys()
    _, key = other_process.add_user("alice")
    assert accounts.has_keys()
    assert accounts.authenticate(key) == "alice"
    other_process.revoke("alice")
    assert not accounts.has_keys()
    assert accounts.authenticate(key) is None


def test_revoking_a_user_revokes_all_their_keys(accounts: Accounts) -> None:
    _, first = accounts.add_user("alice")
    _, second = accounts.add_user("alice")
    _, bob = accounts.add_user("bob")
    revoked = accounts.revoke("alice")
    assert {key.user for key in revoked} == {"alice"} and len(revoked) == 2
    assert all(key.revoked_at is not None for key in revoked)
    assert accounts.authenticate(first) is None
    assert accounts.authenticate(second) is None
    assert accounts.authenticate(bob) == "bob"
    assert accounts.revoke("alice") == []  # nothing left to revoke: not an error
    listed = {key.id: key for key in accounts.list_keys()}
    assert len(listed) == 3
    assert [key.active for key in accounts.list_keys(user="alice")] == [False, False]


@pytest.mark.parametrize("form", ["id", "prefix", "whole key"])
def test_revoking_one_key_by_id_or_prefix(accounts: Accounts, form: str) -> None:
    info, first = accounts.add_user("alice")
    _, second = accounts.add_user("alice")
    target = {"id": info.id, "prefix": info.prefix, "whole key": first}[form]
    assert accounts.resolve(target) == [info]
    [revoked] = accounts.revoke(target)
    assert revoked.id == info.id
    assert accounts.authenticate(first) is None
    assert accounts.authenticate(second) == "alice"


def test_revoking_what_does_not_exist_is_not_found(accounts: Accounts) -> None:
    accounts.add_user("alice")
    with pytest.raises(NotFound, match="no user or API key 'nobody'"):
        accounts.revoke("nobody")
    with pytest.raises(NotFound, match="no API key tk_0123456789abcdef_"):
        accounts.revoke("tk_0123456789abcdef_")
    with pytest.raises(InvalidInput):
        accounts.revoke("  ")


def test_a_user_named_like_a_key_id_is_told_apart(accounts: Accounts) -> None:
    info, _ = accounts.add_user("alice")
    accounts.add_user(info.id)  # a user whose name is alice's key id
    with pytest.raises(InvalidInput, match="both a user and an API key id"):
        accounts.revoke(info.id)
    [revoked] = accounts.revoke(info.prefix)
    assert revoked.user == "alice"


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_user_names_are_checked(accounts: Accounts, name: str) -> None:
    with pytest.raises(InvalidInput, match="owner must be"):
        accounts.add_user(name)
    assert accounts.list_keys() == []


def test_last_use_is_recorded_at_most_once_a_minute(accounts: Accounts) -> None:
    info, key = accounts.add_user("alice")
    assert info.last_used_at is None
    assert accounts.authenticate(key) == "alice"
    [used] = accounts.list_keys()
    assert used.last_used_at is not None
    assert accounts.authenticate(key) == "alice"
    [again] = accounts.list_keys()
    assert again.last_used_at == used.last_used_at


def test_key_changes_are_audited_when_the_audit_log_is_on(db_url: str) -> None:
    with open_store(db_url, settings=Settings.load(audit_log=True)) as store:
        accounts = Accounts(store.database, store.settings)
        info, _ = accounts.add_user("alice")
        accounts.revoke("alice")
        entries = store.as_owner("alice").audit_entries().items
        assert [(e.action, e.detail) for e in reversed(entries)] == [
            ("key_create", {"key_id": info.id, "new_user": True}),
            ("key_revoke", {"key_id": info.id}),
        ]
        assert [e.action for e in store.as_owner("alice").audit_entries(action="key_revoke").items]


def test_key_changes_are_not_audited_when_the_audit_log_is_off(
    store: ConversationStore, accounts: Accounts
) -> None:
    accounts.add_user("alice")
    accounts.revoke("alice")
    assert _rows(store, "audit_log") == []
