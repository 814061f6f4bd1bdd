"""Merchant API order tracking signals for the web shop's own orders. Pure.

Google takes one signal per *completely shipped* order (``accounts/{account}/ordertrackingsignals``
create, no update) and uses it for shipping-speed annotations. Which Square orders are the web
shop's: those with a SHIPMENT fulfilment that are neither Content API orders (their
``reference_id`` is a Google order id our ledger knows: the caller's predicate) nor UCP orders
(their metadata carries the checkout id). ``due_signal`` returns the signal to send once, or None.

Field rules (``google.shopping.merchant_ordertracking_v1`` OrderTrackingSignal): required
``order_id``, ``order_created_time``, ``shipping_info[]`` (``shipment_id``, ``shipping_status``,
``origin_postal_code``, ``origin_region_code``; ``tracking_id`` and ``carrier`` unless delivery
promise/actual times are given), ``line_items[]`` (``line_item_id``, ``product_id``, ``quantity``);
optional mapping of shipments to lines, delivery postal/region code, customer shipping fee.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sync.domain.intents import Intent, IntentRecord, Target
from sync.domain.money import exponent
from sync.domain.ucp.entity import UcpOrderConfig, is_ucp_order
from sync.domain.ucp.square_order import SquareOrder

SIGNAL_KEY_PREFIX = "ordertracking"
TRACKING_SIGNAL = "ordertracking.signal"  # the intent kind: one create call


class ShippingState(StrEnum):
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"


@dataclass(frozen=True)
class TrackingConfig:
    origin_postal_code: str
    origin_region_code: str
    product_id_template: str = "online~en~US~{offer_id}"


@dataclass(frozen=True)
class CatalogItem:
    """What the catalog knows of a product, for the signal's optional identifiers."""

    gtins: tuple[str, ...] = ()
    mpn: str = ""
    brand: str = ""
    title: str = ""


@dataclass(frozen=True)
class ShipmentInfo:
    shipment_id: str
    tracking_id: str
    carrier: str
    shipped_at: datetime
    status: ShippingState
    delivered_at: datetime | None = None
    origin_postal_code: str = ""
    origin_region_code: str = ""


@dataclass(frozen=True)
class SignalLine:
    line_item_id: str
    product_id: str
    quantity: int
    title: str = ""
    gtins: tuple[str, ...] = ()
    mpn: str = ""
    brand: str = ""


@dataclass(frozen=True)
class ShipmentLine:
    shipment_id: str
    line_item_id: str
    quantity: int


@dataclass(frozen=True)
class TrackingSignal:
    key: str  # deterministic: one signal per order, ever
    order_id: str
    order_created_at: datetime
    shipments: tuple[ShipmentInfo, ...]
    lines: tuple[SignalLine, ...]
    shipment_lines: tuple[ShipmentLine, ...]
    delivery_postal_code: str = ""
    delivery_region_code: str = ""
    shipping_fee_micros: int | None = None
    currency: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


def signal_key(order_id: str) -> str:
    return f"{SIGNAL_KEY_PREFIX}:{order_id}"


def is_web_shop_order(
    order: SquareOrder, *, is_content_api_order: Callable[[SquareOrder], bool], ucp: UcpOrderConfig
) -> bool:
    """A SHIPMENT order that neither Google's Content API nor a UCP checkout created."""
    if not any(f.type == "SHIPMENT" for f in order.fulfilments):
        return False
    return not is_ucp_order(order, ucp) and not is_content_api_order(order)


def shipped_units(order: SquareOrder) -> dict[str, int]:
    units: dict[str, int] = {}
    for f in order.fulfilments:
        if f.type == "SHIPMENT" and f.shipped:
            for uid, n in f.lines:
                units[uid] = units.get(uid, 0) + n
    return units


def completely_shipped(order: SquareOrder) -> bool:
    """Every unit of every line left in a COMPLETED shipment (a canceled order never is)."""
    if order.state == "CANCELED" or not order.lines:
        return False
    units = shipped_units(order)
    return all(units.get(li.uid, 0) >= li.quantity for li in order.lines if li.quantity > 0)


def _compact(postal_code: str) -> str:
    return "".join(ch for ch in postal_code if ch.isalnum())


