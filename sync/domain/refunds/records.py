"""The refund and return facts both APIs give, as typed records (parsed from their JSON; pure).

Google (Content API v2): an order's ``refunds[]`` (OrderRefund: actor, amount, creationDate,
reason, reasonText), its lines' ``quantityReturned``, and ``orderreturns`` (MerchantOrderReturn:
the customer's return, item by item, each ``new`` -> ``received`` -> ``refunded`` | ``rejected``
| ``canceled``). Square: every refund makes a return order whose ``returns[]`` entry points at the
sale order (``source_order_id``) and, for an itemized refund, at the sale's line
(``source_line_item_uid``); a custom-amount refund is one ``CUSTOM_AMOUNT`` return line
(returns-refunds.md §2.5, §2.6).

Parsers raise ``RefundDataError`` naming the object and field, so one garbled object is reported
and skipped, never guessed at. The totals at the end (``google_refunded_minor``,
``google_returned_units``, ``square_refunded_minor``) are what reconciliation reports too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sync.domain.money import MoneyError, price_to_minor
from sync.domain.square_records import SquareRefund


class RefundDataError(ValueError):
    """An API object that lacks, or garbles, a field the refund rules read."""

    def __init__(self, what: str, field: str, message: str) -> None:
        self.what = what
        self.field = field
        super().__init__(f"{what}: {field}: {message}")


class Verdict(StrEnum):
    """What a rule decided about one refund (either direction)."""

    SEND = "send"  # record the mutation(s) in the outbox and send them
    WAIT = "wait"  # not yet (refund PENDING, order not fully shipped, data not read): ask again later
    IGNORE = "ignore"  # nothing to do, ever (our own echo, a refund that moved no money, nothing due)
    MATCHED = "matched"  # the other side has it already (Google refunded that return itself)
    REFUSE = "refuse"  # cannot be expressed on the other side: report failed_operation, never send


# ---------------------------------------------------------------------------------------- Google
@dataclass(frozen=True, slots=True)
class GoogleRefundEntry:
    """One entry of a Google order's ``refunds[]``."""

    index: int
    actor: str
    amount_minor: int
    currency: str
    created: str
    reason: str
    reason_text: str


def google_refund_entries(order: Mapping[str, Any]) -> tuple[GoogleRefundEntry, ...]:
    """The order's ``refunds[]``, in Google's order."""
    order_id = str(order.get("id") or "<no id>")
    raw = order.get("refunds") or []
    if not isinstance(raw, list):
        raise RefundDataError(f"Google order {order_id}", "refunds", "expected a list")
    entries = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            raise RefundDataError(f"Google order {order_id}", f"refunds[{i}]", "expected an object")
        amount, currency = _price(entry.get("amount"), f"Google order {order_id}", f"refunds[{i}].amount")
        entries.append(
            GoogleRefundEntry(
                index=i,
                actor=str(entry.get("actor") or ""),
                amount_minor=amount,
                currency=currency,
                created=str(entry.get("creationDate") or ""),
                reason=str(entry.get("reason") or ""),
                reason_text=str(entry.get("reasonText") or ""),
            )
        )
    return tuple(entries)


class ReturnItemState(StrEnum):
    """``MerchantOrderReturnItem.state`` (v2 discovery document)."""

    NEW = "new"
    RECEIVED = "received"
    REFUNDED = "refunded"
    REJECTED = "rejected"
    CANCELED = "canceled"


OPEN_RETURN_STATES = frozenset({ReturnItemState.NEW, ReturnItemState.RECEIVED})


@dataclass(frozen=True, slots=True)
class GoogleReturnItem:
    """One returned unit (Google lists a return item per unit; ``item_id`` is product-level)."""

    item_id: str
    product_id: str
    offer_id: str
    state: str  # a ReturnItemState value; kept as text so an unknown future state is not fatal
    customer_reason: str
    shipment_state: str = ""  # its return shipments' states, "|"-joined ("" none yet: not sent back)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_RETURN_STATES


@dataclass(frozen=True, slots=True)
class GoogleReturn:
    """A MerchantOrderReturn: a customer's return of some units of one order."""

    return_id: str
    order_id: str
    merchant_order_id: str
    created: str
    items: tuple[GoogleReturnItem, ...]


