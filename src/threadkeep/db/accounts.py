"""Users and API key rows (SPEC S8.2): what the server's key check reads and writes.

A key is stored as its public id, a salt and the hash of its secret (``accounts.py``
makes and checks them); nothing here sees a whole key. The two reads made on every
request — :func:`any_active` and :func:`key_to_check` — are prepared statements on
indexed lookups, run through ``Database.query`` (one statement, no transaction).
Revoking marks ``revoked_at``; rows are never deleted, so a listing can say when a key
stopped working.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from threadkeep.db.prepared import Prepared, Queryable
from threadkeep.db.schema import api_keys as k
from threadkeep.db.schema import users as u

__all__ = [
    "ApiKey",
    "KeyToCheck",
    "any_active",
    "ensure_user",
    "get_key",
    "insert_key",
    "key_to_check",
    "list_keys",
    "revoke",
    "touch",
    "user_exists",
]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key as a listing shows it: never its secret, nor the secret's hash."""

    id: str
    user: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def prefix(self) -> str:
        """How the key starts (``tk_<id>_``): enough to recognise it, not to use it."""
        return f"tk_{self.id}_"

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        """The key as JSON-ready values (datetimes in ISO 8601)."""
        return {
            "id": self.id,
            "user": self.user,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "last_used_at": None if self.last_used_at is None else self.last_used_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class KeyToCheck:
    """What checking a presented key needs: its owner, salt, hash and last use."""

    user: str
    salt: str
    secret_hash: str
    last_used_at: dt.datetime | None


def _datetime(value: Any) -> dt.datetime | None:
    # Prepared statements give SQLite's stored text, PostgreSQL's datetime.
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


_any_active = Prepared(sa.select(sa.literal(1)).where(k.c.revoked_at.is_(None)).limit(1))
_to_check = Prepared(
    sa.select(u.c.name, k.c.salt, k.c.secret_hash, k.c.last_used_at)
    .join(u, u.c.id == k.c.user_id)
    .where(k.c.id == sa.bindparam("key_id"), k.c.revoked_at.is_(None))
)


def any_active(conn: Queryable) -> bool:
    """Whether any unrevoked key exists (one entry of the partial index)."""
    return bool(_any_active.rows(conn, {}))


def key_to_check(conn: Queryable, key_id: str) -> KeyToCheck | None:
    """The unrevoked key with this id, or ``None``."""
    rows = _to_check.rows(conn, {"key_id": key_id})
    if not rows:
        return None
    name, salt, secret_hash, last_used_at = rows[0]
    return KeyToCheck(str(name), str(salt), str(secret_hash), _datetime(last_used_at))


def _insert_new(conn: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """Insert the row unless one with its key (or a unique value) exists; ``True`` when
    it was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(values).on_conflict_do_nothing()
    return conn.execute(statement.returning(table.c.id)).first() is not None


def ensure_user(conn: Connection, name: str, at: dt.datetime) -> bool:
    """Make user ``name`` unless it exists; ``True`` when it was made."""
    return _insert_new(conn, u, {"name": name, "created_at": at})


def user_exists(conn: Connection, name: str) -> bool:
    return conn.execute(sa.select(u.c.id).where(u.c.name == name)).first() is not None


def insert_key(
    conn: Connection, key_id: str, user: str, salt: str, secret_hash: str, at: dt.datetime
) -> bool:
    """Store a key of ``user`` (who must exist); ``False`` if the id is taken."""
    user_id = sa.select(u.c.id).where(u.c.name == user).scalar_subquery()
    return _insert_new(
        conn,
        k,
        {
            "id": key_id,
            "user_id": user_id,
            "salt": salt,
            "secret_hash": secret_hash,
            "created_at": at,
            "last_used_at": None,
            "revoked_at": None,
        },
    )


def touch(conn: Connection, key_id: str, at: dt.datetime) -> None:
    """Record that the key was used at ``at``."""
    conn.execute(k.update().where(k.c.id == key_id).values(last_used_at=at))


_listing = sa.select(k.c.id, u.c.name, k.c.created_at, k.c.last_used_at, k.c.revoked_at).join(
    u, u.c.id == k.c.user_id
)


def _keys(rows: Sequence[Any]) -> list[ApiKey]:
    return [
        ApiKey(
            id=str(row.id),
            user=str(row.name),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )
        for row in rows
    ]


def get_key(conn: Connection, key_id: str) -> ApiKey | None:
    """The key with this id, revoked or not, or ``None``."""
    return next(iter(_keys(conn.execute(_listing.where(k.c.id == key_id)).all())), None)


def list_keys(conn: Connection, *, user: str | None = None) -> list[ApiKey]:
    """Every key (of ``user``, or of everyone), by user name then creation."""
    query = _listing
    if user is not None:
        query = query.where(u.c.name == user)
    return _keys(conn.execute(query.order_by(u.c.name, k.c.created_at, k.c.id)).all())


def revoke(conn: Connection, key_ids: Sequence[str], at: dt.datetime) -> list[ApiKey]:
    """Mark the unrevoked keys among ``key_ids`` revoked at ``at``; return them as they
    are now (revoked keys already revoked are left alone and not returned)."""
    if not key_ids:
        return []
    doomed = sa.and_(k.c.id.in_(list(key_ids)), k.c.revoked_at.is_(None))
    found = _keys(
        conn.execute(
            _listing.where(doomed).order_by(k.c.created_at, k.c.id).with_for_update(of=k)
        ).all()
    )
    if found:
        conn.execute(k.update().where(doomed).values(revoked_at=at))
    return [replace(key, revoked_at=at) for key in found]
