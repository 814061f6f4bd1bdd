"""A Square order (the dict the SDK or the emulator returns) read into typed records. Pure.

Only what the UCP entity and the order tracking signal need: lines with money in minor units,
fulfilments with their shipment details, service charges, timestamps, and the refunds and
itemized returns that belong to the order (Square keeps those on separate objects: a
``PaymentRefund`` per refund, whose ``order_id`` is a *return order* carrying
``returns[].return_line_items[].source_line_item_uid``; see returns-refunds.md §2.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# Square fulfilment metadata key a store (or our warehouse player) may set when a parcel was
# delivered: Square itself has no delivered state. [D]
DELIVERED_AT_METADATA_KEY = "delivered_at"


class SquareOrderError(ValueError):
    """The Square order cannot be read (names the order and the field)."""


def parse_time(value: Any, what: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime, truncated to whole seconds."""
    if not isinstance(value, str) or not value:
        raise SquareOrderError(f"{what}: missing timestamp")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SquareOrderError(f"{what}: not an RFC 3339 timestamp: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _optional_time(value: Any, what: str) -> datetime | None:
    return parse_time(value, what) if value else None


def _minor(money: Any) -> int:
    if not isinstance(money, Mapping):
        return 0
    return int(money.get("amount") or 0)


def _quantity(value: Any, what: str) -> int:
    """Square quantities are decimal strings; UCP needs integers."""
    try:
        number = Decimal(str(value if value is not None else "0"))
    except InvalidOperation as exc:
        raise SquareOrderError(f"{what}: quantity {value!r} is not a number") from exc
    if number != number.to_integral_value() or number < 0:
        raise SquareOrderError(f"{what}: quantity {value!r} is not a whole number of units")
    return int(number)


@dataclass(frozen=True)
class SquareLine:
    uid: str
    name: str
    variation_name: str
    quantity: int
    base_price: int  # unit price, minor units
    gross_sales: int
    discount: int  # >= 0
    tax: int
    total: int
    catalog_object_id: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def offer_id(self) -> str:
        """The product id known to both sides: the line's ``offer_id`` metadata, else its catalog id."""
        return self.metadata.get("offer_id") or self.catalog_object_id or self.uid

    @property
    def title(self) -> str:
        if self.variation_name and self.variation_name not in self.name:
            return f"{self.name} ({self.variation_name})"
        return self.name or self.offer_id


@dataclass(frozen=True)
class Recipient:
    display_name: str = ""
    phone_number: str = ""
    address_line_1: str = ""
    address_line_2: str = ""
    locality: str = ""
    region: str = ""  # administrative_district_level_1
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True)
class SquareFulfilment:
    uid: str
    type: str  # SHIPMENT, PICKUP, DELIVERY
    state: str  # PROPOSED, RESERVED, PREPARED, COMPLETED, CANCELED, FAILED
    lines: tuple[tuple[str, int], ...]  # (line uid, units) this fulfilment carries
    recipient: Recipient
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    shipped_at: datetime | None = None  # when it reached COMPLETED (handed to the carrier)
    delivered_at: datetime | None = None
    canceled_at: datetime | None = None

    @property
    def shipped(self) -> bool:
        return self.state == "COMPLETED"


@dataclass(frozen=True)
class ServiceCharge:
    uid: str
    name: str
    amount: int  # before tax, minor units
    tax: int

    @property
    def is_shipping(self) -> bool:
        return "shipping" in f"{self.uid} {self.name}".lower()


@dataclass(frozen=True)
class SquareRefund:
    """A Square ``PaymentRefund`` of this order, with the units of an itemized refund."""

    id: str
    status: str  # PENDING, COMPLETED, REJECTED, FAILED
    amount: int
    created_at: datetime
    reason: str = ""
    returned_lines: tuple[tuple[str, int], ...] = ()  # (source line uid, units): itemized only


