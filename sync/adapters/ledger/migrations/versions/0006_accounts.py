"""ledger rows per account: an ``account`` column on every table but locks, first in each key

A Google order id, an operationId, a shipment id, a feed reject's key and a kv key are unique only
within one merchant account, so several [[accounts]] can share one ledger. The rows already there
belong to the one account whose ledger this was: the account that opens the ledger for this
upgrade (``Ledger(url, account=...)`` hands it over in ``config.attributes["account"]``; from the
alembic command line ``-x account=NAME``), else ``default``, the account of a configuration without
[[accounts]]. Nothing else moves: a single-account ledger keeps every row as it was.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from sync.config import ACCOUNT_NAME, DEFAULT_ACCOUNT

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCOUNT = sa.String(48)
# Tables with rows of an account, parents first.
TABLES = ("orders", "operations", "shipments", "feed_rejects", "runs", "report_history", "kv")
# operations lost its foreign key to orders in 0005 (live-channel intents have no orders row).
OLD_FKS = {"shipments": "fk_shipments_google_order_id_orders"}


def _account() -> str:
    """Whose rows the ledger holds so far: the opener's account (see the module's docstring)."""
    given = context.config.attributes.get("account") or context.get_x_argument(as_dictionary=True).get("account")
    account = str(given or DEFAULT_ACCOUNT)
    if not ACCOUNT_NAME.match(account):
        raise ValueError(f"account {account!r} is not an [[accounts]] name")
    return account


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    account = _account()
    for table in TABLES:
        op.add_column(table, sa.Column("account", ACCOUNT, nullable=True))
        op.execute(sa.table(table, sa.column("account", ACCOUNT)).update().values(account=account))
    if not _sqlite():
        # PostgreSQL: the orders key cannot change while the old references point at it. (SQLite
        # copies each table in batch mode, with foreign keys off: LedgerDatabase._migrating.)
        for table, fk in OLD_FKS.items():
            op.drop_constraint(fk, table, type_="foreignkey")

    with op.batch_alter_table("orders") as batch:
        batch.alter_column("account", existing_type=ACCOUNT, nullable=False)
        batch.drop_constraint("pk_orders", type_="primary")
        batch.create_primary_key("pk_orders", ["account", "google_order_id"])
        batch.drop_index("ux_orders_merchant_order_id")
        batch.create_index("ux_orders_merchant_order_id", ["account", "merchant_order_id"], unique=True)
        batch.drop_index("ix_orders_stage")
        batch.create_index("ix_orders_account_stage", ["account", "stage"])

    with op.batch_alter_table("operations") as batch:
        batch.alter_column("account", existing_type=ACCOUNT, nullable=False)
        batch.drop_constraint("uq_operations_google_order_id_target_operation_id", type_="unique")
        batch.create_unique_constraint(
            "uq_operations_account_google_order_id_target_operation_id",
            ["account", "google_order_id", "target", "operation_id"],
        )
        batch.drop_index("ix_operations_state_id")
        batch.create_index("ix_operations_account_state_id", ["account", "state", "id"])

    with op.batch_alter_table("shipments") as batch:
        batch.alter_column("account", existing_type=ACCOUNT, nullable=False)
        if _sqlite():
            batch.drop_constraint(OLD_FKS["shipments"], type_="foreignkey")
        batch.drop_constraint("pk_shipments", type_="primary")
        batch.create_primary_key("pk_shipments", ["account", "google_order_id", "shipment_id"])
        batch.create_foreign_key(
            "fk_shipments_account_orders",
            "orders",
            ["account", "google_order_id"],
            ["account", "google_order_id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("feed_rejects") as batch:
        batch.alter_column("account", existing_type=ACCOUNT, nullable=False)
        batch.drop_constraint("pk_feed_rejects", type_="primary")
        batch.create_primary_key("pk_feed_rejects", ["account", "reject_key"])
        batch.drop_index("ix_feed_rejects_state")
        batch.create_index("ix_feed_rejects_account_state", ["account", "state"])

    with op.batch_alter_table("kv") as batch:
        batch.alter_column("account", existing_type=ACCOUNT, nullable=False)
        batch.drop_constraint("pk_kv", type_="primary")
        batch.create_primary_key("pk_kv", ["account", "key"])

    for table in ("runs", "report_history"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("account", existing_type=ACCOUNT, nullable=False)
            batch.create_index(f"ix_{table}_account_id", ["account", "id"])


def downgrade() -> None:
    """Back to one account per ledger: refused while the ledger holds rows of two or more, since
    going back would have to drop some of them."""
    bind = op.get_bind()
    accounts: set[str] = set()
    for table in TABLES:
        accounts.update(bind.execute(sa.text(f"SELECT DISTINCT account FROM {table}")).scalars())
    if len(accounts) > 1:
        raise RuntimeError(
            f"the ledger holds the rows of {len(accounts)} accounts ({', '.join(sorted(accounts))}); a "
            "ledger before 0005 holds one: copy each account's rows to its own ledger first"
        )
    if not _sqlite():
        op.drop_constraint("fk_shipments_account_orders", "shipments", type_="foreignkey")

    for table in ("runs", "report_history"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_account_id")
            batch.drop_column("account")

    with op.batch_alter_table("kv") as batch:
        batch.drop_constraint("pk_kv", type_="primary")
        batch.create_primary_key("pk_kv", ["key"])
        batch.drop_column("account")

    with op.batch_alter_table("feed_rejects") as batch:
        batch.drop_index("ix_feed_rejects_account_state")
        batch.create_index("ix_feed_rejects_state", ["state"])
        batch.drop_constraint("pk_feed_rejects", type_="primary")
        batch.create_primary_key("pk_feed_rejects", ["reject_key"])
        batch.drop_column("account")

    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_account_stage")
        batch.create_index("ix_orders_stage", ["stage"])
        batch.drop_index("ux_orders_merchant_order_id")
        batch.create_index("ux_orders_merchant_order_id", ["merchant_order_id"], unique=True)
        batch.drop_constraint("pk_orders", type_="primary")
        batch.create_primary_key("pk_orders", ["google_order_id"])

    with op.batch_alter_table("shipments") as batch:
        if _sqlite():
            batch.drop_constraint("fk_shipments_account_orders", type_="foreignkey")
        batch.drop_constraint("pk_shipments", type_="primary")
        batch.create_primary_key("pk_shipments", ["google_order_id", "shipment_id"])
        batch.drop_column("account")
        batch.create_foreign_key(
            OLD_FKS["shipments"], "orders", ["google_order_id"], ["google_order_id"], ondelete="CASCADE"
        )

    with op.batch_alter_table("operations") as batch:
        batch.drop_index("ix_operations_account_state_id")
        batch.create_index("ix_operations_state_id", ["state", "id"])
        batch.drop_constraint("uq_operations_account_google_order_id_target_operation_id", type_="unique")
        batch.create_unique_constraint(
            "uq_operations_google_order_id_target_operation_id", ["google_order_id", "target", "operation_id"]
        )
        batch.drop_column("account")

    with op.batch_alter_table("orders") as batch:
        batch.drop_column("account")
