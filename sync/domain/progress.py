"""Where an order stands in the sync, from the ledger's facts (pure).

The ledger keeps, per order, Google's last snapshot and its line counters (``LineCounts``), and
per parcel a ``StoredShipment`` that moves PLANNED -> SHIPPED -> DELIVERED (or PLANNED -> FAILED
when Google refuses the shipLineItems: that parcel never left). These rules turn those facts into
the order's ``Stage``, the line counters Google has confirmed to us since its snapshot, and the
order as we know it now (Google's snapshot plus our shipments since).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sync.domain.feed import ShipmentEvent
from sync.domain.operations import tracking_key
from sync.domain.orders import LineItem, Order, Shipment, ShipmentLine


class Stage(StrEnum):
    """An order's place in our pipeline (the ledger's ``orders.stage``)."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    OPEN = "open"  # acknowledged, merchant id confirmed, nothing shipped yet
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELED = "canceled"
    RETURNED = "returned"


TERMINAL_STAGES: frozenset[Stage] = frozenset({Stage.DELIVERED, Stage.CANCELED, Stage.RETURNED})


class ShipmentState(StrEnum):
    """A parcel's state, in rank order: it never moves backwards. FAILED is reached only from
    PLANNED (Google refused the shipLineItems) and never counts as shipped."""

    PLANNED = "planned"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def left(self) -> bool:
        """Google has the parcel as shipped (or delivered)."""
        return self in (ShipmentState.SHIPPED, ShipmentState.DELIVERED)


_RANK = {state: rank for rank, state in enumerate(ShipmentState)}


class ShipmentSource(StrEnum):
    """Who reported a parcel: the warehouse's shipments feed, or a Square fulfilment."""

    FEED = "feed"
    SQUARE = "square"


@dataclass(frozen=True, slots=True)
class LineCounts:
    """One line item's counters as the ledger keeps them (Google's, plus what Google confirmed to
    us since its snapshot), and its money in minor units."""

    line_item_id: str
    offer_id: str
    ordered: int
    shipped: int = 0
    delivered: int = 0
    canceled: int = 0
    returned: int = 0
    price_minor: int = 0
    tax_minor: int = 0

    @classmethod
    def of(cls, li: LineItem) -> LineCounts:
        return cls(
            li.id,
            li.offer_id,
            li.quantity_ordered,
            li.quantity_shipped,
            li.quantity_delivered,
            li.quantity_canceled,
            li.quantity_returned,
            li.price_minor,
            li.tax_minor,
        )

    @property
    def to_ship(self) -> int:
        return self.ordered - self.canceled


@dataclass(frozen=True, slots=True)
class StoredShipment:
    """A parcel as the ledger keeps it; its id is deterministic, so a resend cannot ship twice."""

    order_id: str
    shipment_id: str
    source: ShipmentSource = ShipmentSource.FEED
    carrier: str | None = None
    tracking_id: str | None = None
    lines: tuple[ShipmentLine, ...] = ()
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    state: ShipmentState = ShipmentState.PLANNED
    created_at: datetime | None = None  # set by the ledger
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if type(self.state) is not ShipmentState:
            object.__setattr__(self, "state", ShipmentState(self.state))
        if type(self.source) is not ShipmentSource:
            object.__setattr__(self, "source", ShipmentSource(self.source))
        if not self.order_id or not self.shipment_id:
            raise ValueError("a shipment needs its order id and shipment_id")

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


class OrderProgress(Protocol):
    """What the stage rule needs of an order (the ledger's ``OrderRecord`` has it)."""

    @property
    def stage(self) -> Stage: ...
    @property
    def acknowledged(self) -> bool: ...
    @property
    def merchant_order_id(self) -> str | None: ...
    @property
    def line_items(self) -> tuple[LineCounts, ...]: ...


