"""Sign-in and sessions (issue 15): each user's session generation, and an index for the sign-in throttle.

``users.session_generation`` is bumped on sign-out, a password change and disabling; a session cookie carries
the generation it was issued under and is dead once the user's has moved on. The audit log's index on
(username, action, at) serves the throttle's per-username lookups (failures, the last sign-in, the addresses
a user signed in from) without reading every page view of the last days.

Revision ID: 0003
Revises: 0002
Create Date: 2026-07-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the session generation (0 for every existing user: their current cookies stay valid) and the index."""
    op.add_column("users", sa.Column("session_generation", sa.Integer, nullable=False, server_default=sa.text("0")))
    op.create_index("ix_audit_log_username_action_at", "audit_log", ["username", "action", "at"])


def downgrade() -> None:
    """Drop the index and the session generation (SQLite rebuilds the users table for it)."""
    op.drop_index("ix_audit_log_username_action_at", table_name="audit_log")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
