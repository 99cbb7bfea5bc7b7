"""The one schema of threadkeep, for SQLite and PostgreSQL alike.

``conversations`` carries the counters the rest depends on: ``last_seq`` is the seq
allocator (SPEC S2.4 — bumped in the same transaction that inserts, under the row lock on
PostgreSQL and the write lock on SQLite), and ``message_count``, ``token_count`` and
``preview`` are maintained with each write so listings never scan messages.

``messages`` keeps role, kind, content, status and seq in columns; a framework's raw item
lives in ``metadata``. Its integer ``pk`` is the rowid SQLite's full-text index will key
on; a message is addressed by ``(conversation_id, id)`` and ordered by
``(conversation_id, seq)``, both unique. Idempotency keys are unique per conversation
through a partial index, so appends without a key pay nothing for it.

Listings walk ``(owner, status, updated_at, id)`` backwards: a page costs its own size,
whatever the number of conversations. Pinned conversations also sit in a partial index
of their own, so pinned-first listings find them without a scan while appends to the
(many) unpinned conversations never touch it.

Changing anything here needs an Alembic revision in ``migrations/versions``; a test
fails when the two disagree.
"""

from __future__ import annotations

import sqlalchemy as sa

from threadkeep.db.column_types import JSONValue, UTCDateTime, UUIDString

