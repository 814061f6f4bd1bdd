"""The pure progress rules (sync/domain/progress.py): stages, confirmed counters, shipments."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from sync.domain.feed import ShipmentEvent
from sync.domain.orders import Order, ShipmentLine
from sync.domain.progress import (
    LineCounts,
    ShipmentSource,
    ShipmentState,
    Stage,
    StoredShipment,
    confirmed_line_counts,
    matching_shipment,
    shipped_units,
    stage_of,
    with_ledger_shipments,
)
from tests.unit.fixtures_google import google_order, shipment

T = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Progress:
    stage: Stage = Stage.NEW
    acknowledged: bool = True
    merchant_order_id: str | None = "OS-1"
    line_items: tuple[LineCounts, ...] = (LineCounts("LI-A", "sku-a", 2), LineCounts("LI-B", "sku-b", 1))


def parcel(sid: str, state: ShipmentState, *lines: tuple[str, int], **kw: object) -> StoredShipment:
    return StoredShipment(
        "TEST-1234-56-7890", sid, lines=tuple(ShipmentLine(li, q) for li, q in lines), state=state, **kw
    )


def test_stage_follows_the_ledger_facts() -> None:
    assert stage_of(Progress(acknowledged=False), []) is Stage.NEW
    assert stage_of(Progress(merchant_order_id=None), []) is Stage.ACKNOWLEDGED
    assert stage_of(Progress(), []) is Stage.OPEN
    assert stage_of(Progress(), [parcel("S1", ShipmentState.SHIPPED, ("LI-A", 1))]) is Stage.PARTIALLY_SHIPPED
    assert stage_of(Progress(), [parcel("S1", ShipmentState.PLANNED, ("LI-A", 2))]) is Stage.OPEN
    assert stage_of(Progress(), [parcel("S1", ShipmentState.FAILED, ("LI-A", 2), ("LI-B", 1))]) is Stage.OPEN
    both = parcel("S1", ShipmentState.SHIPPED, ("LI-A", 2), ("LI-B", 1))
    assert stage_of(Progress(), [both]) is Stage.SHIPPED
    assert stage_of(Progress(), [replace(both, state=ShipmentState.DELIVERED)]) is Stage.DELIVERED
    canceled = (LineCounts("LI-A", "sku-a", 2, canceled=2),)
    assert stage_of(Progress(line_items=canceled), []) is Stage.CANCELED
    assert stage_of(Progress(stage=Stage.RETURNED), [both]) is Stage.RETURNED
    # Shipments made before we saw the order count through Google's counters.
    before = (LineCounts("LI-A", "sku-a", 2, shipped=2, delivered=2),)
    assert stage_of(Progress(line_items=before), []) is Stage.DELIVERED


def test_confirmed_counts_add_what_google_confirmed_since_the_snapshot() -> None:
    snap = Order.from_google(
        google_order(status="partiallyShipped", shipments=[shipment("S0", [("LI-A", 1)])])
    )
    counts = confirmed_line_counts(
        snap,
        [
            parcel("S0", ShipmentState.DELIVERED, ("LI-A", 1)),  # in the snapshot: only its delivery
            parcel("S1", ShipmentState.SHIPPED, ("LI-A", 1), ("LI-B", 1)),
            parcel("S2", ShipmentState.PLANNED, ("LI-B", 1)),  # not confirmed
        ],
    )
    a, b = counts
    assert (a.line_item_id, a.shipped, a.delivered) == ("LI-A", 1, 1)  # the fixture counts 0 shipped
    assert (b.shipped, b.delivered, b.price_minor) == (1, 0, 500)


def test_shipped_units_counts_every_parcel_but_a_refused_one() -> None:
    shipments = [
        parcel("S1", ShipmentState.PLANNED, ("LI-A", 1)),
        parcel("S2", ShipmentState.FAILED, ("LI-B", 1)),
    ]
    assert shipped_units(Progress(), shipments) == 1
    assert shipped_units(Progress(line_items=(LineCounts("LI-A", "a", 3, shipped=3),)), shipments) == 3


def test_matching_shipment_by_id_else_by_carrier_and_tracking() -> None:
    stored = [parcel("S1", ShipmentState.SHIPPED, ("LI-A", 1), carrier="ups", tracking_id="1z 999")]
    event = ShipmentEvent(
        order_ref="TEST-1234-56-7890", shipment_id="other", carrier="UPS", tracking_id="1Z999",
        shipped_at=T, delivered_at=None, lines=(), rows=(),
    )
    assert matching_shipment(stored, event) is stored[0]
    assert matching_shipment(stored, replace(event, shipment_id_explicit=True)) is None
    assert matching_shipment(stored, replace(event, carrier="fedex")) is None


def test_with_ledger_shipments_adds_ours_but_not_refused_ones() -> None:
    order = Order.from_google(google_order())
    shipped = with_ledger_shipments(
        order,
        [
            parcel("S1", ShipmentState.SHIPPED, ("LI-A", 2), carrier="ups", tracking_id="1Z"),
            parcel("S2", ShipmentState.FAILED, ("LI-B", 1)),
        ],
    )
    assert [s.id for s in shipped.shipments] == ["S1"]
    assert shipped.line_item_by_id("LI-A").quantity_pending == 0
    assert shipped.line_item_by_id("LI-B").quantity_pending == 1


def test_records_coerce_and_validate_their_vocabulary() -> None:
    s = StoredShipment("G1", "S1", source="square", state="delivered")  # type: ignore[arg-type]
    assert s.state is ShipmentState.DELIVERED and s.source is ShipmentSource.SQUARE
    with pytest.raises(ValueError):
        StoredShipment("G1", "S1", state="lost")  # type: ignore[arg-type]
    assert [s.rank for s in ShipmentState] == [0, 1, 2, 3]