def google_return(raw: Mapping[str, Any]) -> GoogleReturn:
    """Parse a MerchantOrderReturn (``orderreturns.get`` / ``list`` resource)."""
    if not isinstance(raw, Mapping):
        raise RefundDataError("Google order return", "resource", "expected an object")
    return_id = str(raw.get("orderReturnId") or "")
    what = f"Google return {return_id or '<no id>'}"
    if not return_id:
        raise RefundDataError(what, "orderReturnId", "missing")
    order_id = str(raw.get("orderId") or "")
    if not order_id:
        raise RefundDataError(what, "orderId", "missing")
    shipments = {
        str(s.get("shipmentId") or ""): str(s.get("state") or "")
        for s in raw.get("returnShipments") or []
        if isinstance(s, Mapping)
    }
    items = []
    for i, item in enumerate(raw.get("returnItems") or []):
        if not isinstance(item, Mapping):
            raise RefundDataError(what, f"returnItems[{i}]", "expected an object")
        product = _object(item.get("product"))
        reason = _object(item.get("customerReturnReason"))
        shipment_ids = item.get("returnShipmentIds")
        shipment_ids = shipment_ids if isinstance(shipment_ids, list) else []
        states = [shipments.get(str(sid), "") for sid in shipment_ids]
        items.append(
            GoogleReturnItem(
                item_id=str(item.get("itemId") or ""),
                product_id=str(product.get("id") or ""),
                offer_id=str(product.get("offerId") or ""),
                state=str(item.get("state") or ""),
                customer_reason=str(reason.get("reasonCode") or ""),
                shipment_state="|".join(dict.fromkeys(s for s in states if s)),
            )
        )
    return GoogleReturn(
        return_id=return_id,
        order_id=order_id,
        merchant_order_id=str(raw.get("merchantOrderId") or ""),
        created=str(raw.get("creationDate") or ""),
        items=tuple(items),
    )


# ---------------------------------------------------------------------------------------- Square
class SquareItemType(StrEnum):
    """``OrderReturnLineItem.item_type``."""

    ITEM = "ITEM"
    CUSTOM_AMOUNT = "CUSTOM_AMOUNT"
    GIFT_CARD = "GIFT_CARD"


@dataclass(frozen=True, slots=True)
class SquareReturnLine:
    """One returned line of a Square return order. ``total_minor`` includes its additive tax."""

    uid: str
    item_type: str
    source_line_item_uid: str | None
    name: str
    quantity: Decimal
    total_minor: int
    tax_minor: int


@dataclass(frozen=True, slots=True)
class SquareReturnCharge:
    """A returned service charge (our orders carry shipping as one). ``total_minor`` includes tax."""

    uid: str
    source_service_charge_uid: str | None
    name: str
    total_minor: int
    tax_minor: int


@dataclass(frozen=True, slots=True)
class SquareReturn:
    """What one Square return order gives back of one sale order."""

    return_order_id: str
    sale_order_id: str
    currency: str
    created_at: str
    lines: tuple[SquareReturnLine, ...]
    charges: tuple[SquareReturnCharge, ...]
    total_minor: int

    @property
    def itemized(self) -> bool:
        return any(line.item_type == SquareItemType.ITEM for line in self.lines)


def square_return(return_order: Mapping[str, Any], sale_order_id: str | None = None) -> SquareReturn:
    """The return order's ``returns[]`` entry for ``sale_order_id`` (or its only linked entry).

    Square makes one OrderReturn per sale order a return order refers to (returns-refunds.md §2.5).
    """
    order_id = str(return_order.get("id") or "")
    what = f"Square return order {order_id or '<no id>'}"
    entries = [
        e for e in return_order.get("returns") or [] if isinstance(e, Mapping) and e.get("source_order_id")
    ]
    if sale_order_id is not None:
        entries = [e for e in entries if e.get("source_order_id") == sale_order_id]
    if len(entries) != 1:
        wanted = f"sale order {sale_order_id}" if sale_order_id else "a sale order"
        raise RefundDataError(what, "returns", f"{len(entries)} entries refer to {wanted}, expected 1")
    entry = entries[0]
    lines = tuple(_return_line(what, i, line) for i, line in enumerate(entry.get("return_line_items") or []))
    charges = tuple(
        _return_charge(what, i, charge) for i, charge in enumerate(entry.get("return_service_charges") or [])
    )
    currencies = {c for c in (_currency_of(entry.get("return_amounts")), *_line_currencies(entry)) if c}
    if len(currencies) > 1:
        raise RefundDataError(what, "returns", f"amounts in several currencies {sorted(currencies)}")
    amounts = _object(entry.get("return_amounts"))
    total = (
        _money(amounts["total_money"], what, "return_amounts.total_money")
        if amounts.get("total_money")
        else sum(li.total_minor for li in lines) + sum(c.total_minor for c in charges)
    )
    return SquareReturn(
        return_order_id=order_id,
        sale_order_id=str(entry["source_order_id"]),
        currency=next(iter(currencies), ""),
        created_at=str(return_order.get("created_at") or ""),
        lines=lines,
        charges=charges,
        total_minor=total,
    )


