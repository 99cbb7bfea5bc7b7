"""Users and their API keys: making, checking, listing and revoking keys (SPEC S8.2).

A user is an owner name (the same names the store scopes conversations by, checked with
``inputs.check_owner``); the server serves each key's requests as that owner. A user
is made with their first key and never deleted; revoking takes away their keys.

A key looks like ``tk_<id>_<secret>``: ``id`` is 16 hex characters, public, shown by
``users ls`` and used to find the key's row; ``secret`` is 32 random bytes
(``secrets.token_urlsafe``). Only a salted hash of the secret is stored — HMAC-SHA256
keyed with a random per-key salt. A slow password hash (scrypt, argon2) would protect
nothing more here: it exists to slow the guessing of low-entropy passwords, and a
256-bit random secret cannot be guessed, so it would only add tens of milliseconds to
every request. The plain key is returned once, by :meth:`Accounts.add_user`, and
exists nowhere afterwards. Hashes are compared with ``hmac.compare_digest``, and an
unknown id costs the same hashing as a known one.

Every check reads the database, so a key made or revoked by the CLI while the server
runs counts at once: :meth:`Accounts.has_keys` and the row lookup of
:meth:`Accounts.authenticate` are each one indexed statement. A key's ``last_used_at``
is written at most once a minute per key, so checking is not a write per request.

Key changes are recorded in the audit log (``key_create``, ``key_revoke``, with the
key's id, under the user's name as actor) when the ``audit_log`` setting is on, in the
transaction that makes the change.

**Web page sessions** (SPEC S10) are made the same way: signing in with a valid key
(:meth:`Accounts.open_session`) gives a token ``tks_<id>_<secret>`` that the browser
keeps in an HttpOnly cookie; the database keeps the id, the key it was opened with, a
salt, the HMAC of the secret and when it expires (``web_session_days``). Checking one
(:meth:`Accounts.session_owner`, on every request the cookie authenticates) is one
indexed read that also requires the session unexpired and its key unrevoked, so
revoking a key ends its sessions at once (:meth:`Accounts.revoke` also deletes their
rows); unknown ids cost the same hashing as known ones, and nothing is written on a
check (a session's life is fixed at sign-in, not slid by use). Signing in and out is
not in the audit log: its vocabulary (``models.AUDIT_ACTIONS``) records changes to
conversations and keys, and a sign-in changes neither.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from typing import Any

from threadkeep.db import accounts as account_rows
from threadkeep.db import web_sessions as session_rows
from threadkeep.db.accounts import ApiKey
from threadkeep.db.engine import Connection, Database
from threadkeep.db.web_sessions import WebSession
from threadkeep.errors import InvalidInput, NotFound
from threadkeep.inputs import check_owner
from threadkeep.settings import Settings
from threadkeep.store.audit import write_audit_entries

__all__ = ["KEY_PREFIX", "SESSION_PREFIX", "Accounts", "ApiKey", "WebSession"]

KEY_PREFIX = "tk_"
SESSION_PREFIX = "tks_"
_ID_BYTES = 8  # 16 hex characters
_SECRET_BYTES = 32
_SALT_BYTES = 16
_MAX_KEY_LENGTH = 256
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_KEY = re.compile(r"tk_([0-9a-f]{16})_([A-Za-z0-9_-]{20,128})")
_KEY_NAME = re.compile(r"tk_([0-9a-f]{16})(?:_.*)?", re.S)
_SESSION = re.compile(r"tks_([0-9a-f]{16})_([A-Za-z0-9_-]{20,128})")
# last_used_at is a "when, roughly" for people: rewriting it on every request would
# make each authenticated read a write.
_TOUCH_EVERY = dt.timedelta(minutes=1)
# Hashed in place of a missing key's, so an unknown id takes as long as a wrong secret.
_DUMMY_SALT = secrets.token_hex(_SALT_BYTES)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _hash(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


class Accounts:
    """The users and API keys of one database."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self._db = database
        self._settings = settings

    # ------------------------------------------------------------------ checking

    def has_keys(self) -> bool:
        """Whether any unrevoked API key exists (read from the database each call)."""
        with self._db.query() as conn:
            return account_rows.any_active(conn)

    def authenticate(self, key: str) -> str | None:
        """The user (owner) this key belongs to; ``None`` for a key that is malformed,
        unknown or revoked."""
        if not isinstance(key, str) or len(key) > _MAX_KEY_LENGTH:
            return None
        match = _KEY.fullmatch(key)
        if match is None:
            return None
        key_id, secret = match.groups()
        with self._db.query() as conn:
            found = account_rows.key_to_check(conn, key_id)
        if found is None:
            hmac.compare_digest(_hash(_DUMMY_SALT, secret), _DUMMY_SALT * 2)
            return None
        if not hmac.compare_digest(_hash(found.salt, secret), found.secret_hash):
            return None
        now = _now()
        if found.last_used_at is None or now - found.last_used_at >= _TOUCH_EVERY:
            with self._db.write() as conn:
                account_rows.touch(conn, key_id, now)
        return found.user

    # ------------------------------------------------------------- web sessions

    def open_session(self, key: str) -> tuple[WebSession, str]:
        """Sign in to the web page with API key ``key``: a new session of its user.

        Returns the session and its token, the only time the token exists outside the
        caller's hands (the browser's cookie). ``InvalidInput`` when the key is
        malformed, unknown or revoked — without saying which. Deletes the expired
        sessions of everyone on the way, so the table holds live sessions only.
        """
        user = self.authenticate(key)
        match = _KEY.fullmatch(key) if user is not None else None
        if user is None or match is None:
            raise InvalidInput("the API key is not valid (unknown or revoked)")
        key_id = match.group(1)
        salt = secrets.token_hex(_SALT_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        at = _now()
        expires_at = at + dt.timedelta(days=self._settings.web_session_days)
        with self._db.write() as conn:
            session_rows.delete_expired(conn, at)
            for _attempt in range(5):
                session_id = secrets.token_hex(_ID_BYTES)
                if session_rows.insert(
                    conn, session_id, key_id, salt, _hash(salt, secret), at, expires_at
                ):
                    break
                if account_rows.key_to_check(conn, key_id) is None:  # revoked meanwhile
                    raise InvalidInput("the API key is not valid (unknown or revoked)")
            else:  # five 64-bit collisions in a row: the random source is broken
                raise RuntimeError("could not pick an unused session id")
        info = WebSession(
            id=session_id, user=user, key_id=key_id, created_at=at, expires_at=expires_at
        )
        return info, f"{SESSION_PREFIX}{session_id}_{secret}"

    def session_owner(self, token: str) -> str | None:
        """The user whose session ``token`` is; ``None`` for a token that is
        malformed, unknown, closed, expired, or whose API key was revoked."""
        if not isinstance(token, str) or len(token) > _MAX_KEY_LENGTH:
            return None
        match = _SESSION.fullmatch(token)
        if match is None:
            return None
        session_id, secret = match.groups()
        with self._db.query() as conn:
            found = session_rows.session_to_check(conn, session_id, _now())
        if found is None:
            hmac.compare_digest(_hash(_DUMMY_SALT, secret), _DUMMY_SALT * 2)
            return None
        if not hmac.compare_digest(_hash(found.salt, secret), found.secret_hash):
            return None
        return found.user

    def close_session(self, token: str) -> None:
        """Sign out: the session ``token`` names ends (a no-op when it already has, or
        the token is not one). Only the holder of the whole token can close it."""
        if self.session_owner(token) is None:
            return
        match = _SESSION.fullmatch(token)
        assert match is not None  # noqa: S101 - session_owner just matched it
        with self._db.write() as conn:
            session_rows.delete(conn, match.group(1))

    # ------------------------------------------------------------------ managing

    def add_user(self, name: str) -> tuple[ApiKey, str]:
        """A new API key for user ``name``, made with it if new.

        Returns the key's listing entry and the key itself: the only time the key
        exists outside the caller's hands.
        """
        name = check_owner(name)
        salt = secrets.token_hex(_SALT_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        at = _now()
        with self._db.write() as conn:
            new_user = account_rows.ensure_user(conn, name, at)
            for _attempt in range(5):
                key_id = secrets.token_hex(_ID_BYTES)
                if account_rows.insert_key(conn, key_id, name, salt, _hash(salt, secret), at):
                    break
            else:  # five 64-bit collisions in a row: the random source is broken
                raise RuntimeError("could not pick an unused API key id")
            self._audit(conn, at, [(name, "key_create", {"key_id": key_id, "new_user": new_user})])
        info = ApiKey(id=key_id, user=name, created_at=at, last_used_at=None, revoked_at=None)
        return info, f"{KEY_PREFIX}{key_id}_{secret}"

    def list_keys(self, *, user: str | None = None) -> list[ApiKey]:
        """Every key, revoked ones too (of ``user``, or of everyone), by user then age."""
        if user is not None:
            user = check_owner(user)
        with self._db.read() as conn:
            return account_rows.list_keys(conn, user=user)

    def resolve(self, target: str) -> list[ApiKey]:
        """The unrevoked keys :meth:`revoke` would revoke for ``target`` (see there)."""
        with self._db.read() as conn:
            return [key for key in self._matching(conn, target) if key.active]

    def revoke(self, target: str) -> list[ApiKey]:
        """Revoke every key of user ``target``, or the one key ``target`` names.

        ``target`` is a user name, a key id (16 hex characters), or a key's prefix
        (``tk_<id>_``, or the whole key). Returns the keys revoked now — an empty list
        when they all were already. ``NotFound`` when no user or key is named so.
        Requests with a revoked key, or a web session opened with it, get 401 from
        then on.
        """
        at = _now()
        with self._db.write() as conn:
            ids = [key.id for key in self._matching(conn, target) if key.active]
            revoked = account_rows.revoke(conn, ids, at)
            # Their sessions would be refused anyway (the check joins the key); the
            # rows go too, so the table holds live sessions only.
            session_rows.delete_for_keys(conn, [key.id for key in revoked])
            self._audit(conn, at, [(key.user, "key_revoke", {"key_id": key.id}) for key in revoked])
        return revoked

    def _matching(self, conn: Connection, target: str) -> list[ApiKey]:
        if not isinstance(target, str) or not target.strip():
            raise InvalidInput("name a user or an API key id to revoke")
        named = _KEY_NAME.fullmatch(target)
        if named is not None:  # tk_<id>_... can only mean a key
            key_id = named.group(1)
            found = account_rows.get_key(conn, key_id)
            if found is None:
                raise NotFound(
                    f"no API key {KEY_PREFIX}{key_id}_: `threadkeep users ls` lists them"
                )
            return [found]
        user = account_rows.user_exists(conn, target)
        key = account_rows.get_key(conn, target) if _KEY_ID.fullmatch(target) else None
        if user and key is not None:
            raise InvalidInput(
                f"{target!r} is both a user and an API key id: name the key as "
                f"{KEY_PREFIX}{target}_ to revoke it alone"
            )
        if key is not None:
            return [key]
        if user:
            return account_rows.list_keys(conn, user=target)
        raise NotFound(f"no user or API key {target!r:.80}: `threadkeep users ls` lists them")

    def _audit(
        self, conn: Connection, at: dt.datetime, changes: Sequence[tuple[str, str, Any]]
    ) -> None:
        write_audit_entries(
            self._settings,
            conn,
            [
                {
                    "at": at,
                    "actor": user,
                    "action": action,
                    "conversation_id": None,
                    "detail": detail,
                }
                for user, action, detail in changes
            ],
        )
