"""PostgreSQL search finds words inside URLs, paths, e-mails and version numbers.

PostgreSQL's text-search parser keeps ``https://docs.python.org/3/library``,
``src/threadkeep/redact.py``, ``user@example.com``, ``v1.2.3`` or ``3.14`` as single
url/file/email/version/float tokens, so a search for ``python``, ``redact`` or
``example`` found them on SQLite (FTS5's ``unicode61`` splits on every non-letter) but
not on PostgreSQL. The generated columns now turn ASCII punctuation into spaces before
``to_tsvector``, so both engines see the same words, with the same positions for
phrases (``foo-bar`` is ``foo bar`` on both). The characters are fixed, so the result
does not depend on the server's locale. A generated column's expression cannot be
altered, so each column and its GIN index are rebuilt.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The 32 ASCII punctuation characters, as an SQL literal (quote doubled; backslash is
# literal with standard_conforming_strings, the default since PostgreSQL 9.1).
_PUNCTUATION = "'!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~'"
_SPACES = "'" + " " * 32 + "'"

_MESSAGES_OLD = "to_tsvector('simple'::regconfig, left(content, 200000))"
_MESSAGES_NEW = (
    f"to_tsvector('simple'::regconfig, translate(left(content, 200000), {_PUNCTUATION}, {_SPACES}))"
)
_TITLES_OLD = "to_tsvector('simple'::regconfig, coalesce(title, ''))"
_TITLES_NEW = (
    f"to_tsvector('simple'::regconfig, translate(coalesce(title, ''), {_PUNCTUATION}, {_SPACES}))"
)


def _rebuild(messages: str, titles: str) -> None:
    for statement in (
        "DROP INDEX ix_messages_search_vector",
        "ALTER TABLE messages DROP COLUMN search_vector",
        "ALTER TABLE messages ADD COLUMN search_vector tsvector"
        f" GENERATED ALWAYS AS ({messages}) STORED",
        "CREATE INDEX ix_messages_search_vector ON messages USING gin (search_vector)",
        "DROP INDEX ix_conversations_title_vector",
        "ALTER TABLE conversations DROP COLUMN title_vector",
        "ALTER TABLE conversations ADD COLUMN title_vector tsvector"
        f" GENERATED ALWAYS AS ({titles}) STORED",
        "CREATE INDEX ix_conversations_title_vector ON conversations USING gin (title_vector)",
    ):
        op.execute(sa.text(statement))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(_MESSAGES_NEW, _TITLES_NEW)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(_MESSAGES_OLD, _TITLES_OLD)
