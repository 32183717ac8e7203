"""Ack links: one use per (token, answer) instead of one use per token (issue 16, item 6).

A person moves from "acknowledge" to "on my way" to "can't respond" while the link is valid; each answer is
recorded (and published) once. The primary key of ``ack_tokens`` becomes (token_id, response): the table is
rebuilt with its rows (SQLite cannot change a primary key in place), the same way on both databases.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = "token_id, activation_id, team, recipient, response, used_at"


def _rebuild(primary_key: list[str], copy: str) -> None:
    """``ack_tokens`` again with ``primary_key``, its rows copied by the ``copy`` SELECT."""
    op.create_table(
        "ack_tokens_new",
        sa.Column("token_id", sa.String(100), nullable=False),
        sa.Column("activation_id", sa.String(64), nullable=False),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("recipient", sa.String(300), nullable=False),
        sa.Column("response", sa.String(16), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*primary_key),
    )
    op.execute(f"INSERT INTO ack_tokens_new ({_COLUMNS}) {copy}")
    op.drop_index("ix_ack_tokens_activation_id", table_name="ack_tokens")
    op.drop_table("ack_tokens")
    op.rename_table("ack_tokens_new", "ack_tokens")
    op.create_index("ix_ack_tokens_activation_id", "ack_tokens", ["activation_id"])


def upgrade() -> None:
    """Every use kept; from now on one per answer."""
    _rebuild(["token_id", "response"], f"SELECT {_COLUMNS} FROM ack_tokens")


def downgrade() -> None:
    """One use per link again: each link keeps its first answer (the earliest; the answer's name breaks a tie)."""
    _rebuild(["token_id"], f"SELECT {_COLUMNS} FROM ack_tokens AS a WHERE NOT EXISTS (SELECT 1 FROM ack_tokens AS b "
                           "WHERE b.token_id = a.token_id AND (b.used_at < a.used_at OR (b.used_at = a.used_at AND b.response < a.response)))")