def tracking_signal(
    order: SquareOrder, config: TrackingConfig, catalog: Mapping[str, CatalogItem] | None = None
) -> TrackingSignal:
    """The signal for a completely shipped order (ValueError when it is not)."""
    if not completely_shipped(order):
        raise ValueError(f"Square order {order.id} is not completely shipped")
    catalog = catalog or {}
    shipments: list[ShipmentInfo] = []
    mapping: list[ShipmentLine] = []
    for f in order.fulfilments:
        if f.type != "SHIPMENT" or not f.shipped or f.shipped_at is None or not f.lines:
            continue
        shipments.append(
            ShipmentInfo(
                shipment_id=f.uid,
                tracking_id=f.tracking_number,
                carrier=f.carrier,
                shipped_at=f.shipped_at,
                status=ShippingState.DELIVERED if f.delivered_at else ShippingState.SHIPPED,
                delivered_at=f.delivered_at,
                origin_postal_code=_compact(config.origin_postal_code),
                origin_region_code=config.origin_region_code,
            )
        )
        mapping.extend(ShipmentLine(f.uid, uid, n) for uid, n in f.lines)
    lines = []
    for li in order.lines:
        if li.quantity <= 0:
            continue
        known = catalog.get(li.offer_id, CatalogItem())
        lines.append(
            SignalLine(
                line_item_id=li.uid,
                product_id=config.product_id_template.format(offer_id=li.offer_id),
                quantity=li.quantity,
                title=known.title or li.title,
                gtins=known.gtins,
                mpn=known.mpn,
                brand=known.brand,
            )
        )
    recipient = next((f.recipient for f in order.fulfilments if f.type == "SHIPMENT"), None)
    fee = sum(sc.amount + sc.tax for sc in order.service_charges if sc.is_shipping)
    return TrackingSignal(
        key=signal_key(order.id),
        order_id=order.id,
        order_created_at=order.created_at,
        shipments=tuple(shipments),
        lines=tuple(lines),
        shipment_lines=tuple(mapping),
        delivery_postal_code=_compact(recipient.postal_code) if recipient else "",
        delivery_region_code=recipient.country if recipient else "",
        # 0 means free shipping (the API's wording); micros = minor units x 10^(6 - exponent).
        shipping_fee_micros=fee * 10 ** (6 - exponent(order.currency)) if order.currency else None,
        currency=order.currency,
    )


def due_signal(
    order: SquareOrder,
    *,
    sent: frozenset[str] | set[str],
    config: TrackingConfig,
    is_content_api_order: Callable[[SquareOrder], bool],
    ucp: UcpOrderConfig,
    catalog: Mapping[str, CatalogItem] | None = None,
) -> TrackingSignal | None:
    """The one signal still to send for ``order`` (``sent``: signal keys already recorded)."""
    if signal_key(order.id) in sent:
        return None
    if not is_web_shop_order(order, is_content_api_order=is_content_api_order, ucp=ucp):
        return None
    if not completely_shipped(order):
        return None
    return tracking_signal(order, config, catalog)


# ------------------------------------------------------------------- the signal as an intent
def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def signal_intent(signal: TrackingSignal) -> Intent:
    """The signal recorded before it is sent (the payload is the whole signal: a resend sends
    what was recorded, whatever the Square order shows by then)."""
    payload: dict[str, Any] = {
        "order_id": signal.order_id,
        "order_created_at": _time(signal.order_created_at),
        "shipments": [
            {
                "shipment_id": s.shipment_id,
                "tracking_id": s.tracking_id,
                "carrier": s.carrier,
                "shipped_at": _time(s.shipped_at),
                "status": str(s.status),
                "delivered_at": _time(s.delivered_at),
                "origin_postal_code": s.origin_postal_code,
                "origin_region_code": s.origin_region_code,
            }
            for s in signal.shipments
        ],
        "lines": [
            {
                "line_item_id": li.line_item_id,
                "product_id": li.product_id,
                "quantity": li.quantity,
                "title": li.title,
                "gtins": list(li.gtins),
                "mpn": li.mpn,
                "brand": li.brand,
            }
            for li in signal.lines
        ],
        "shipment_lines": [[m.shipment_id, m.line_item_id, m.quantity] for m in signal.shipment_lines],
        "delivery_postal_code": signal.delivery_postal_code,
        "delivery_region_code": signal.delivery_region_code,
        "shipping_fee_micros": signal.shipping_fee_micros,
        "currency": signal.currency,
    }
    return Intent(signal.order_id, Target.ORDER_TRACKING, TRACKING_SIGNAL, signal.key, payload)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def stored_signal(record: IntentRecord) -> TrackingSignal:
    """The recorded signal (ValueError when the payload is not what ``signal_intent`` wrote)."""
    p = record.payload
    try:
        return TrackingSignal(
            key=record.key,
            order_id=str(p["order_id"]),
            order_created_at=datetime.fromisoformat(str(p["order_created_at"])),
            shipments=tuple(
                ShipmentInfo(
                    shipment_id=str(s["shipment_id"]),
                    tracking_id=str(s["tracking_id"]),
                    carrier=str(s["carrier"]),
                    shipped_at=datetime.fromisoformat(str(s["shipped_at"])),
                    status=ShippingState(s["status"]),
                    delivered_at=datetime.fromisoformat(s["delivered_at"]) if s.get("delivered_at") else None,
                    origin_postal_code=str(s["origin_postal_code"]),
                    origin_region_code=str(s["origin_region_code"]),
                )
                for s in p["shipments"]
            ),
            lines=tuple(
                SignalLine(
                    line_item_id=str(li["line_item_id"]),
                    product_id=str(li["product_id"]),
                    quantity=int(li["quantity"]),
                    title=str(li.get("title") or ""),
                    gtins=tuple(str(g) for g in li.get("gtins") or ()),
                    mpn=str(li.get("mpn") or ""),
                    brand=str(li.get("brand") or ""),
                )
                for li in p["lines"]
            ),
            shipment_lines=tuple(ShipmentLine(str(a), str(b), int(n)) for a, b, n in p["shipment_lines"]),
            delivery_postal_code=str(p.get("delivery_postal_code") or ""),
            delivery_region_code=str(p.get("delivery_region_code") or ""),
            shipping_fee_micros=_optional_int(p.get("shipping_fee_micros")),
            currency=str(p.get("currency") or ""),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"order tracking signal {record.key}: bad payload ({exc})") from None
