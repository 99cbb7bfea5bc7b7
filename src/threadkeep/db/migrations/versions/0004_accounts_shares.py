"""Server accounts (users and their API keys) and share links.

``users`` are the owners the server knows by API key; ``api_keys`` keeps each key's
public id, a per-key salt and the keyed hash of its secret (the key itself is shown
once, when made, and never stored). Revoked keys are kept, marked with ``revoked_at``;
``ix_api_keys_active`` is partial on the unrevoked ones, so asking whether any key
exists — on every request to a loopback server — reads one index entry.

``shares`` holds each share link's redacted snapshot, keyed by the SHA-256 of its token
(a copy of the database does not reveal live links), and is deleted with its
conversation (foreign key ``ON DELETE CASCADE``, indexed so deleting a conversation
does not scan the table).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from threadkeep.db.column_types import JSONValue, UTCDateTime, UUIDString

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _big_integer() -> sa.types.TypeEngine[int]:
    # Plain INTEGER on SQLite, where only that type makes the key an alias of the rowid.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _big_integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", _big_integer(), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_api_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_index(
        "ix_api_keys_active",
        "api_keys",
        ["id"],
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "shares",
        sa.Column("id", UUIDString(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("conversation_id", UUIDString(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("snapshot", JSONValue(exact=True), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_shares_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shares")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_shares_token_hash")),
    )
    op.create_index("ix_shares_owner_id", "shares", ["owner", "id"])
    op.create_index("ix_shares_conversation_id", "shares", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_shares_conversation_id", table_name="shares")
    op.drop_index("ix_shares_owner_id", table_name="shares")
    op.drop_table("shares")
    op.drop_index("ix_api_keys_active", table_name="api_keys")
    op.drop_index("ix_api_keys_user_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("users")
