"""Web page sign-in rows (SPEC S10): what the session cookie check reads and writes.

A session is stored as its public id, the API key it was opened with, a salt and the
hash of its secret (``accounts.py`` makes and checks them); nothing here sees a whole
session token. The read made on every cookie-authenticated request —
:func:`session_to_check` — is one prepared statement on primary keys (the session's,
then its key's and the key's user's), run through ``Database.query``: it returns the
session only while it has not expired and its key is unrevoked, so neither an expiry
nor a revocation needs a write to take effect. Rows of expired sessions are deleted
by :func:`delete_expired` (each sign-in calls it) and closed ones by :func:`delete`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from threadkeep.db.prepared import Prepared, Queryable
from threadkeep.db.schema import api_keys as k
from threadkeep.db.schema import users as u
from threadkeep.db.schema import web_sessions as s

__all__ = [
    "SessionToCheck",
    "WebSession",
    "delete",
    "delete_expired",
    "delete_for_keys",
    "insert",
    "session_to_check",
]


@dataclass(frozen=True, slots=True)
class WebSession:
    """One web page session as its owner may see it: never its secret, nor its hash."""

    id: str
    user: str
    key_id: str
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SessionToCheck:
    """What checking a presented session token needs: its owner, salt and hash."""

    user: str
    salt: str
    secret_hash: str


_to_check = Prepared(
    sa.select(u.c.name, s.c.salt, s.c.secret_hash)
    .select_from(s)
    .join(k, k.c.id == s.c.key_id)
    .join(u, u.c.id == k.c.user_id)
    .where(
        s.c.id == sa.bindparam("session_id"),
        s.c.expires_at > sa.bindparam("now"),
        k.c.revoked_at.is_(None),
    )
)


def session_to_check(conn: Queryable, session_id: str, now: dt.datetime) -> SessionToCheck | None:
    """The session with this id if it is unexpired at ``now`` and its key unrevoked."""
    rows = _to_check.rows(conn, {"session_id": session_id, "now": now})
    if not rows:
        return None
    name, salt, secret_hash = rows[0]
    return SessionToCheck(str(name), str(salt), str(secret_hash))


def insert(
    conn: Connection,
    session_id: str,
    key_id: str,
    salt: str,
    secret_hash: str,
    created_at: dt.datetime,
    expires_at: dt.datetime,
) -> bool:
    """Store a session of key ``key_id`` if it is unrevoked; ``False`` when the id is
    taken or the key is not (or no longer) active — nothing is written then."""
    taken = conn.execute(sa.select(s.c.id).where(s.c.id == session_id)).first() is not None
    if taken:
        return False
    # INSERT ... SELECT: the key's being active is checked by the statement that writes.
    active_key = sa.select(
        sa.literal(session_id),
        k.c.id,
        sa.literal(salt),
        sa.literal(secret_hash),
        sa.literal(created_at, s.c.created_at.type),
        sa.literal(expires_at, s.c.expires_at.type),
    ).where(k.c.id == key_id, k.c.revoked_at.is_(None))
    columns = ["id", "key_id", "salt", "secret_hash", "created_at", "expires_at"]
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... SELECT.
    inserted = s.insert().from_select(columns, active_key).returning(s.c.id)
    return conn.execute(inserted).first() is not None


def delete(conn: Connection, session_id: str) -> bool:
    """Delete the session with this id; ``True`` when one was deleted."""
    return conn.execute(s.delete().where(s.c.id == session_id)).rowcount == 1


def delete_expired(conn: Connection, now: dt.datetime) -> int:
    """Delete the sessions expired at ``now``; how many were."""
    return conn.execute(s.delete().where(s.c.expires_at <= now)).rowcount


def delete_for_keys(conn: Connection, key_ids: list[str]) -> int:
    """Delete the sessions opened with these keys (they were revoked); how many."""
    if not key_ids:
        return 0
    return conn.execute(s.delete().where(s.c.key_id.in_(key_ids))).rowcount