@dataclass(frozen=True)
class SquareOrder:
    id: str
    state: str  # OPEN, COMPLETED, CANCELED, DRAFT
    reference_id: str
    currency: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    lines: tuple[SquareLine, ...]
    fulfilments: tuple[SquareFulfilment, ...]
    service_charges: tuple[ServiceCharge, ...]
    total: int
    tax: int
    discount: int
    tip: int
    metadata: Mapping[str, str]
    refunds: tuple[SquareRefund, ...] = ()
    paid: bool = False

    def line(self, uid: str) -> SquareLine | None:
        return next((li for li in self.lines if li.uid == uid), None)

    @property
    def shipping_fee(self) -> int:
        return sum(sc.amount for sc in self.service_charges if sc.is_shipping)

    @classmethod
    def from_square(
        cls,
        order: Mapping[str, Any],
        *,
        refunds: Iterable[Mapping[str, Any]] = (),
        return_orders: Iterable[Mapping[str, Any]] = (),
        deliveries: Mapping[str, datetime] | None = None,
    ) -> SquareOrder:
        """Read a Square order.

        ``refunds``: ``PaymentRefund`` dicts of the order's payments (any order; only those whose
        return order points back at this order, or that carry no order at all, are kept).
        ``return_orders``: the return orders those refunds name (for itemized line units).
        ``deliveries``: fulfilment uid -> delivered time known elsewhere (a carrier poll, the
        shipments feed); a fulfilment's own ``metadata.delivered_at`` is used as well.
        """
        order_id = str(order.get("id") or "")
        if not order_id:
            raise SquareOrderError("Square order has no id")
        what = f"Square order {order_id}"
        lines = tuple(_line(li, f"{what} line {i}") for i, li in enumerate(order.get("line_items") or []))
        line_units = {li.uid: li.quantity for li in lines}
        fulfilments = tuple(
            _fulfilment(f, line_units, deliveries or {}, f"{what} fulfillment {i}")
            for i, f in enumerate(order.get("fulfillments") or [])
        )
        charges = tuple(
            ServiceCharge(
                uid=str(sc.get("uid") or ""),
                name=str(sc.get("name") or ""),
                amount=_minor(sc.get("total_money")) - _minor(sc.get("total_tax_money"))
                if sc.get("total_money")
                else _minor(sc.get("applied_money") or sc.get("amount_money")),
                tax=_minor(sc.get("total_tax_money")),
            )
            for sc in order.get("service_charges") or []
        )
        total_money = order.get("total_money") or {}
        currency = str(total_money.get("currency") or "")
        if not currency and lines:
            currency = str(
                ((order.get("line_items") or [{}])[0].get("base_price_money") or {}).get("currency") or ""
            )
        returns = _returned_units(order_id, return_orders)
        kept_refunds = tuple(
            sorted(
                (_refund(r, returns, f"{what} refund") for r in refunds if _belongs(r, returns)),
                key=lambda r: (r.created_at, r.id),
            )
        )
        return cls(
            id=order_id,
            state=str(order.get("state") or "OPEN"),
            reference_id=str(order.get("reference_id") or ""),
            currency=currency,
            created_at=parse_time(order.get("created_at"), f"{what} created_at"),
            updated_at=parse_time(order.get("updated_at") or order.get("created_at"), f"{what} updated_at"),
            closed_at=_optional_time(order.get("closed_at"), f"{what} closed_at"),
            lines=lines,
            fulfilments=fulfilments,
            service_charges=charges,
            total=_minor(total_money),
            tax=_minor(order.get("total_tax_money")),
            discount=_minor(order.get("total_discount_money")),
            tip=_minor(order.get("total_tip_money")),
            metadata={str(k): str(v) for k, v in (order.get("metadata") or {}).items()},
            refunds=kept_refunds,
            paid=bool(order.get("tenders")),
        )


def _line(li: Mapping[str, Any], what: str) -> SquareLine:
    uid = str(li.get("uid") or "")
    if not uid:
        raise SquareOrderError(f"{what}: no uid")
    return SquareLine(
        uid=uid,
        name=str(li.get("name") or ""),
        variation_name=str(li.get("variation_name") or ""),
        quantity=_quantity(li.get("quantity"), f"{what} ({uid})"),
        base_price=_minor(li.get("base_price_money")),
        gross_sales=_minor(li.get("gross_sales_money")),
        discount=_minor(li.get("total_discount_money")),
        tax=_minor(li.get("total_tax_money")),
        total=_minor(li.get("total_money")),
        catalog_object_id=str(li.get("catalog_object_id") or ""),
        metadata={str(k): str(v) for k, v in (li.get("metadata") or {}).items()},
    )


def _recipient(details: Mapping[str, Any]) -> Recipient:
    recipient = details.get("recipient") or {}
    address = recipient.get("address") or {}
    return Recipient(
        display_name=str(recipient.get("display_name") or ""),
        phone_number=str(recipient.get("phone_number") or ""),
        address_line_1=str(address.get("address_line_1") or ""),
        address_line_2=str(address.get("address_line_2") or ""),
        locality=str(address.get("locality") or ""),
        region=str(address.get("administrative_district_level_1") or ""),
        postal_code=str(address.get("postal_code") or ""),
        country=str(address.get("country") or ""),
    )


