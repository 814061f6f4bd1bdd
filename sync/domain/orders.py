"""Google Content API v2 orders as immutable values: line-item quantities, money, status rules.

``Order.from_google`` reads the API's JSON strictly where we depend on a field (ids, status, dates,
quantities, prices) and ignores everything else, so a new optional field on Google's side never
breaks a cycle, while a malformed order is reported instead of being half-understood.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sync.domain.money import MoneyError, price_to_minor

# Order.status values (v2). inProgress: placed, not yet released to the merchant.
IN_PROGRESS = "inProgress"
PENDING_SHIPMENT = "pendingShipment"
PARTIALLY_SHIPPED = "partiallyShipped"
SHIPPED = "shipped"
PARTIALLY_DELIVERED = "partiallyDelivered"
DELIVERED = "delivered"
PARTIALLY_RETURNED = "partiallyReturned"
RETURNED = "returned"
CANCELED = "canceled"
ORDER_STATUSES = frozenset({
    IN_PROGRESS, PENDING_SHIPMENT, PARTIALLY_SHIPPED, SHIPPED, PARTIALLY_DELIVERED, DELIVERED,
    PARTIALLY_RETURNED, RETURNED, CANCELED,
})
# Nothing more will happen to these orders in the sync (returns are Google's business).
FINAL_STATUSES = frozenset({DELIVERED, RETURNED, CANCELED})
# Statuses in which Google accepts shipLineItems for the still-pending quantity.
SHIPPABLE_STATUSES = frozenset({PENDING_SHIPMENT, PARTIALLY_SHIPPED, SHIPPED, PARTIALLY_DELIVERED,
                                DELIVERED, PARTIALLY_RETURNED, RETURNED})


class OrderDataError(ValueError):
    """An order from Google that lacks, or garbles, a field we depend on."""

    def __init__(self, order_id: str, field: str, message: str) -> None:
        self.order_id = order_id
        self.field = field
        self.message = message
        super().__init__(f"order {order_id}: {field}: {message}")


class LineItemLookupError(LookupError):
    """A line item reference (id or offerId) that names no line item, or several."""


class AmbiguousLineItemError(LineItemLookupError):
    """An offerId shared by several line items: only the line item id can say which."""


@dataclass(frozen=True)
class Quantities:
    """Google's per-line counters; summed over lines for an order."""

    ordered: int = 0
    pending: int = 0
    shipped: int = 0
    delivered: int = 0
    canceled: int = 0
    returned: int = 0

    def __add__(self, other: Quantities) -> Quantities:
        return Quantities(
            self.ordered + other.ordered, self.pending + other.pending, self.shipped + other.shipped,
            self.delivered + other.delivered, self.canceled + other.canceled, self.returned + other.returned,
        )

    @property
    def to_ship(self) -> int:
        """Units that will not be canceled: what must end up shipped."""
        return self.ordered - self.canceled


@dataclass(frozen=True)
class LineItem:
    id: str
    offer_id: str
    product_id: str
    title: str
    quantity_ordered: int
    quantity_pending: int
    quantity_shipped: int
    quantity_delivered: int
    quantity_canceled: int
    quantity_returned: int
    unit_price_minor: int
    price_minor: int  # TOTAL for the line (unit price x quantity ordered), as Google sends it
    tax_minor: int  # TOTAL tax for the line
    currency: str

    @property
    def quantities(self) -> Quantities:
        return Quantities(
            self.quantity_ordered, self.quantity_pending, self.quantity_shipped,
            self.quantity_delivered, self.quantity_canceled, self.quantity_returned,
        )


@dataclass(frozen=True, slots=True)
class ShipmentLine:
    line_item_id: str
    quantity: int


@dataclass(frozen=True)
class Shipment:
    id: str
    carrier: str
    tracking_id: str
    status: str
    creation_date: datetime | None
    delivery_date: datetime | None
    lines: tuple[ShipmentLine, ...]


_JSON_SCALARS = (str, int, float, bool, type(None))


