"""Standdowns (issue 17): a team stood down, or an area muted, for a window, kept in the review store.

The review store is their source of truth (what the pages list, audited); the compacted ``standdowns``
topic is how the workers agree on them. ``published_at`` is when the current version (as added, or as
ended) was last acknowledged by the topic: None while a change is stored but not yet sent (the pages and
`vigil standdown list` say so, and `vigil standdown publish` or the page's re-send button sends it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The standdowns table, with an index on when each starts (the listing reads the newest first)."""
    op.create_table(
        "standdowns",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("team", sa.String(100), nullable=True),
        sa.Column("area", sa.String(100), nullable=True),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("added_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends", sa.DateTime(timezone=True), nullable=True),
        sa.Column("weekly_days", sa.String(27), nullable=True),
        sa.Column("weekly_start", sa.String(5), nullable=True),
        sa.Column("weekly_end", sa.String(5), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(100), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_standdowns_starts", "standdowns", ["starts"])


def downgrade() -> None:
    """Drop the standdowns (the topic keeps what was sent; the audit log keeps who changed what)."""
    op.drop_index("ix_standdowns_starts", table_name="standdowns")
    op.drop_table("standdowns")