_DETAILS = {"SHIPMENT": "shipment_details", "PICKUP": "pickup_details", "DELIVERY": "delivery_details"}
_DONE_AT = {"SHIPMENT": "shipped_at", "PICKUP": "picked_up_at", "DELIVERY": "completed_at"}


def _fulfilment(
    f: Mapping[str, Any], line_units: Mapping[str, int], deliveries: Mapping[str, datetime], what: str
) -> SquareFulfilment:
    uid = str(f.get("uid") or "")
    if not uid:
        raise SquareOrderError(f"{what}: no uid")
    kind = str(f.get("type") or "SHIPMENT")
    details = f.get(_DETAILS.get(kind, "shipment_details")) or {}
    if f.get("line_item_application") == "ENTRY_LIST" and f.get("entries"):
        units: dict[str, int] = {}
        for entry in f["entries"]:
            line_uid = str(entry.get("line_item_uid") or "")
            units[line_uid] = units.get(line_uid, 0) + _quantity(
                entry.get("quantity"), f"{what} entry {line_uid}"
            )
        lines = tuple(units.items())
    else:
        lines = tuple(line_units.items())
    state = str(f.get("state") or "PROPOSED")
    shipped_at = None
    if state == "COMPLETED":
        shipped_at = parse_time(
            details.get(_DONE_AT.get(kind, "shipped_at")) or f.get("updated_at") or details.get("placed_at"),
            f"{what} {_DONE_AT.get(kind, 'shipped_at')}",
        )
    delivered = deliveries.get(uid) or _optional_time(
        (f.get("metadata") or {}).get(DELIVERED_AT_METADATA_KEY),
        f"{what} metadata.{DELIVERED_AT_METADATA_KEY}",
    )
    if delivered is not None:
        delivered = delivered.astimezone(UTC).replace(microsecond=0)
    return SquareFulfilment(
        uid=uid,
        type=kind,
        state=state,
        lines=tuple((u, n) for u, n in lines if n > 0),
        recipient=_recipient(details),
        carrier=str(details.get("carrier") or ""),
        tracking_number=str(details.get("tracking_number") or ""),
        tracking_url=str(details.get("tracking_url") or ""),
        shipped_at=shipped_at,
        delivered_at=delivered if state == "COMPLETED" else None,
        canceled_at=_optional_time(details.get("canceled_at"), f"{what} canceled_at"),
    )


def _returned_units(
    order_id: str, return_orders: Iterable[Mapping[str, Any]]
) -> dict[str, tuple[tuple[str, int], ...] | None]:
    """return order id -> (source line uid, units) of its itemized (ITEM) lines for our order, or
    None when the return order belongs to another sale order."""
    out: dict[str, tuple[tuple[str, int], ...] | None] = {}
    for ret_order in return_orders:
        ours = [ret for ret in ret_order.get("returns") or [] if ret.get("source_order_id") == order_id]
        if not ours:
            out[str(ret_order.get("id") or "")] = None
            continue
        units: dict[str, int] = {}
        for ret in ours:
            for rli in ret.get("return_line_items") or []:
                source = rli.get("source_line_item_uid")
                if rli.get("item_type", "ITEM") != "ITEM" or not source:
                    continue
                units[str(source)] = units.get(str(source), 0) + _quantity(
                    rli.get("quantity"), f"return order {ret_order.get('id')} line {source}"
                )
        out[str(ret_order.get("id") or "")] = tuple(units.items())
    return out


def _belongs(refund: Mapping[str, Any], returns: Mapping[str, tuple[tuple[str, int], ...] | None]) -> bool:
    """The caller passes the refunds of this order's payments; a refund is left out only when its
    return order is known to be another order's."""
    target = str(refund.get("order_id") or "")
    return target not in returns or returns[target] is not None


def _refund(
    refund: Mapping[str, Any], returns: Mapping[str, tuple[tuple[str, int], ...] | None], what: str
) -> SquareRefund:
    refund_id = str(refund.get("id") or "")
    if not refund_id:
        raise SquareOrderError(f"{what}: no id")
    return SquareRefund(
        id=refund_id,
        status=str(refund.get("status") or "PENDING"),
        amount=_minor(refund.get("amount_money")),
        created_at=parse_time(refund.get("created_at"), f"{what} {refund_id} created_at"),
        reason=str(refund.get("reason") or ""),
        returned_lines=returns.get(str(refund.get("order_id") or "")) or (),
    )
