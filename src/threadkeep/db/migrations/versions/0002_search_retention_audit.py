"""Full-text search, the trash, import keys, the audit log and the quarantine.

Search is built the way each engine does it best, and kept in sync by the database
itself inside every write transaction, so no write path (append, update, pop, clear,
delete, fork, import, the message cap) can forget it:

* SQLite: ``messages_fts`` is an FTS5 index with *external content* on ``messages``
  keyed by its integer ``pk`` (the text is stored once), maintained by three triggers.
  Titles need a stable integer key too, and ``conversations`` has none (its implicit
  rowid may change on ``VACUUM``), so ``conversation_titles`` maps an integer ``pk`` to
  each conversation id and title (kept by triggers on ``conversations``) and
  ``conversation_titles_fts`` indexes it. Tokenizer ``unicode61 remove_diacritics 2``:
  words are runs of letters and digits, case and accents folded.
* PostgreSQL: generated ``tsvector`` columns (``simple`` configuration: no stemming, as
  on SQLite) with GIN indexes. PostgreSQL refuses a tsvector over 1 MB, so the first
  200,000 characters of a message are indexed.

``trashed_at`` marks conversations cleanup moved to the trash (status ``trash``);
``import_key`` (unique per owner) makes re-importing a source a no-op.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from threadkeep.db.column_types import JSONValue, UTCDateTime, UUIDString

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TOKENIZE = "unicode61 remove_diacritics 2"

_SQLITE_UP = [
    f"""CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='pk', tokenize='{_TOKENIZE}')""",
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.pk, new.content);
    END""",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
        VALUES ('delete', old.pk, old.content);
    END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
        VALUES ('delete', old.pk, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.pk, new.content);
    END""",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
    """CREATE TABLE conversation_titles (
        pk INTEGER PRIMARY KEY,
        conversation_id VARCHAR(36) NOT NULL UNIQUE,
        title TEXT)""",
    f"""CREATE VIRTUAL TABLE conversation_titles_fts USING fts5(
        title, content='conversation_titles', content_rowid='pk', tokenize='{_TOKENIZE}')""",
    """CREATE TRIGGER conversation_titles_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO conversation_titles(conversation_id, title) VALUES (new.id, new.title);
    END""",
    """CREATE TRIGGER conversation_titles_update AFTER UPDATE OF title ON conversations BEGIN
        UPDATE conversation_titles SET title = new.title WHERE conversation_id = new.id;
    END""",
    """CREATE TRIGGER conversation_titles_delete AFTER DELETE ON conversations BEGIN
        DELETE FROM conversation_titles WHERE conversation_id = old.id;
    END""",
    """CREATE TRIGGER conversation_titles_fts_insert AFTER INSERT ON conversation_titles BEGIN
        INSERT INTO conversation_titles_fts(rowid, title) VALUES (new.pk, new.title);
    END""",
    """CREATE TRIGGER conversation_titles_fts_delete AFTER DELETE ON conversation_titles BEGIN
        INSERT INTO conversation_titles_fts(conversation_titles_fts, rowid, title)
        VALUES ('delete', old.pk, old.title);
    END""",
    """CREATE TRIGGER conversation_titles_fts_update AFTER UPDATE OF title
        ON conversation_titles BEGIN
        INSERT INTO conversation_titles_fts(conversation_titles_fts, rowid, title)
        VALUES ('delete', old.pk, old.title);
        INSERT INTO conversation_titles_fts(rowid, title) VALUES (new.pk, new.title);
    END""",
    "INSERT INTO conversation_titles(conversation_id, title) SELECT id, title FROM conversations",
]

_SQLITE_DOWN = [
    "DROP TRIGGER conversation_titles_fts_update",
    "DROP TRIGGER conversation_titles_fts_delete",
    "DROP TRIGGER conversation_titles_fts_insert",
    "DROP TRIGGER conversation_titles_delete",
    "DROP TRIGGER conversation_titles_update",
    "DROP TRIGGER conversation_titles_insert",
    "DROP TABLE conversation_titles_fts",
    "DROP TABLE conversation_titles",
    "DROP TRIGGER messages_fts_update",
    "DROP TRIGGER messages_fts_delete",
    "DROP TRIGGER messages_fts_insert",
    "DROP TABLE messages_fts",
]

_POSTGRESQL_UP = [
    """ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS
        (to_tsvector('simple'::regconfig, left(content, 200000))) STORED""",
    "CREATE INDEX ix_messages_search_vector ON messages USING gin (search_vector)",
    """ALTER TABLE conversations ADD COLUMN title_vector tsvector GENERATED ALWAYS AS
        (to_tsvector('simple'::regconfig, coalesce(title, ''))) STORED""",
    "CREATE INDEX ix_conversations_title_vector ON conversations USING gin (title_vector)",
]

_POSTGRESQL_DOWN = [
    "DROP INDEX ix_conversations_title_vector",
    "ALTER TABLE conversations DROP COLUMN title_vector",
    "DROP INDEX ix_messages_search_vector",
    "ALTER TABLE messages DROP COLUMN search_vector",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(sa.text(statement))


def upgrade() -> None:
    op.add_column("conversations", sa.Column("trashed_at", UTCDateTime(), nullable=True))
    op.add_column("conversations", sa.Column("import_key", sa.String(200), nullable=True))
    op.create_index(
        "ix_conversations_import_key",
        "conversations",
        ["owner", "import_key"],
        unique=True,
        sqlite_where=sa.text("import_key IS NOT NULL"),
        postgresql_where=sa.text("import_key IS NOT NULL"),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("conversation_id", UUIDString(), nullable=True),
        sa.Column("detail", JSONValue(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"])
    op.create_table(
        "quarantine",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("table_name", sa.String(32), nullable=False),
        sa.Column("row_key", sa.String(200), nullable=False),
        sa.Column("column_name", sa.String(64), nullable=False),
        sa.Column("raw_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("quarantined_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
    )
    dialect = op.get_bind().dialect.name
    _run(_SQLITE_UP if dialect == "sqlite" else _POSTGRESQL_UP)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(_SQLITE_DOWN if dialect == "sqlite" else _POSTGRESQL_DOWN)
    op.drop_table("quarantine")
    op.drop_index("ix_audit_log_actor_at", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_conversations_import_key", table_name="conversations")
    # Plain DROP COLUMN (SQLite 3.35+), never a batch table copy: copying
    # ``conversations`` drops the old table, and its cascade would delete every message.
    op.drop_column("conversations", "import_key")
    op.drop_column("conversations", "trashed_at")
