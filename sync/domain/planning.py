"""What to send Google for an order: custombatch entries with deterministic operationIds.

Planning is where "should we send this at all?" is decided, from Google's last snapshot of the order
plus what the ledger says we planned or applied since; the ids come from ``operations`` so the
ledger can store an entry before sending it and resend it unchanged after a crash.

Every entry is a custombatch request entry *without* ``batchId``/``merchantId`` (the gateway adds
them); ``to_request()`` forms are the single-call bodies (the same fields plus ``operationId``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sync.domain import operations
from sync.domain.feed import ShipmentEvent
from sync.domain.orders import (
    CANCELED,
    IN_PROGRESS,
    LineItem,
    LineItemLookupError,
    Order,
)

# OrdersCancelRequest / OrdersCancelLineItemRequest reasons (v2).
CANCEL_REASONS = frozenset({
    "customerInitiatedCancel", "invalidCoupon", "malformedShippingAddress", "noInventory", "other",
    "priceError", "shippingPriceError", "taxError", "undeliverableShippingAddress", "unsupportedPoBoxAddress",
})


class PlanningError(ValueError):
    """A request that cannot be built (unknown line item, too large a quantity, bad reason)."""


def google_datetime(value: datetime) -> str:
    """Aware (or naive = UTC) datetime -> "2026-11-20T10:00:00Z", the form Google's dates use."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PlanProblem:
    """Why a shipment event cannot be sent, in words for the person fixing the feed or the order."""

    order_id: str
    shipment_id: str
    reasons: tuple[str, ...]
    rows: tuple[tuple[str, int], ...] = ()
    retryable: bool = False  # True when the same event may succeed later (order not yet released)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class ShipPlan:
    order_id: str
    shipment_id: str
    operation_id: str
    carrier: str
    tracking_id: str
    lines: tuple[tuple[str, int], ...]  # (line_item_id, quantity), in the feed's order
    rows: tuple[tuple[str, int], ...] = ()

    def _body(self) -> dict[str, Any]:
        info: dict[str, str] = {"shipmentId": self.shipment_id}
        if self.carrier:  # a pickup has neither carrier nor tracking id
            info["carrier"] = self.carrier
        if self.tracking_id:
            info["trackingId"] = self.tracking_id
        return {
            "lineItems": [{"lineItemId": li, "quantity": qty} for li, qty in self.lines],
            "shipmentInfos": [info],
        }

    def to_request(self) -> dict[str, Any]:
        """OrdersShipLineItemsRequest body (orders.shiplineitems)."""
        return {"operationId": self.operation_id, **self._body()}

    def to_batch_entry(self) -> dict[str, Any]:
        return {"method": "shipLineItems", "orderId": self.order_id, "operationId": self.operation_id,
                "shipLineItems": self._body()}


@dataclass(frozen=True)
class DeliverPlan:
    order_id: str
    shipment_id: str
    operation_id: str
    delivered_at: datetime

    def _body(self) -> dict[str, Any]:
        return {"shipmentId": self.shipment_id, "status": "delivered",
                "deliveryDate": google_datetime(self.delivered_at)}

    def to_request(self) -> dict[str, Any]:
        """OrdersUpdateShipmentRequest body (orders.updateshipment)."""
        return {"operationId": self.operation_id, **self._body()}

    def to_batch_entry(self) -> dict[str, Any]:
        return {"method": "updateShipment", "orderId": self.order_id, "operationId": self.operation_id,
                "updateShipment": self._body()}


def _already_applied(order: Order, event: ShipmentEvent, planned_or_applied: set[str]) -> bool:
    known = {s.id for s in order.shipments} | set(planned_or_applied)
    if event.shipment_id in known:
        return True
    key = operations.tracking_key(event.tracking_id)
    if event.shipment_id_explicit or not key or not event.carrier:
        return False  # the merchant named the shipment (only that name counts), or no parcel to match
    # A derived id depends on how the feed named the order (Google id or merchantOrderId); the same
    # parcel under the other name is the same shipment.
    for ref in {order.id, order.merchant_order_id} - {"", event.order_ref}:
        if operations.feed_shipment_id(ref, event.tracking_id, event.carrier) in known:
            return True
    return any(
        operations.tracking_key(s.tracking_id) == key and s.carrier.casefold() == event.carrier.casefold()
        for s in order.shipments
    )


