"""Per-team API tokens for provider data access (issue 19, item 3).

Only a hash of each token is kept (SHA-256 of the token's text): the token is 32 random bytes, so a fast hash
is enough (nobody can guess their way through 2^256), and a leaked table gives no working token. A token
belongs to one team and reads that team's rows, or (``all_teams``: the on-call team's, DNS) every team's.
Revoked tokens stay listed (when, and what they were for); ``last_used_at`` says when one last read.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The api_tokens table; the hash is unique (each request looks its token up by it)."""
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("all_teams", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=True)


def downgrade() -> None:
    """Drop the tokens: every provider's access ends (the audit log keeps what they read)."""
    op.drop_index("ix_api_tokens_token_hash", table_name="api_tokens")
    op.drop_table("api_tokens")
