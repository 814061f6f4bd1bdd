"""Step 6 (with an order system): what the store did in Square reaches Google.

SearchOrders on ``updated_at`` since a cursor kept in the ledger finds what changed; a COMPLETED
fulfilment ships its lines on Google (one shipment per fulfilment, the shipmentId derived from
the fulfilment uid), a PICKUP completion also delivers, a tracking change updates the shipment,
and a Square cancellation cancels the Google order. The cursor never passes an order whose
fulfilment could not be applied yet.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sync.domain import operations, planning
from sync.domain.carriers import UnknownCarrierError, normalize_carrier
from sync.domain.feed import EventLine, ShipmentEvent
from sync.domain.intents import Intent, google_intent
from sync.domain.orders import ShipmentLine
from sync.domain.progress import ShipmentSource, ShipmentState, Stage, StoredShipment
from sync.domain.records import OrderRecord
from sync.domain.square_mapping import completed_fulfilments
from sync.service.context import CycleContext
from sync.service.line_cancellations import reread_orders
from sync.service.order_reads import order_from_record, refresh_unreleased
from sync.service.outbox import Outbox
from sync.service.results import StepResult

CURSOR_KEY = "square.updated_since"


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    square = ctx.order_system
    assert square is not None, "a Square step runs only with an order system"
    since = ctx.ledger.get_value(CURSOR_KEY)
    newest = since
    held_at: str | None = None
    changed: list[dict[str, Any]] = []
    for square_order in square.iter_orders_updated_since(since, location_ids=[square.location_id()]):
        newest = max(newest or "", square_order.get("updated_at") or "")
        if square_order.get("reference_id"):
            changed.append(square_order)
    if not changed:
        return StepResult()
    records = refresh_unreleased(ctx, ctx.ledger.get_orders(o["reference_id"] for o in changed))
    known = ctx.ledger.known_shipment_ids(set(records))
    records = reread_before_shipping(ctx, outbox, changed, records, known)
    shipments = ctx.ledger.shipments_for(list(records))
    intents: list[Intent] = []
    planned: list[StoredShipment] = []
    now = ctx.clock()
    for square_order in changed:
        record = records.get(square_order["reference_id"])
        if record is None or record.square_order_id != square_order.get("id"):
            continue  # not one of ours (an order the store made by hand with a reference id)
        order_id = record.google_order_id
        stored = shipments.get(order_id, [])
        order = order_from_record(record, ctx.snapshots.parsed(record.order_json or {}), stored)
        if square_order.get("state") == "CANCELED" and record.stage != Stage.CANCELED:
            reason = "Canceled in the merchant's Square order system"
            intents.append(google_intent(order_id, planning.cancel_entry(order_id, "other", reason)))
            continue
        for fulfilment in completed_fulfilments(square_order):
            shipment_id = operations.square_shipment_id(square_order["id"], fulfilment.fulfillment_uid)
            seen = known.setdefault(order_id, set())
            try:
                aliases = ctx.settings.shipments.carrier_aliases
                carrier = normalize_carrier(fulfilment.carrier, aliases) if fulfilment.carrier else ""
            except UnknownCarrierError as exc:
                ctx.result.failed_orders.add(order_id)
                ctx.ledger.record_order_error(order_id, str(exc), now)
                continue
            if shipment_id in seen:
                retrack = tracking_change(order_id, stored, shipment_id, carrier, fulfilment.tracking_id)
                if retrack is not None:
                    intents.append(google_intent(order_id, retrack))
                continue
            lines = fulfilment.lines or tuple(
                (li.id, li.quantity_pending) for li in order.line_items if li.quantity_pending > 0
            )
            shipped_at = parse_time(fulfilment.shipped_at) or now
            event = ShipmentEvent(
                order_ref=order_id,
                shipment_id=shipment_id,
                carrier=carrier,
                tracking_id=fulfilment.tracking_id,
                shipped_at=shipped_at,
                delivered_at=shipped_at if fulfilment.kind == "PICKUP" else None,
                lines=tuple(EventLine(line_id, None, qty) for line_id, qty in lines),
                rows=(),
            )
            plan = planning.plan_shipment(order, event, seen)
            if plan is None:
                continue
            if isinstance(plan, planning.PlanProblem):
                ctx.result.failed_orders.add(order_id)
                ctx.ledger.record_order_error(order_id, plan.reason, now)
                if plan.retryable:
                    # e.g. Google has not released the order yet: read it again next cycle.
                    held_at = min(held_at or "\uffff", square_order.get("updated_at") or "")
                continue
            seen.add(shipment_id)
            order = order.with_shipped(plan.lines)
            intents.append(google_intent(order_id, plan.to_batch_entry()))
            planned.append(
                StoredShipment(
                    order_id,
                    shipment_id,
                    ShipmentSource.SQUARE,
                    carrier,
                    fulfilment.tracking_id,
                    tuple(ShipmentLine(li, q) for li, q in plan.lines),
                    shipped_at=event.shipped_at,
                    delivered_at=event.delivered_at,
                    updated_at=now,
                )
            )
    if planned:
        ctx.ledger.upsert_shipments(planned)
    settled = outbox.submit(intents)
    settled.add(outbox.submit(pickup_deliveries(ctx, planned)))
    cursor = min(newest, held_at) if newest and held_at else newest
    if cursor:
        ctx.ledger.set_value(CURSOR_KEY, cursor)
    return StepResult(settled)


def reread_before_shipping(
    ctx: CycleContext,
    outbox: Outbox,
    changed: list[dict[str, Any]],
    records: dict[str, OrderRecord],
    known: dict[str, set[str]],
) -> dict[str, OrderRecord]:
    """Orders with a fulfilment the store just completed are read from Google first: if units
    were canceled there since the last recheck, the shipment must leave them out (Google
    refuses to ship canceled units, and a refused parcel is never sent again)."""
    fresh_ids = {
        square_order["reference_id"]
        for square_order in changed
        for fulfilment in completed_fulfilments(square_order)
        if operations.square_shipment_id(square_order["id"], fulfilment.fulfillment_uid)
        not in known.get(square_order["reference_id"], set())
    }
    to_read = {oid: r for oid, r in records.items() if oid in fresh_ids and r.status != "inProgress"}
    if not to_read:
        return records
    reread = reread_orders(ctx, outbox, to_read)
    return records if reread is None else {**records, **reread}


def pickup_deliveries(ctx: CycleContext, planned: list[StoredShipment]) -> list[Intent]:
    """A completed pickup is shipped and delivered at once: deliver what just shipped."""
    pickups = [s for s in planned if s.delivered_at is not None]
    if not pickups:
        return []
    shipped = ctx.ledger.shipments_for([s.order_id for s in pickups])
    intents = []
    for pickup in pickups:
        current = next(
            (s for s in shipped.get(pickup.order_id, []) if s.shipment_id == pickup.shipment_id), None
        )
        if current is not None and current.state == ShipmentState.SHIPPED and pickup.delivered_at:
            plan = planning.DeliverPlan(
                pickup.order_id,
                pickup.shipment_id,
                operations.deliver_operation_id(pickup.shipment_id),
                pickup.delivered_at,
            )
            intents.append(google_intent(pickup.order_id, plan.to_batch_entry()))
    return intents


def tracking_change(
    order_id: str, shipments: list[StoredShipment], shipment_id: str, carrier: str, tracking_id: str
) -> dict[str, Any] | None:
    """updateShipment when the store corrected a shipped parcel's carrier or tracking id in Square."""
    current = next((s for s in shipments if s.shipment_id == shipment_id), None)
    if current is None or not current.state.left or not tracking_id:
        return None  # not confirmed on Google yet: the ship step sends the values it has
    if (current.carrier or "") == carrier and operations.tracking_key(current.tracking_id or "") == (
        operations.tracking_key(tracking_id)
    ):
        return None
    return {
        "method": "updateShipment",
        "orderId": order_id,
        "operationId": operations.tracking_operation_id(shipment_id, carrier, tracking_id),
        "updateShipment": {"shipmentId": shipment_id, "carrier": carrier, "trackingId": tracking_id},
    }


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