def plan_shipment(
    order: Order, event: ShipmentEvent, planned_or_applied: set[str]
) -> ShipPlan | PlanProblem | None:
    """The shipLineItems call for ``event``, or why not.

    Returns ``None`` when the shipment is already applied or planned — its id is in Google's
    ``order.shipments`` or in ``planned_or_applied`` (the ledger's shipment ids for this order), or
    (for a derived id) Google already has a shipment with the same carrier and tracking id. That is
    the normal outcome for a row seen in an earlier export, not a problem.

    ``order`` should already count shipments planned but not yet in Google's snapshot
    (``Order.with_shipped``), so two events of one cycle cannot over-ship a line together.
    """
    def problem(*reasons: str, retryable: bool = False) -> PlanProblem:
        return PlanProblem(order.id, event.shipment_id, reasons, event.rows, retryable)

    if event.order_ref not in {order.id, order.merchant_order_id}:
        return problem(f"shipment for order {event.order_ref!r} was matched to order {order.id}")
    if _already_applied(order, event, planned_or_applied):
        return None
    if order.status == IN_PROGRESS:
        return problem(f"order {order.id} is not released for shipping yet (status inProgress); it is "
                       "retried once Google moves it to pendingShipment", retryable=True)
    if order.status == CANCELED:
        return problem(f"order {order.id} is canceled: nothing can ship")
    if not event.lines:
        return problem(f"shipment {event.shipment_id} of order {order.id} has no lines")

    reasons: list[str] = []
    resolved: dict[str, tuple[LineItem, str, int]] = {}
    for line_item_id, offer_id, quantity in event.lines:  # EventLine or a plain 3-tuple
        label = line_item_id or offer_id or ""
        try:
            item = (order.line_item_by_id(line_item_id) if line_item_id
                    else order.line_item_by_offer(offer_id or ""))
        except LineItemLookupError as exc:
            reasons.append(str(exc))
            continue
        if item.id in resolved:
            reasons.append(f"order {order.id} line item {item.id} is listed twice in shipment "
                           f"{event.shipment_id} (as {resolved[item.id][1]!r} and {label!r})")
            continue
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            reasons.append(f"order {order.id} line {label!r}: quantity {quantity!r} is not a positive number")
            continue
        resolved[item.id] = (item, label, quantity)

    for item, label, quantity in resolved.values():
        if quantity > item.quantity_pending:
            reasons.append(
                f"order {order.id} line {label!r} ordered {item.quantity_ordered}, shipped "
                f"{item.quantity_shipped}, canceled {item.quantity_canceled}: cannot ship {quantity} more"
                f" (at most {item.quantity_pending})"
            )
    if reasons:
        return problem(*reasons)
    return ShipPlan(
        order_id=order.id,
        shipment_id=event.shipment_id,
        operation_id=operations.ship_operation_id(event.shipment_id),
        carrier=event.carrier,
        tracking_id=event.tracking_id,
        lines=tuple((item.id, qty) for item, _, qty in resolved.values()),
        rows=event.rows,
    )


def plan_delivery(order: Order, shipment_id: str, delivered_at: datetime) -> DeliverPlan | None:
    """updateShipment(status=delivered) for a shipment we made; None if Google already says delivered.

    A shipment missing from ``order.shipments`` still gets a plan: the snapshot may predate the
    shipLineItems call (the caller only asks for shipments its ledger knows were shipped).
    """
    if not isinstance(delivered_at, datetime):
        raise PlanningError(f"delivered_at must be a datetime, got {delivered_at!r}")
    shipment = order.shipment(shipment_id)
    if shipment is not None and shipment.status == "delivered":
        return None
    return DeliverPlan(order.id, shipment_id, operations.deliver_operation_id(shipment_id), delivered_at)


def acknowledge_entry(order_id: str) -> dict[str, Any]:
    return {"method": "acknowledge", "orderId": order_id,
            "operationId": operations.operation_id(order_id, "ack")}


def merchant_order_id_entry(order_id: str, merchant_order_id: str) -> dict[str, Any]:
    return {"method": "updateMerchantOrderId", "orderId": order_id,
            "operationId": operations.merchant_order_id_operation_id(merchant_order_id),
            "merchantOrderId": merchant_order_id}


def _reason(reason: str) -> str:
    if reason not in CANCEL_REASONS:
        raise PlanningError(f"cancel reason {reason!r} is not one of {', '.join(sorted(CANCEL_REASONS))}")
    return reason


def cancel_entry(order_id: str, reason: str = "other", reason_text: str = "") -> dict[str, Any]:
    """Cancel every line item of the order (Google refunds in full)."""
    return {"method": "cancel", "orderId": order_id, "operationId": operations.cancel_operation_id(),
            "cancel": {"reason": _reason(reason), "reasonText": reason_text}}


def cancel_line_item_entry(order: Order, line_ref: str, quantity: int, reason: str = "other",
                           reason_text: str = "") -> dict[str, Any]:
    """Cancel ``quantity`` more units of one line (by line item id or offerId).

    The operationId names the resulting canceled total (``os:cancel-line:<line>:<total>``), so the
    same cancellation planned again from the same snapshot is a duplicate, not a second cancel.
    Raises PlanningError for an unknown/ambiguous line or more than the pending quantity.
    """
    try:
        item = order.line_item(line_ref)
    except LineItemLookupError as exc:
        raise PlanningError(str(exc)) from None
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise PlanningError(f"quantity to cancel must be an integer >= 1, got {quantity!r}")
    if quantity > item.quantity_pending:
        raise PlanningError(
            f"order {order.id} line {line_ref!r} ordered {item.quantity_ordered}, shipped "
            f"{item.quantity_shipped}, canceled {item.quantity_canceled}: cannot cancel {quantity} more"
        )
    return {
        "method": "cancelLineItem",
        "orderId": order.id,
        "operationId": operations.cancel_operation_id(item.id, item.quantity_canceled + quantity),
        "cancelLineItem": {"lineItemId": item.id, "quantity": quantity, "reason": _reason(reason),
                           "reasonText": reason_text},
    }
