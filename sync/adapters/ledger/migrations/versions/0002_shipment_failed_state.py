"""shipments may be 'failed': Google refused the shipLineItems, so the parcel never counts as shipped

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite cannot alter a CHECK constraint in place: batch mode copies the table.
    with op.batch_alter_table("shipments") as batch:
        batch.drop_constraint("ck_shipments_state", type_="check")
        batch.create_check_constraint("state", "state IN ('planned', 'shipped', 'delivered', 'failed')")


def downgrade() -> None:
    op.execute("DELETE FROM shipments WHERE state = 'failed'")
    with op.batch_alter_table("shipments") as batch:
        batch.drop_constraint("ck_shipments_state", type_="check")
        batch.create_check_constraint("state", "state IN ('planned', 'shipped', 'delivered')")
