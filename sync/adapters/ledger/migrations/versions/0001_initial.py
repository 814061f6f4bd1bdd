"""initial ledger: orders, operations, shipments, runs, kv, locks

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Timestamps are UTC; timestamptz where the database has it (SQLite stores naive UTC text).
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("google_order_id", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(32), nullable=True),
        sa.Column("merchant_order_id", sa.String(128), nullable=True),
        sa.Column("square_order_id", sa.String(192), nullable=True),
        sa.Column("square_version", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("placed_at", UTC_TS, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("total_minor", sa.BigInteger(), nullable=True),
        sa.Column("line_items", sa.JSON(), nullable=False),
        sa.Column("order_json", sa.JSON(), nullable=True),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("first_seen_at", UTC_TS, nullable=False),
        sa.Column("last_seen_at", UTC_TS, nullable=False),
        sa.Column("last_synced_at", UTC_TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTC_TS, nullable=True),
        sa.PrimaryKeyConstraint("google_order_id", name="pk_orders"),
    )
    op.create_index("ux_orders_merchant_order_id", "orders", ["merchant_order_id"], unique=True)
    op.create_index("ix_orders_square_order_id", "orders", ["square_order_id"])
    op.create_index("ix_orders_stage", "orders", ["stage"])

    op.create_table(
        "operations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("google_order_id", sa.String(64), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("operation_id", sa.String(192), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("execution_status", sa.String(32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("error_reason", sa.String(128), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.Column("done_at", UTC_TS, nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_operations"),
        sa.ForeignKeyConstraint(
            ["google_order_id"],
            ["orders.google_order_id"],
            name="fk_operations_google_order_id_orders",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "google_order_id", "target", "operation_id", name="uq_operations_google_order_id_target_operation_id"
        ),
        sa.CheckConstraint("target IN ('google', 'square')", name="ck_operations_target"),
        sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name="ck_operations_state"),
    )
    op.create_index("ix_operations_state_id", "operations", ["state", "id"])

    op.create_table(
        "shipments",
        sa.Column("google_order_id", sa.String(64), nullable=False),
        sa.Column("shipment_id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=True),
        sa.Column("tracking_id", sa.String(128), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("shipped_at", UTC_TS, nullable=True),
        sa.Column("delivered_at", UTC_TS, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("google_order_id", "shipment_id", name="pk_shipments"),
        sa.ForeignKeyConstraint(
            ["google_order_id"],
            ["orders.google_order_id"],
            name="fk_shipments_google_order_id_orders",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("source IN ('feed', 'square')", name="ck_shipments_source"),
        sa.CheckConstraint("state IN ('planned', 'shipped', 'delivered')", name="ck_shipments_state"),
    )

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", UTC_TS, nullable=False),
        sa.Column("finished_at", UTC_TS, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )

    op.create_table(
        "kv",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("updated_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_kv"),
    )

    op.create_table(
        "locks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("acquired_at", UTC_TS, nullable=False),
        sa.Column("expires_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_locks"),
    )


def downgrade() -> None:
    op.drop_table("locks")
    op.drop_table("kv")
    op.drop_table("runs")
    op.drop_table("shipments")
    op.drop_index("ix_operations_state_id", table_name="operations")
    op.drop_table("operations")
    op.drop_index("ix_orders_stage", table_name="orders")
    op.drop_index("ix_orders_square_order_id", table_name="orders")
    op.drop_index("ux_orders_merchant_order_id", table_name="orders")
    op.drop_table("orders")
