"""feed_rejects: rejected feed rows remembered by content; orders.square_skip_reason

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feed_rejects",
        sa.Column("reject_key", sa.String(64), nullable=False),
        sa.Column("content_key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("order_ref", sa.String(128), nullable=True),
        sa.Column("row", sa.JSON(), nullable=False),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("first_seen_at", UTC_TS, nullable=False),
        sa.Column("last_seen_at", UTC_TS, nullable=False),
        sa.Column("first_run_id", sa.Integer(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("rejects_file", sa.Text(), nullable=True),
        sa.Column("cleared_at", UTC_TS, nullable=True),
        sa.Column("cleared_why", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("reject_key", name="pk_feed_rejects"),
        sa.CheckConstraint("state IN ('open', 'cleared')", name="ck_feed_rejects_state"),
    )
    op.create_index("ix_feed_rejects_state", "feed_rejects", ["state"])
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("square_skip_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("square_skip_reason")
    op.drop_index("ix_feed_rejects_state", table_name="feed_rejects")
    op.drop_table("feed_rejects")