def _return_line(what: str, i: int, line: Any) -> SquareReturnLine:
    field = f"return_line_items[{i}]"
    if not isinstance(line, Mapping):
        raise RefundDataError(what, field, "expected an object")
    try:
        quantity = Decimal(str(line.get("quantity") or "0"))
    except InvalidOperation:
        raise RefundDataError(what, f"{field}.quantity", f"not a number: {line.get('quantity')!r}") from None
    return SquareReturnLine(
        uid=str(line.get("uid") or ""),
        item_type=str(line.get("item_type") or SquareItemType.ITEM),
        source_line_item_uid=line.get("source_line_item_uid") or None,
        name=str(line.get("name") or ""),
        quantity=quantity,
        total_minor=_money(line.get("total_money"), what, f"{field}.total_money"),
        tax_minor=_money(line.get("total_tax_money"), what, f"{field}.total_tax_money", optional=True),
    )


def _return_charge(what: str, i: int, charge: Any) -> SquareReturnCharge:
    field = f"return_service_charges[{i}]"
    if not isinstance(charge, Mapping):
        raise RefundDataError(what, field, "expected an object")
    money = charge.get("total_money") or charge.get("applied_money") or charge.get("amount_money")
    return SquareReturnCharge(
        uid=str(charge.get("uid") or ""),
        source_service_charge_uid=charge.get("source_service_charge_uid") or None,
        name=str(charge.get("name") or ""),
        total_minor=_money(money, what, f"{field}.total_money"),
        tax_minor=_money(charge.get("total_tax_money"), what, f"{field}.total_tax_money", optional=True),
    )


def _object(value: Any) -> Mapping[str, Any]:
    """An optional JSON object (absent or not an object: empty)."""
    return value if isinstance(value, Mapping) else {}


def _money(value: Any, what: str, field: str, *, optional: bool = False) -> int:
    if value is None and optional:
        return 0
    if not isinstance(value, Mapping) or isinstance(value.get("amount"), bool):
        raise RefundDataError(what, field, f"expected a Money object, got {value!r}")
    amount = value.get("amount")
    if not isinstance(amount, int):
        raise RefundDataError(what, field, f"amount {amount!r} is not an integer")
    return amount


def _currency_of(value: Any) -> str:
    money = value.get("total_money") if isinstance(value, Mapping) else None
    return str(money.get("currency") or "") if isinstance(money, Mapping) else ""


def _line_currencies(entry: Mapping[str, Any]) -> list[str]:
    return [
        str((line.get("total_money") or {}).get("currency") or "")
        for line in entry.get("return_line_items") or []
        if isinstance(line, Mapping)
    ]


def _price(value: Any, what: str, field: str) -> tuple[int, str]:
    try:
        return price_to_minor(value)
    except MoneyError as exc:
        raise RefundDataError(what, field, str(exc)) from None


def google_line_id(sale_order: Mapping[str, Any], line_uid: str) -> str | None:
    """The Google line item a Square sale line stands for. ``square_mapping`` gives every line
    ``uid`` = Google's line item id and records it in ``metadata.google_line_item_id``; the
    metadata wins (a line re-added by the store keeps it), the uid is the fallback."""
    for line in sale_order.get("line_items") or []:
        if isinstance(line, Mapping) and line.get("uid") == line_uid:
            metadata = _object(line.get("metadata"))
            return str(metadata.get("google_line_item_id") or line_uid)
    return None


def tender_payment_ids(square_order: Mapping[str, Any]) -> tuple[str, ...]:
    """The payment ids of the order's tenders, in order (ours is the EXTERNAL one)."""
    return tuple(
        str(t["payment_id"])
        for t in square_order.get("tenders") or []
        if isinstance(t, Mapping) and t.get("payment_id")
    )


# ------------------------------------------------------------------------------- per-order totals
def google_refunded_minor(order: Mapping[str, Any]) -> int:
    """Money Google refunded on the order: the sum of its ``refunds[]`` (reports: amount_refunded_google)."""
    return sum(entry.amount_minor for entry in google_refund_entries(order))


def google_returned_units(order: Mapping[str, Any]) -> int:
    """Units returned on Google (``quantityReturned`` summed over lines; reports: qty_returned)."""
    total = 0
    for line in order.get("lineItems") or []:
        value = line.get("quantityReturned") if isinstance(line, Mapping) else None
        total += value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
    return total


def square_refunded_minor(refunds: Iterable[SquareRefund], payment_ids: Iterable[str]) -> int:
    """Money Square refunded on these payments, COMPLETED refunds only (reports: amount_refunded_oms).

    ``Payment.refunded_money`` counts PENDING refunds too (a Square staff answer); a report of
    what was refunded wants the settled figure.
    """
    wanted = set(payment_ids)
    return sum(r.amount_minor for r in refunds if r.payment_id in wanted and r.status == "COMPLETED")
