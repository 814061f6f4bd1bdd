"""The ledger's tables as SQLAlchemy 2 declarative models.

The schema itself is created and upgraded only by the Alembic migrations in ``migrations/``; these
models must stay identical to what the migrations build (a test compares them). The repository
works on ``Model.__table__`` with Core statements, so bulk paths avoid per-row ORM overhead.

Every table but ``locks`` holds the rows of one merchant account each (``account``, the
``[[accounts]]`` name; ``default`` for a configuration without ``[[accounts]]``), and the keys
that ids are unique under start with it: a Google order id or an operationId is unique only
within its merchant account, so several accounts can share one ledger database.

All timestamps are UTC. SQLite has no time zones, so ``UTCDateTime`` stores naive UTC there and
hands back aware UTC datetimes everywhere; naive datetimes are refused on the way in, because a
naive value is ambiguous and would silently shift by the host's offset somewhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sync.domain.intents import IntentState, Target
from sync.domain.progress import TERMINAL_STAGES, ShipmentSource, ShipmentState, Stage

# The vocabulary is the domain's; the CHECK constraints below list the same values (a test pins
# them to the enums, and the migrations build exactly these models).
TARGETS = tuple(t.value for t in Target)
INTENT_STATES = tuple(s.value for s in IntentState)
SHIPMENT_STATES = tuple(s.value for s in ShipmentState)  # also the order of progress
SHIPMENT_SOURCES = tuple(s.value for s in ShipmentSource)
REJECT_STATES = ("open", "cleared")
DEFAULT_STAGE = Stage.NEW.value
# For SQL: the stages after which nothing more happens to an order, as plain strings.
TERMINAL_STAGE_VALUES = tuple(sorted(s.value for s in TERMINAL_STAGES))
ACCOUNT_LENGTH = 48  # an [[accounts]] name: 1-48 characters (sync.config.ACCOUNT_NAME)

# Stable constraint names, so later migrations (batch mode on SQLite) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime | str) -> datetime:
    """Aware UTC datetime from an aware datetime or an ISO 8601 string with an offset (or ``Z``)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime or ISO 8601 string, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the ledger; pass an aware one (UTC)")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out; naive UTC at rest on databases without time zones (SQLite)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = to_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # a value written by hand or another tool
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def account_column(*, primary_key: bool = False) -> Mapped[str]:
    """The merchant account a row belongs to; first in every key it is part of."""
    return mapped_column(String(ACCOUNT_LENGTH), primary_key=primary_key, nullable=False)


def _order_reference() -> ForeignKeyConstraint:
    """A row of an order: gone with its order (same account, same Google order id)."""
    return ForeignKeyConstraint(
        ["account", "google_order_id"], ["orders.account", "orders.google_order_id"], ondelete="CASCADE"
    )


class Order(Base):
    """One Google order as last seen, plus where we are with it (``stage``) and its Square twin."""

    __tablename__ = "orders"
    __table_args__ = (
        # Unique per account, and only when set: NULLs never collide in SQLite/PostgreSQL unique indexes.
        Index("ux_orders_merchant_order_id", "account", "merchant_order_id", unique=True),
        Index("ix_orders_square_order_id", "square_order_id"),
        Index("ix_orders_account_stage", "account", "stage"),
    )

    account: Mapped[str] = account_column(primary_key=True)
    google_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(String(32))
    merchant_order_id: Mapped[str | None] = mapped_column(String(128))
    square_order_id: Mapped[str | None] = mapped_column(String(192))
    square_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(32))
    acknowledged: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    currency: Mapped[str | None] = mapped_column(String(3))
    total_minor: Mapped[int | None] = mapped_column(BigInteger)
    # [{id, offer_id, ordered, shipped, delivered, canceled, returned, price_minor, tax_minor}]
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    order_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    stage: Mapped[str] = mapped_column(String(32), nullable=False, default=DEFAULT_STAGE)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why this order was deliberately not created in Square (it shipped before Square was enabled).
    square_skip_reason: Mapped[str | None] = mapped_column(Text)


class Operation(Base):
    """An intended mutation, committed before it is sent: the heart of exactly-once."""

    __tablename__ = "operations"
    __table_args__ = (
        UniqueConstraint("account", "google_order_id", "target", "operation_id"),
        CheckConstraint("target IN ('google', 'square', 'ucp', 'ordertracking')", name="target"),
        CheckConstraint("state IN ('pending', 'done', 'failed')", name="state"),
        Index("ix_operations_account_state_id", "account", "state", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = account_column()
    # The order key: a Google order id (an ``orders`` row) or, for the live Google channels (UCP,
    # order tracking), a Square order id with no ``orders`` row, hence no foreign key (0005).
    google_order_id: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    operation_id: Mapped[str] = mapped_column(String(192), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    execution_status: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_reason: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_id: Mapped[int | None] = mapped_column(Integer)


class Shipment(Base):
    """A fulfilment event of an order; its id is deterministic so a resend cannot ship twice."""

    __tablename__ = "shipments"
    __table_args__ = (
        _order_reference(),
        CheckConstraint("source IN ('feed', 'square')", name="source"),
        CheckConstraint("state IN ('planned', 'shipped', 'delivered', 'failed')", name="state"),
    )

    account: Mapped[str] = account_column(primary_key=True)
    google_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    shipment_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="feed")
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_id: Mapped[str | None] = mapped_column(String(128))
    # [{line_item_id, quantity}]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="planned")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class FeedReject(Base):
    """A shipments-feed row (or a whole feed file) ordersync did not use, remembered by content.

    ``reject_key`` is ``sync.domain.feed.FeedReject.key``: the same row rejected for the same kind
    of reason in a later export is the same reject (not a new one); a corrected row is new. ``row``
    keeps the row as written ([[column, value], ...] in the file's order), so a retryable reject
    (an order not polled yet) is retried even once its export is gone, and every reject can be
    written back as a CSV the operator corrects and drops into the feed folder.
    """

    __tablename__ = "feed_rejects"
    __table_args__ = (
        CheckConstraint("state IN ('open', 'cleared')", name="state"),
        Index("ix_feed_rejects_account_state", "account", "state"),
    )

    account: Mapped[str] = account_column(primary_key=True)
    reject_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_key: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    order_ref: Mapped[str | None] = mapped_column(String(128))
    row: Mapped[list[list[str]]] = mapped_column(JSON, nullable=False, default=list)
    retryable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    first_run_id: Mapped[int | None] = mapped_column(Integer)
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    rejects_file: Mapped[str | None] = mapped_column(Text)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_why: Mapped[str | None] = mapped_column(Text)


class Run(Base):
    """One sync cycle (or other job): when, how it ended, and its summary counters."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_account_id", "account", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = account_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False, default="running")
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class ReportHistory(Base):
    """One reconciliation report's headline figures, for the report's trend over the last runs
    (a few dozen rows: older ones are pruned as new ones are written)."""

    __tablename__ = "report_history"
    __table_args__ = (Index("ix_report_history_account_id", "account", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = account_column()
    report_id: Mapped[str] = mapped_column(String(64), nullable=False)  # the reports/<run-id> folder
    written_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class KeyValue(Base):
    """Small JSON values such as poll cursors."""

    __tablename__ = "kv"

    account: Mapped[str] = account_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class LockRow(Base):
    """The cycle lock on databases where a file lock is not possible (anything but a SQLite file).
    Not per account: each account's lock has its own name (``cycle-<account>``)."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(Text, nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