def _copy_json(value: Any) -> Any:
    """A deep copy of a JSON tree, several times faster than copy.deepcopy (no memo); anything
    that is not a dict, list or scalar still goes through copy.deepcopy."""
    kind = type(value)
    if kind is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if kind is list:
        return [_copy_json(v) for v in value]
    if kind in _JSON_SCALARS:
        return value
    return copy.deepcopy(value)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 -> aware UTC datetime. "Z", offsets and date-only accepted; naive means UTC."""
    value = text.strip()
    if not value:
        raise ValueError("empty date")
    parsed = datetime.fromisoformat(value)  # 3.11: accepts "Z", offsets, date-only, fractions
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _quantities_of(item: LineItem | Quantities | Mapping[str, Any]) -> Quantities:
    if isinstance(item, Quantities):
        return item
    if isinstance(item, LineItem):
        return item.quantities
    # A Google OrderLineItem dict (the emulator keeps its orders as JSON).
    return Quantities(*(int(item.get(f"quantity{name}", 0) or 0)
                        for name in ("Ordered", "Pending", "Shipped", "Delivered", "Canceled", "Returned")))


def derive_status(line_items: Iterable[LineItem | Quantities | Mapping[str, Any]]) -> str:
    """The v2 order status implied by line-item counters.

    Canceled units are out of the picture; of the rest (``to_ship``):

    * everything canceled                       -> canceled
    * nothing shipped yet                       -> pendingShipment
    * some shipped, some still pending          -> partiallyShipped
    * all shipped: all returned                 -> returned
    *              some returned                -> partiallyReturned
    *              all delivered                -> delivered
    *              some delivered               -> partiallyDelivered
    *              none delivered               -> shipped

    ``inProgress`` cannot be derived: Google sets it on a new order and moves it to pendingShipment
    when it releases the order (advancetestorder in the sandbox); the counters look the same.
    """
    total = Quantities()
    count = 0
    for item in line_items:
        total += _quantities_of(item)
        count += 1
    if count == 0:
        raise ValueError("an order has at least one line item")
    to_ship = total.to_ship
    if to_ship <= 0:
        return CANCELED
    if total.shipped == 0:
        return PENDING_SHIPMENT
    if total.shipped < to_ship:
        return PARTIALLY_SHIPPED
    if total.returned >= to_ship:
        return RETURNED
    if total.returned > 0:
        return PARTIALLY_RETURNED
    if total.delivered >= to_ship:
        return DELIVERED
    if total.delivered > 0:
        return PARTIALLY_DELIVERED
    return SHIPPED


@dataclass(frozen=True)
class Order:
    id: str
    merchant_id: str
    merchant_order_id: str
    acknowledged: bool
    status: str
    placed_date: datetime  # aware, UTC
    line_items: tuple[LineItem, ...]
    shipments: tuple[Shipment, ...]
    currency: str
    shipping_cost_minor: int
    shipping_tax_minor: int
    promotions_minor: int  # total discount, >= 0 (sum of |benefit.discount|)
    net_amount_minor: int | None  # Google's netAmount (after refunds); None when absent
    customer_name: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    # ------------------------------------------------------------------ reading Google JSON
    @classmethod
    def from_google(cls, d: Mapping[str, Any], *, copy_raw: bool = True) -> Order:
        """Build from a Google ``Order`` dict; raises OrderDataError naming the bad field.

        ``copy_raw=False``: keep ``d`` itself as ``raw`` (no deep copy) — for a caller that owns a
        freshly decoded dict and will not change it.
        """
        if not isinstance(d, Mapping):
            raise OrderDataError("<unknown>", "order", f"expected a JSON object, got {type(d).__name__}")
        order_id = d.get("id")
        if not isinstance(order_id, str) or not order_id.strip():
            raise OrderDataError("<no id>", "id", f"missing or empty (got {order_id!r})")
        r = _Reader(order_id)

        status = d.get("status")
        if status not in ORDER_STATUSES:
            raise OrderDataError(order_id, "status", f"{status!r} is not a v2 order status")
        placed = d.get("placedDate")
        try:
            placed_date = parse_datetime(placed) if isinstance(placed, str) else None
        except ValueError:
            placed_date = None
        if placed_date is None:
            raise OrderDataError(order_id, "placedDate", f"missing or not ISO 8601 (got {placed!r})")

        raw_lines = d.get("lineItems")
        if not isinstance(raw_lines, list) or not raw_lines:
            raise OrderDataError(order_id, "lineItems", "missing or empty")
        line_items = tuple(r.line_item(i, li) for i, li in enumerate(raw_lines))
        ids = [li.id for li in line_items]
        if len(set(ids)) != len(ids):
            raise OrderDataError(order_id, "lineItems[].id", f"duplicate line item ids {ids}")
        currency = line_items[0].currency
        for i, li in enumerate(line_items):
            if li.currency != currency:
                raise OrderDataError(order_id, f"lineItems[{i}].price.currency",
                                     f"{li.currency} differs from the order's {currency}")

        shipping_cost = r.optional_price(d.get("shippingCost"), "shippingCost", currency)
        shipping_tax = r.optional_price(d.get("shippingCostTax"), "shippingCostTax", currency)
        net_amount = (r.optional_price(d.get("netAmount"), "netAmount", currency)
                      if d.get("netAmount") is not None else None)
        promotions = r.promotions(d.get("promotions"), currency)
        shipments = tuple(r.shipment(i, s, line_items) for i, s in enumerate(d.get("shipments") or []))

        customer: Mapping[str, Any] = d["customer"] if isinstance(d.get("customer"), Mapping) else {}
        return cls(
            id=order_id,
            merchant_id=str(d.get("merchantId") or ""),
            merchant_order_id=str(d.get("merchantOrderId") or ""),
            acknowledged=bool(d.get("acknowledged", False)),
            status=status,
            placed_date=placed_date,
            line_items=line_items,
            shipments=shipments,
            currency=currency,
            shipping_cost_minor=shipping_cost,
            shipping_tax_minor=shipping_tax,
            promotions_minor=promotions,
            net_amount_minor=net_amount,
            customer_name=str(customer.get("fullName") or ""),
            # ours: later mutation of the caller's dict cannot leak in (unless the caller opts out)
            raw=_copy_json(dict(d)) if copy_raw or type(d) is not dict else d,
        )

    # ------------------------------------------------------------------ money
    @property
    def total_minor(self) -> int:
        """What the customer paid, in minor units of ``currency``:

        Σ lineItems.price (line totals) + Σ lineItems.tax + shippingCost + shippingCostTax
        - promotions (Σ |benefits.discount|).

        Benefits' ``taxImpact`` is left out (the line taxes are taken as Google reports them), and
        refunds are not subtracted: that figure is Google's ``netAmount`` (``net_amount_minor``).
        """
        return (sum(li.price_minor for li in self.line_items) + sum(li.tax_minor for li in self.line_items)
                + self.shipping_cost_minor + self.shipping_tax_minor - self.promotions_minor)

    # ------------------------------------------------------------------ quantities
    @property
    def quantities(self) -> Quantities:
        total = Quantities()
        for li in self.line_items:
            total += li.quantities
        return total

    def line_item_by_id(self, line_item_id: str) -> LineItem:
        for li in self.line_items:
            if li.id == line_item_id:
                return li
        raise LineItemLookupError(
            f"order {self.id} has no line item id {line_item_id!r} "
            f"(line items: {', '.join(li.id for li in self.line_items)})"
        )

    def line_item_by_offer(self, offer_id: str) -> LineItem:
        matches = [li for li in self.line_items if li.offer_id == offer_id]
        if not matches:
            raise LineItemLookupError(
                f"order {self.id} has no line item with offer_id {offer_id!r} "
                f"(offers: {', '.join(li.offer_id or '-' for li in self.line_items)})"
            )
        if len(matches) > 1:
            raise AmbiguousLineItemError(
                f"order {self.id}: offer_id {offer_id!r} is on {len(matches)} line items "
                f"({', '.join(li.id for li in matches)}); give the line_item_id instead"
            )
        return matches[0]

    def line_item(self, ref: str) -> LineItem:
        """A line item by its id, else by its offerId (an id is Google's and cannot be ambiguous)."""
        try:
            return self.line_item_by_id(ref)
        except LineItemLookupError:
            pass
        try:
            return self.line_item_by_offer(ref)
        except AmbiguousLineItemError:
            raise
        except LineItemLookupError:
            ids = ", ".join(li.id for li in self.line_items)
            offers = ", ".join(li.offer_id or "-" for li in self.line_items)
            raise LineItemLookupError(
                f"order {self.id} has no line item {ref!r} (ids: {ids}; offers: {offers})"
            ) from None

    def shipment(self, shipment_id: str) -> Shipment | None:
        return next((s for s in self.shipments if s.id == shipment_id), None)

    @property
    def is_shippable(self) -> bool:
        """Google would take a shipLineItems now: released, not canceled, something pending."""
        return self.status in SHIPPABLE_STATUSES and self.quantities.pending > 0

    @property
    def is_final(self) -> bool:
        """Fully delivered, canceled or returned (Google's status): nothing left to sync."""
        return self.status in FINAL_STATUSES

    def with_shipped(self, lines: Iterable[tuple[str, int]]) -> Order:
        """This order as it will be once ``lines`` [(line_item_id, qty)] are shipped.

        Used to plan several shipments of one order in one cycle, and to account for shipments
        planned (ledger) but not yet in Google's snapshot. ``raw`` stays Google's snapshot.
        """
        extra: dict[str, int] = {}
        for line_item_id, quantity in lines:
            self.line_item_by_id(line_item_id)  # unknown id: a bug upstream, fail loudly
            extra[line_item_id] = extra.get(line_item_id, 0) + quantity
        items = tuple(
            replace(li, quantity_shipped=li.quantity_shipped + extra[li.id],
                    quantity_pending=max(0, li.quantity_pending - extra[li.id]))
            if li.id in extra else li
            for li in self.line_items
        )
        # inProgress cannot be derived from counters; leave Google's word alone then.
        status = self.status if self.status == IN_PROGRESS else derive_status(items)
        return replace(self, line_items=items, status=status)


class _Reader:
    """Field readers for one order, raising OrderDataError with the JSON path of the bad field."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id

    def error(self, path: str, message: str) -> OrderDataError:
        return OrderDataError(self.order_id, path, message)

    def count(self, value: Any, path: str, *, required: bool = False) -> int:
        if value is None and not required:
            return 0
        # uint32 arrives as a JSON number; tolerate the digit-string form other clients use.
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(path, f"expected a non-negative integer, got {value!r}")
        count: int = value
        return count

    def price(self, value: Any, path: str) -> tuple[int, str]:
        try:
            return price_to_minor(value)
        except MoneyError as exc:
            raise self.error(path, str(exc)) from None

    def optional_price(self, value: Any, path: str, currency: str) -> int:
        if value is None:
            return 0
        minor, cur = self.price(value, path)
        if cur != currency:
            raise self.error(f"{path}.currency", f"{cur} differs from the order's {currency}")
        return minor

    def line_item(self, i: int, li: Any) -> LineItem:
        path = f"lineItems[{i}]"
        if not isinstance(li, Mapping):
            raise self.error(path, "expected a JSON object")
        line_id = li.get("id")
        if not isinstance(line_id, str) or not line_id.strip():
            raise self.error(f"{path}.id", f"missing or empty (got {line_id!r})")
        ordered = self.count(li.get("quantityOrdered"), f"{path}.quantityOrdered", required=True)
        if ordered < 1:
            raise self.error(f"{path}.quantityOrdered", "must be at least 1")
        shipped = self.count(li.get("quantityShipped"), f"{path}.quantityShipped")
        canceled = self.count(li.get("quantityCanceled"), f"{path}.quantityCanceled")
        if shipped + canceled > ordered:
            raise self.error(path, f"shipped {shipped} + canceled {canceled} exceed ordered {ordered}")
        # Google sends quantityPending; derive it only when absent (pending = ordered - shipped - canceled).
        pending = (self.count(li["quantityPending"], f"{path}.quantityPending")
                   if li.get("quantityPending") is not None else ordered - shipped - canceled)
        if "price" not in li:
            raise self.error(f"{path}.price", "missing")
        price, currency = self.price(li.get("price"), f"{path}.price")
        tax = 0
        if li.get("tax") is not None:
            tax, tax_currency = self.price(li["tax"], f"{path}.tax")
            if tax_currency != currency:
                raise self.error(f"{path}.tax.currency", f"{tax_currency} differs from {currency}")
        product: Mapping[str, Any] = li["product"] if isinstance(li.get("product"), Mapping) else {}
        if product.get("price") is not None:
            unit, unit_currency = self.price(product["price"], f"{path}.product.price")
            if unit_currency != currency:
                raise self.error(f"{path}.product.price.currency", f"{unit_currency} differs from {currency}")
        else:
            # No unit price in the snapshot: the line total split evenly is the best we have.
            unit = price // ordered
        return LineItem(
            id=line_id,
            offer_id=str(product.get("offerId") or ""),
            product_id=str(product.get("id") or ""),
            title=str(product.get("title") or ""),
            quantity_ordered=ordered,
            quantity_pending=pending,
            quantity_shipped=shipped,
            quantity_delivered=self.count(li.get("quantityDelivered"), f"{path}.quantityDelivered"),
            quantity_canceled=canceled,
            quantity_returned=self.count(li.get("quantityReturned"), f"{path}.quantityReturned"),
            unit_price_minor=unit,
            price_minor=price,
            tax_minor=tax,
            currency=currency,
        )

    def promotions(self, value: Any, currency: str) -> int:
        if value is None:
            return 0
        if not isinstance(value, list):
            raise self.error("promotions", "expected a list")
        total = 0
        for i, promo in enumerate(value):
            benefits = promo.get("benefits") if isinstance(promo, Mapping) else None
            for j, benefit in enumerate(benefits or []):
                discount = benefit.get("discount") if isinstance(benefit, Mapping) else None
                if discount is None:
                    continue
                # The v2 reference does not fix the sign of a discount; it reduces the total either way.
                where = f"promotions[{i}].benefits[{j}].discount"
                total += abs(self.optional_price(discount, where, currency))
        return total

    def date(self, value: Any, path: str) -> datetime | None:
        if value in (None, ""):
            return None
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            return parse_datetime(value)
        except ValueError:
            raise self.error(path, f"not ISO 8601 (got {value!r})") from None

    def shipment(self, i: int, s: Any, line_items: tuple[LineItem, ...]) -> Shipment:
        path = f"shipments[{i}]"
        if not isinstance(s, Mapping):
            raise self.error(path, "expected a JSON object")
        shipment_id = s.get("id")
        # The shipment id is how we recognise our own shipments: without it we could ship twice.
        if not isinstance(shipment_id, str) or not shipment_id:
            raise self.error(f"{path}.id", f"missing or empty (got {shipment_id!r})")
        by_product = {li.product_id: li.id for li in line_items if li.product_id}
        lines = []
        for j, line in enumerate(s.get("lineItems") or []):
            lpath = f"{path}.lineItems[{j}]"
            if not isinstance(line, Mapping):
                raise self.error(lpath, "expected a JSON object")
            line_id = line.get("lineItemId") or by_product.get(line.get("productId") or "")
            if not line_id:
                raise self.error(lpath, "neither a lineItemId nor a productId of this order")
            lines.append(ShipmentLine(str(line_id), self.count(line.get("quantity"), f"{lpath}.quantity",
                                                               required=True)))
        return Shipment(
            id=shipment_id,
            carrier=str(s.get("carrier") or ""),
            tracking_id=str(s.get("trackingId") or ""),
            status=str(s.get("status") or ""),
            creation_date=self.date(s.get("creationDate"), f"{path}.creationDate"),
            delivery_date=self.date(s.get("deliveryDate"), f"{path}.deliveryDate"),
            lines=tuple(lines),
        )
