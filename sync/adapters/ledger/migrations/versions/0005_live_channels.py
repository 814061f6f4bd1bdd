"""operations for the live Google channels: targets 'ucp' and 'ordertracking', no orders FK

Their intents are keyed by the Square order id (UCP orders and web-shop orders have no Google
order, so no ``orders`` row); the foreign key to ``orders`` goes. Nothing ever deleted orders,
so its ON DELETE CASCADE never fired.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite cannot alter constraints in place: batch mode copies the table.
    with op.batch_alter_table("operations") as batch:
        batch.drop_constraint(op.f(_target_check_name()), type_="check")
        batch.drop_constraint("fk_operations_google_order_id_orders", type_="foreignkey")
        batch.create_check_constraint("target", "target IN ('google', 'square', 'ucp', 'ordertracking')")


def _target_check_name() -> str:
    """The target CHECK's name as the database has it: 0001 created it under a doubled name
    (ck_operations_ck_operations_target, the naming convention applied twice), this revision
    under ck_operations_target, and a downgrade and upgrade again must find either."""
    checks = sa.inspect(op.get_bind()).get_check_constraints("operations")
    return next(c["name"] for c in checks if "target" in (c.get("sqltext") or "") and c.get("name"))


def downgrade() -> None:
    op.execute("DELETE FROM operations WHERE target IN ('ucp', 'ordertracking')")
    with op.batch_alter_table("operations") as batch:
        batch.drop_constraint(op.f(_target_check_name()), type_="check")
        batch.create_check_constraint("target", "target IN ('google', 'square')")
        batch.create_foreign_key(
            "fk_operations_google_order_id_orders",
            "orders",
            ["google_order_id"],
            ["google_order_id"],
            ondelete="CASCADE",
        )
