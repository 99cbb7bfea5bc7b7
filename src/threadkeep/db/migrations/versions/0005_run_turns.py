"""Run turns: one run at a time per conversation, across processes (SPEC S4.5).

``run_turns`` holds a ticket for each send waiting for or holding its conversation's
turn. The autoincrement id orders the tickets (first come, first served); ``holder``
names the process (host, pid and a random token) so that a process starting up can
tell a run of a live process from one a dead process left behind; ``lease_until`` is
renewed by the holder and lets every other process skip a ticket whose holder stopped
renewing it; ``cancel_requested`` carries a cancel from another process to the one
running the turn. Ticket numbers are never reused (``AUTOINCREMENT`` on SQLite): a
holder judged dead that wakes up must not release a newer send's ticket. Deleted with
its conversation (``ON DELETE CASCADE``, indexed).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from threadkeep.db.column_types import UTCDateTime, UUIDString

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_turns",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("conversation_id", UUIDString(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("run_id", UUIDString(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_run_turns_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_turns")),
        sqlite_autoincrement=True,  # ticket numbers are never reused
    )
    op.create_index(op.f("ix_run_turns_conversation_id_id"), "run_turns", ["conversation_id", "id"])
    op.create_index(op.f("ix_run_turns_run_id"), "run_turns", ["run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_run_turns_run_id"), table_name="run_turns")
    op.drop_index(op.f("ix_run_turns_conversation_id_id"), table_name="run_turns")
    op.drop_table("run_turns")