__all__ = [
    "SEARCH_OBJECTS",
    "api_keys",
    "audit_log",
    "conversations",
    "is_search_object",
    "messages",
    "metadata",
    "quarantine",
    "run_turns",
    "runs",
    "shares",
    "users",
    "web_sessions",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _autoincrement_key(name: str) -> sa.Column[int]:
    """A 64-bit autoincrement primary key: plain ``INTEGER`` on SQLite, where only that
    type makes the column an alias of the rowid (the one the full-text index keys on)."""
    return sa.Column(
        name,
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", UUIDString(), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("title", sa.Text(), nullable=True),
    sa.Column("mode", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(64), nullable=True),
    sa.Column("provider_session_id", sa.Text(), nullable=True),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("context", JSONValue(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pinned", sa.Boolean(), nullable=False),
    sa.Column("tags", JSONValue(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("message_count", sa.Integer(), nullable=False),
    sa.Column("last_seq", sa.Integer(), nullable=False),
    sa.Column("token_count", sa.BigInteger(), nullable=False),
    sa.Column("preview", sa.Text(), nullable=True),
    sa.Column("forked_from_id", UUIDString(), nullable=True),
    sa.Column("forked_from_seq", sa.Integer(), nullable=True),
    sa.Column("trashed_at", UTCDateTime(), nullable=True),
    sa.Column("import_key", sa.String(200), nullable=True),
    sa.Index("ix_conversations_listing", "owner", "status", "updated_at", "id"),
    sa.Index(
        "ix_conversations_import_key",
        "owner",
        "import_key",
        unique=True,
        sqlite_where=sa.text("import_key IS NOT NULL"),
        postgresql_where=sa.text("import_key IS NOT NULL"),
    ),
    sa.Index(
        "ix_conversations_pinned",
        "owner",
        "status",
        "updated_at",
        "id",
        sqlite_where=sa.text("pinned = 1"),
        postgresql_where=sa.text("pinned"),
    ),
)

messages = sa.Table(
    "messages",
    metadata,
    _autoincrement_key("pk"),
    sa.Column("id", sa.String(200), nullable=False),
    sa.Column(
        "conversation_id",
        UUIDString(),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("metadata", JSONValue(exact=True), nullable=True),
    sa.Column("tokens", sa.Integer(), nullable=True),
    sa.Column("run_id", UUIDString(), nullable=True),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("conversation_id", "seq"),
    sa.UniqueConstraint("conversation_id", "id"),
    sa.Index(
        "ix_messages_idempotency",
        "conversation_id",
        "idempotency_key",
        unique=True,
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    ),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", UUIDString(), primary_key=True),
    sa.Column(
        "conversation_id",
        UUIDString(),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("resumed_session_id", sa.Text(), nullable=True),
    sa.Column("provider_session_id", sa.Text(), nullable=True),
    sa.Column("retried_without_resume", sa.Boolean(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("usage", JSONValue(exact=True), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Index("ix_runs_conversation_id_created_at", "conversation_id", "created_at"),
    sa.Index("ix_runs_status", "status"),
)

# One row per send waiting for or holding its conversation's turn (SPEC S4.5, across
# processes): the autoincrement id is the ticket, so the lowest live ticket of a
# conversation runs and the others wait in arrival order. A holder renews its lease
# while it waits and runs; a ticket whose lease lapsed (its process died) is skipped.
run_turns = sa.Table(
    "run_turns",
    metadata,
    _autoincrement_key("id"),
    sa.Column(
        "conversation_id",
        UUIDString(),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("run_id", UUIDString(), nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=False),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_run_turns_conversation_id_id", "conversation_id", "id"),
    sa.Index("ix_run_turns_run_id", "run_id"),
    # Never reuse a ticket number (SQLite would reuse the highest after a delete): a
    # holder judged dead that wakes up must not release a newer send's ticket.
    sqlite_autoincrement=True,
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    _autoincrement_key("id"),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    # No foreign key: the entry outlives the conversation it tells of.
    sa.Column("conversation_id", UUIDString(), nullable=True),
    sa.Column("detail", JSONValue(), nullable=True),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_actor_at", "actor", "at"),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    _autoincrement_key("id"),
    sa.Column("table_name", sa.String(32), nullable=False),
    sa.Column("row_key", sa.String(200), nullable=False),
    sa.Column("column_name", sa.String(64), nullable=False),
    sa.Column("raw_value", sa.Text(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("quarantined_at", UTCDateTime(), nullable=False),
)

# Server accounts (SPEC S8.2): a user is an owner name; each of their API keys is looked
# up by its public id (the ``tk_<id>_<secret>`` key names it) and checked against a
# salted hash of its secret, never stored in the clear. Revoked keys stay, marked, so
# ``users ls`` can say when; ``ix_api_keys_active`` holds the unrevoked ones only, so
# "does any key exist" (asked on every loopback request) reads one index entry.
users = sa.Table(
    "users",
    metadata,
    _autoincrement_key("id"),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("name"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "user_id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Index("ix_api_keys_user_id", "user_id"),
    sa.Index(
        "ix_api_keys_active",
        "id",
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    ),
)

# Web page sign-ins (SPEC S10): a browser that signed in with an API key holds a
# session token (``tks_<id>_<secret>``) in a cookie; like a key, only a salted hash of
# its secret is stored. A session works while it has not expired and the key it was
# opened with is unrevoked (the check joins ``api_keys``), so revoking a key ends its
# sessions at once. ``ix_web_sessions_expires_at`` lets a sign-in delete the expired
# ones without a scan.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "key_id",
        sa.String(32),
        sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_web_sessions_key_id", "key_id"),
    sa.Index("ix_web_sessions_expires_at", "expires_at"),
)

# Share links (SPEC S6.5): a redacted snapshot of a conversation, frozen when the link
# was made, reached by a token of which only the SHA-256 is stored (a copy of the
# database does not reveal live links). Deleted with the conversation; revoking a link
# deletes its row. ``title`` and ``message_count`` repeat what the snapshot holds so the
# owner's listing does not read snapshots.
shares = sa.Table(
    "shares",
    metadata,
    sa.Column("id", UUIDString(), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column(
        "conversation_id",
        UUIDString(),
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("title", sa.Text(), nullable=True),
    sa.Column("message_count", sa.Integer(), nullable=False),
    sa.Column("snapshot", JSONValue(exact=True), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("token_hash"),
    sa.Index("ix_shares_owner_id", "owner", "id"),
    sa.Index("ix_shares_conversation_id", "conversation_id"),
)

# Full-text search lives outside this metadata because each engine builds it its own way
# (revision 0002 and ``search.py`` say how): FTS5 virtual tables, their shadow tables and
# triggers on SQLite; generated tsvector columns with GIN indexes on PostgreSQL. Alembic's
# comparison skips these names.
SEARCH_OBJECTS = frozenset(
    {
        "messages_fts",
        "conversation_titles",
        "conversation_titles_fts",
        "search_vector",
        "title_vector",
        "ix_messages_search_vector",
        "ix_conversations_title_vector",
    }
)


def is_search_object(name: str | None) -> bool:
    """True for the engine-specific search objects (and FTS5's shadow tables)."""
    if name is None:
        return False
    if name in SEARCH_OBJECTS:
        return True
    base, shadow, _ = name.partition("_fts_")
    return bool(shadow) and base + "_fts" in SEARCH_OBJECTS