def stage_of(progress: OrderProgress, shipments: Sequence[StoredShipment]) -> Stage:
    """Where an order stands in our pipeline, from the ledger's facts."""
    if progress.stage in (Stage.CANCELED, Stage.RETURNED):
        return progress.stage
    if not progress.acknowledged:
        return Stage.NEW
    if not progress.merchant_order_id:
        return Stage.ACKNOWLEDGED
    to_ship = sum(li.to_ship for li in progress.line_items)
    if to_ship <= 0:
        return Stage.CANCELED
    live = [s for s in shipments if s.state.left]
    shipped = sum(s.units for s in live)
    delivered = sum(s.units for s in live if s.state == ShipmentState.DELIVERED)
    # Shipments made before we saw the order are in Google's counters, not in our table.
    shipped = max(shipped, sum(li.shipped for li in progress.line_items))
    delivered = max(delivered, sum(li.delivered for li in progress.line_items))
    if delivered >= to_ship:
        return Stage.DELIVERED
    if shipped >= to_ship:
        return Stage.SHIPPED
    if shipped > 0:
        return Stage.PARTIALLY_SHIPPED
    return Stage.OPEN


def confirmed_line_counts(snapshot: Order, shipments: Sequence[StoredShipment]) -> tuple[LineCounts, ...]:
    """Google's last counters plus the shipments and deliveries Google confirmed to us since."""
    in_snapshot = {s.id: s.status for s in snapshot.shipments}
    shipped: dict[str, int] = defaultdict(int)
    delivered: dict[str, int] = defaultdict(int)
    for shipment in shipments:
        if not shipment.state.left:
            continue
        for line in shipment.lines:
            if shipment.shipment_id not in in_snapshot:
                shipped[line.line_item_id] += line.quantity
            delivered_since = in_snapshot.get(shipment.shipment_id) != "delivered"
            if shipment.state == ShipmentState.DELIVERED and delivered_since:
                delivered[line.line_item_id] += line.quantity
    return tuple(
        LineCounts(
            li.id,
            li.offer_id,
            li.quantity_ordered,
            li.quantity_shipped + shipped.get(li.id, 0),
            li.quantity_delivered + delivered.get(li.id, 0),
            li.quantity_canceled,
            li.quantity_returned,
            li.price_minor,
            li.tax_minor,
        )
        for li in snapshot.line_items
    )


def shipped_units(progress: OrderProgress, shipments: Sequence[StoredShipment]) -> int:
    """Units that left or are planned to leave (every parcel but a refused one), or Google's
    shipped counters when those say more (shipments made before we saw the order)."""
    ours = sum(s.units for s in shipments if s.state != ShipmentState.FAILED)
    return max(ours, sum(li.shipped for li in progress.line_items))


def matching_shipment(
    shipments: Sequence[StoredShipment], event: ShipmentEvent
) -> StoredShipment | None:
    """The ledger shipment an event speaks of: by id, else by carrier and tracking id."""
    by_id = next((s for s in shipments if s.shipment_id == event.shipment_id), None)
    if by_id is not None or event.shipment_id_explicit or not event.tracking_id:
        return by_id
    key = tracking_key(event.tracking_id)
    return next(
        (
            s
            for s in shipments
            if s.tracking_id
            and tracking_key(s.tracking_id) == key
            and (s.carrier or "").casefold() == event.carrier.casefold()
        ),
        None,
    )


def with_ledger_shipments(order: Order, shipments: Sequence[StoredShipment]) -> Order:
    """Google's last snapshot plus the shipments we planned or made since it was taken.

    They join ``order.shipments`` too, so a parcel shipped from one source (a Square fulfilment)
    is recognised by carrier and tracking id when another source (the feed) reports it.
    """
    in_snapshot = {s.id for s in order.shipments}
    added: list[Shipment] = []
    for shipment in shipments:
        if shipment.shipment_id in in_snapshot or shipment.state == ShipmentState.FAILED:
            continue
        order = order.with_shipped((line.line_item_id, line.quantity) for line in shipment.lines)
        added.append(
            Shipment(
                id=shipment.shipment_id,
                carrier=shipment.carrier or "",
                tracking_id=shipment.tracking_id or "",
                status="delivered" if shipment.state == ShipmentState.DELIVERED else "shipped",
                creation_date=shipment.shipped_at,
                delivery_date=shipment.delivered_at,
                lines=shipment.lines,
            )
        )
    return replace(order, shipments=order.shipments + tuple(added)) if added else order
