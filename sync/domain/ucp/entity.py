"""The UCP order entity (version 2026-04-08) for a Square order, built with ucp-sdk's models. Pure.

Every push carries the *full* order as of its event: ``build_entity(order, config, include)``
takes the lifecycle events to show (by key) and derives everything else from them, so a snapshot
is a function of the Square order and the event set alone (a rerun rebuilds identical bytes).

Mapping (spec ucp-order-lifecycle.md §12, our design where marked [D] there):
* ``id`` = the Square order id; ``checkout_id`` from the order's metadata; money in minor units.
* lines: ``id`` = Square line uid; ``item.id`` = the line's ``offer_id`` metadata, else its catalog
  object id; ``quantity.original`` = units sold, ``total`` = original minus itemized returns (and,
  once the order is canceled, the units never shipped), ``fulfilled`` = units in included
  ``shipped`` events (clamped to ``total``); status derived from them as UCP defines.
* one expectation per active Square fulfilment; one ``shipped`` event per COMPLETED fulfilment
  (a parcel) and one ``delivered`` event once its delivery is known.
* adjustments: a COMPLETED Square refund is a ``return`` when its return order lists items, else
  a ``refund``; only a negative ``total`` entry (spec §0.3); line quantities negative (§0.4); a
  canceled order gets one ``cancellation``. Order totals are never rewritten after a refund.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from ucp_sdk.models.schemas.shopping.order import Order

from sync.domain.carriers import UnknownCarrierError, normalize_carrier
from sync.domain.ucp.square_order import SquareFulfilment, SquareOrder

UCP_VERSION = "2026-04-08"
ORDER_CAPABILITY = "dev.ucp.shopping.order"
ACTIVE_FULFILMENT_STATES = frozenset({"PROPOSED", "RESERVED", "PREPARED", "COMPLETED"})
# Public tracking pages of the carriers Google lists, for parcels whose tracking_url Square lacks.
TRACKING_URLS = {
    "ups": "https://www.ups.com/track?tracknum={number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "dhl": "https://www.dhl.com/global-en/home/tracking/tracking-express.html?tracking-id={number}",
    "dhl express": "https://www.dhl.com/global-en/home/tracking/tracking-express.html?tracking-id={number}",
}


@functools.cache
def order_model() -> type[Order]:
    """ucp-sdk's 2026-04-08 Order model, loaded on first use: building its pydantic schema costs
    about 0.1 s, which every process start would pay though most cycles have no UCP order."""
    from ucp_sdk.models.schemas.shopping.order import Order

    model: type[Order] = Order  # the SDK ships no type hints: Any until named
    return model


class UcpMappingError(ValueError):
    """The Square order cannot be reported as a UCP order (names the order and the reason)."""


@dataclass(frozen=True)
class UcpOrderConfig:
    permalink_template: str
    checkout_id_metadata_key: str = "ucp_checkout_id"


class EventKind(StrEnum):
    CREATED = "created"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    REFUND = "refund"
    RETURN = "return"
    CANCELLATION = "cancellation"


_SAME_INSTANT_ORDER = {
    EventKind.CREATED: 0,
    EventKind.SHIPPED: 1,
    EventKind.DELIVERED: 2,
    EventKind.REFUND: 3,
    EventKind.RETURN: 3,
    EventKind.CANCELLATION: 4,
}


@dataclass(frozen=True)
class LifecycleEvent:
    """One reportable change of an order. ``key`` is its identity within the order (what the
    ledger records as pushed); ``event_id`` its id in the entity, which is also the push's
    ``Webhook-Id`` (Google: the id of the push's primary event; the order id for "created")."""

    key: str
    kind: EventKind
    event_id: str
    occurred_at: datetime
    fulfilment_uid: str = ""
    refund_id: str = ""


def checkout_id(order: SquareOrder, config: UcpOrderConfig) -> str:
    return order.metadata.get(config.checkout_id_metadata_key, "").strip()


def is_ucp_order(order: SquareOrder, config: UcpOrderConfig) -> bool:
    """A Square order is a UCP order when its metadata carries the checkout id."""
    return bool(checkout_id(order, config))


def lifecycle_events(order: SquareOrder, config: UcpOrderConfig) -> list[LifecycleEvent]:
    """Every reportable event the Square order shows, "created" first, then by time and key."""
    if not is_ucp_order(order, config):
        raise UcpMappingError(f"Square order {order.id}: no {config.checkout_id_metadata_key} metadata")
    later: list[LifecycleEvent] = []
    for f in order.fulfilments:
        if not f.shipped or not f.lines or f.shipped_at is None:
            continue
        later.append(
            LifecycleEvent(
                f"shipped:{f.uid}", EventKind.SHIPPED, f"{order.id}:shipped:{f.uid}", f.shipped_at, f.uid
            )
        )
        if f.delivered_at is not None:
            delivered = max(f.delivered_at, f.shipped_at)
            later.append(
                LifecycleEvent(
                    f"delivered:{f.uid}",
                    EventKind.DELIVERED,
                    f"{order.id}:delivered:{f.uid}",
                    delivered,
                    f.uid,
                )
            )
    for refund in order.refunds:
        if refund.status != "COMPLETED":
            continue  # pending ones are reported once they complete; rejected/failed moved no money
        kind = EventKind.RETURN if refund.returned_lines else EventKind.REFUND
        later.append(
            LifecycleEvent(
                f"refund:{refund.id}",
                kind,
                f"{order.id}:refund:{refund.id}",
                refund.created_at,
                refund_id=refund.id,
            )
        )
    if order.state == "CANCELED":
        canceled_at = order.closed_at or order.updated_at
        later.append(LifecycleEvent("canceled", EventKind.CANCELLATION, f"{order.id}:canceled", canceled_at))
    # At one instant, a parcel ships before it is delivered (a delivery scan in the same second).
    later.sort(key=lambda e: (e.occurred_at, _SAME_INSTANT_ORDER[e.kind], e.key))
    created = LifecycleEvent("created", EventKind.CREATED, order.id, order.created_at)
    return [created, *later]


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tracking_url(f: SquareFulfilment) -> str:
    if f.tracking_url:
        return f.tracking_url
    try:
        carrier = normalize_carrier(f.carrier) if f.carrier else ""
    except UnknownCarrierError:
        return ""
    template = TRACKING_URLS.get(carrier)
    return template.format(number=f.tracking_number) if template and f.tracking_number else ""


def _destination(f: SquareFulfilment) -> dict[str, str]:
    r = f.recipient
    first, _, last = r.display_name.strip().rpartition(" ")
    if not first:
        first, last = last, ""
    fields = {
        "first_name": first,
        "last_name": last,
        "street_address": r.address_line_1,
        "extended_address": r.address_line_2,
        "address_locality": r.locality,
        "address_region": r.region,
        "postal_code": r.postal_code,
        "address_country": r.country,
        "phone_number": r.phone_number,
    }
    return {k: v for k, v in fields.items() if v}


def _status(total: int, fulfilled: int) -> str:
    if total == 0:
        return "removed"
    if fulfilled == total:
        return "fulfilled"
    return "partial" if fulfilled > 0 else "processing"


def _parcel(order: SquareOrder, f: SquareFulfilment, event: LifecycleEvent) -> dict[str, Any]:
    tracking_url = _tracking_url(f)
    if not f.tracking_number or not tracking_url:
        raise UcpMappingError(
            f"Square order {order.id} fulfillment {f.uid}: {event.kind} needs a tracking number and a "
            "tracking URL (Google requires both); set shipment_details.tracking_number and tracking_url"
        )
    parcel: dict[str, Any] = {
        "id": event.event_id,
        "occurred_at": _rfc3339(event.occurred_at),
        "type": str(event.kind),
        "line_items": [{"id": uid, "quantity": units} for uid, units in f.lines],
        "tracking_number": f.tracking_number,
        "tracking_url": tracking_url,
    }
    if f.carrier:
        parcel["carrier"] = f.carrier
    return parcel


def build_entity(order: SquareOrder, config: UcpOrderConfig, include: Collection[str] | None = None) -> Order:
    """The UCP order as of the events whose keys are in ``include`` (all when None; "created"
    always). Raises UcpMappingError when the order cannot be expressed."""
    events = [
        e
        for e in lifecycle_events(order, config)
        if include is None or e.kind is EventKind.CREATED or e.key in include
    ]
    if not order.currency:
        raise UcpMappingError(f"Square order {order.id}: no currency")
    if not order.lines:
        raise UcpMappingError(f"Square order {order.id}: no line items")
    fulfilments = {f.uid: f for f in order.fulfilments}
    refunds = {r.id: r for r in order.refunds}
    shipped: dict[str, int] = {}
    returned: dict[str, int] = {}
    parcels: list[dict[str, Any]] = []
    adjustments: list[dict[str, Any]] = []
    canceled_event: LifecycleEvent | None = None
    for event in events:
        if event.kind in (EventKind.SHIPPED, EventKind.DELIVERED):
            f = fulfilments[event.fulfilment_uid]
            parcels.append(_parcel(order, f, event))
            if event.kind is EventKind.SHIPPED:
                for uid, units in f.lines:
                    shipped[uid] = shipped.get(uid, 0) + units
        elif event.kind in (EventKind.REFUND, EventKind.RETURN):
            refund = refunds[event.refund_id]
            adjustment: dict[str, Any] = {
                "id": event.event_id,
                "type": str(event.kind),
                "occurred_at": _rfc3339(event.occurred_at),
                "status": "completed",
            }
            lines = [(uid, units) for uid, units in refund.returned_lines if order.line(uid) is not None]
            if event.kind is EventKind.RETURN and lines:
                adjustment["line_items"] = [{"id": uid, "quantity": -units} for uid, units in lines]
                for uid, units in lines:
                    returned[uid] = returned.get(uid, 0) + units
            if refund.amount:
                adjustment["totals"] = [{"type": "total", "amount": -refund.amount}]
            adjustment["description"] = refund.reason or (
                "Return" if event.kind is EventKind.RETURN else "Refund"
            )
            adjustments.append(adjustment)
        elif event.kind is EventKind.CANCELLATION:
            canceled_event = event

    line_items: list[dict[str, Any]] = []
    canceled_units: list[dict[str, Any]] = []
    for li in order.lines:
        total = max(li.quantity - returned.get(li.uid, 0), 0)
        units_shipped = shipped.get(li.uid, 0)
        if canceled_event is not None and units_shipped < total:
            canceled_units.append({"id": li.uid, "quantity": -(total - units_shipped)})
            total = units_shipped
        fulfilled = min(units_shipped, total)
        line_totals: list[dict[str, Any]] = [{"type": "subtotal", "amount": li.gross_sales}]
        if li.discount:
            line_totals.append({"type": "discount", "amount": -li.discount})
        if li.tax:
            line_totals.append({"type": "tax", "amount": li.tax})
        line_totals.append({"type": "total", "amount": li.total})
        line_items.append(
            {
                "id": li.uid,
                "item": {"id": li.offer_id, "title": li.title, "price": li.base_price},
                "quantity": {"original": li.quantity, "total": total, "fulfilled": fulfilled},
                "totals": line_totals,
                "status": _status(total, fulfilled),
            }
        )
    if canceled_event is not None:
        cancellation: dict[str, Any] = {
            "id": canceled_event.event_id,
            "type": "cancellation",
            "occurred_at": _rfc3339(canceled_event.occurred_at),
            "status": "completed",
            "description": "Order canceled",
        }
        if canceled_units:
            cancellation["line_items"] = canceled_units
        adjustments.append(cancellation)

    expectations = [
        {
            "id": f"exp:{f.uid}",
            "line_items": [{"id": uid, "quantity": units} for uid, units in f.lines],
            "method_type": "pickup" if f.type == "PICKUP" else "shipping",
            "destination": _destination(f),
            "fulfillable_on": "now",
        }
        for f in order.fulfilments
        if f.state in ACTIVE_FULFILMENT_STATES and f.lines
    ]
    fulfillment: dict[str, Any] = {}
    if expectations:
        fulfillment["expectations"] = expectations
    if parcels:
        fulfillment["events"] = parcels
    body: dict[str, Any] = {
        "ucp": {"version": UCP_VERSION, "capabilities": {ORDER_CAPABILITY: [{"version": UCP_VERSION}]}},
        "id": order.id,
        "checkout_id": checkout_id(order, config),
        "permalink_url": config.permalink_template.format(
            order_id=order.id, checkout_id=checkout_id(order, config)
        ),
        "currency": order.currency,
        "line_items": line_items,
        "fulfillment": fulfillment,
        "totals": _order_totals(order),
    }
    if adjustments:
        body["adjustments"] = adjustments
    try:
        return order_model().model_validate(body)
    except ValidationError as exc:
        raise UcpMappingError(f"Square order {order.id}: not a valid UCP order: {exc}") from None


def _order_totals(order: SquareOrder) -> list[dict[str, Any]]:
    subtotal = sum(li.gross_sales for li in order.lines)
    totals: list[dict[str, Any]] = [{"type": "subtotal", "amount": subtotal}]
    if order.discount:
        totals.append({"type": "discount", "amount": -order.discount})
    parts = subtotal - order.discount
    for sc in order.service_charges:
        if sc.amount <= 0:
            continue
        if sc.is_shipping:
            totals.append({"type": "fulfillment", "display_text": sc.name or "Shipping", "amount": sc.amount})
        else:
            totals.append({"type": "fee", "display_text": sc.name or "Fee", "amount": sc.amount})
        parts += sc.amount
    if order.tip:
        totals.append({"type": "fee", "display_text": "Tip", "amount": order.tip})
        parts += order.tip
    if order.tax:
        totals.append({"type": "tax", "amount": order.tax})
        parts += order.tax
    if parts != order.total:
        raise UcpMappingError(
            f"Square order {order.id}: totals do not add up (parts {parts}, total_money {order.total})"
        )
    totals.append({"type": "total", "amount": order.total})
    return totals


def entity_dict(entity: Order) -> dict[str, Any]:
    """The JSON object a push sends (only the fields we set; UCP's own defaults left out)."""
    data: dict[str, Any] = entity.model_dump(
        mode="json", by_alias=True, exclude_unset=True, exclude_none=True
    )
    return data


def serialize(entity: Order) -> bytes:
    """The body bytes, produced once per push and stored: a retry must send exactly these."""
    return json.dumps(entity_dict(entity), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_entity(body: bytes | Mapping[str, Any]) -> Order:
    """Validate a pushed body against the 2026-04-08 order schema (what the receiver does)."""
    data = json.loads(body) if isinstance(body, bytes) else body
    return order_model().model_validate(data)
