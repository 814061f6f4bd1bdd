"""What the ledger keeps, as plain records (the ledger adapter maps them to and from rows).

``OrderSnapshot`` is an order as Google showed it (written by ``upsert_orders``); ``OrderChanges``
sets some fields of a stored order (``update_orders``); ``OrderRecord`` is a stored order as read
back. ``RejectRecord`` is a remembered feed reject, ``RunRecord`` one run's bookkeeping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from sync.domain.orders import Order
from sync.domain.progress import TERMINAL_STAGES, LineCounts, Stage


@dataclass(frozen=True, slots=True)
class OrderRecord:
    google_order_id: str
    merchant_id: str | None
    merchant_order_id: str | None
    square_order_id: str | None
    square_version: int | None
    status: str | None
    acknowledged: bool
    placed_at: datetime | None
    currency: str | None
    total_minor: int | None
    line_items: tuple[LineCounts, ...]
    order_json: dict[str, Any] | None  # Google's last snapshot (None from a light read)
    stage: Stage
    first_seen_at: datetime
    last_seen_at: datetime
    last_synced_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    square_skip_reason: str | None = None  # not created in Square on purpose, and why

    @property
    def is_open(self) -> bool:
        return self.stage not in TERMINAL_STAGES


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """An order as Google showed it, seen at ``seen_at``. Fields left None are not written (a
    stored value stays); an order new to the ledger starts at Stage.NEW, first seen now."""

    google_order_id: str
    merchant_id: str | None = None
    status: str | None = None
    acknowledged: bool | None = None
    placed_at: datetime | None = None
    currency: str | None = None
    total_minor: int | None = None
    line_items: tuple[LineCounts, ...] | None = None
    order_json: Mapping[str, Any] | None = None
    merchant_order_id: str | None = None  # None: ours (if any) stays
    seen_at: datetime | None = None  # None: the ledger's now

    def __post_init__(self) -> None:
        if not self.google_order_id:
            raise ValueError("every order snapshot needs a google_order_id")
        total = self.total_minor
        if total is not None and (not isinstance(total, int) or isinstance(total, bool)):
            raise TypeError(
                f"order {self.google_order_id}: total_minor must be an int of minor units, got {total!r}"
            )

    @classmethod
    def of(cls, order: Order, seen_at: datetime) -> OrderSnapshot:
        return cls(
            google_order_id=order.id,
            merchant_id=order.merchant_id,
            status=order.status,
            acknowledged=order.acknowledged,
            placed_at=order.placed_date,
            currency=order.currency,
            total_minor=order.total_minor,
            line_items=tuple(LineCounts.of(li) for li in order.line_items),
            order_json=order.raw,
            merchant_order_id=order.merchant_order_id or None,
            seen_at=seen_at,
        )


@dataclass(frozen=True, slots=True)
class OrderChanges:
    """Fields to set on a stored order; a field left None is untouched."""

    stage: Stage | None = None
    acknowledged: bool | None = None
    merchant_order_id: str | None = None
    square_order_id: str | None = None
    square_version: int | None = None
    line_items: tuple[LineCounts, ...] | None = None
    status: str | None = None
    last_synced_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    square_skip_reason: str | None = None

    def __post_init__(self) -> None:
        if self.stage is not None and type(self.stage) is not Stage:
            object.__setattr__(self, "stage", Stage(self.stage))

    def merged(self, later: OrderChanges) -> OrderChanges:
        """These changes, then ``later``'s (its set fields win)."""
        return OrderChanges(
            *(new if new is not None else old for old, new in zip(self.values(), later.values(), strict=True))
        )

    def values(self) -> tuple[Any, ...]:
        """Every field's value, in field order (None: untouched)."""
        return _change_values(self)

    def set_fields(self) -> dict[str, Any]:
        """The fields this changes, by name."""
        return {
            name: value
            for name, value in zip(CHANGE_FIELDS, _change_values(self), strict=True)
            if value is not None
        }


CHANGE_FIELDS: tuple[str, ...] = tuple(OrderChanges.__slots__)
_change_values = attrgetter(*CHANGE_FIELDS)


@dataclass(frozen=True, slots=True)
class RejectRecord:
    """A remembered feed reject (the ledger's ``feed_rejects``)."""

    reject_key: str
    content_key: str
    kind: str
    source: str
    line_no: int
    reason: str
    order_ref: str | None
    row: list[list[str]]  # [[column, value], ...] as written in the feed
    retryable: bool
    state: str  # open | cleared
    first_seen_at: datetime
    last_seen_at: datetime
    first_run_id: int | None
    last_run_id: int | None
    rejects_file: str | None
    cleared_at: datetime | None
    cleared_why: str | None


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # running | interrupted | whatever finish_run was given
    summary: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


@dataclass(frozen=True, slots=True)
class ReportHistoryRecord:
    """A report's headline figures, kept for the next reports' trend."""

    report_id: str
    written_at: datetime
    figures: dict[str, Any]  # orders, breaks, by_status {status: n}, by_severity {severity: n}, ...
