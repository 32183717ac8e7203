"""The timeline and ack_tokens tables, exactly as the store's ``metadata.create_all`` made them before Alembic.

A database made that way is stamped at this revision instead of running it.

Revision ID: 0001
Revises:
Create Date: 2026-07-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the timeline and the ack-link uses."""
    op.create_table(
        "timeline",
        sa.Column("entry_id", sa.String(64), primary_key=True),
        sa.Column("activation_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index("ix_timeline_activation_id", "timeline", ["activation_id"])
    op.create_table(
        "ack_tokens",
        sa.Column("token_id", sa.String(100), primary_key=True),
        sa.Column("activation_id", sa.String(64), nullable=False),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("recipient", sa.String(300), nullable=False),
        sa.Column("response", sa.String(16), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ack_tokens_activation_id", "ack_tokens", ["activation_id"])


def downgrade() -> None:
    """Drop both tables (and every stored record)."""
    op.drop_index("ix_ack_tokens_activation_id", table_name="ack_tokens")
    op.drop_table("ack_tokens")
    op.drop_index("ix_timeline_activation_id", table_name="timeline")
    op.drop_table("timeline")
