"""Builders for refund and return tests: a delivered Google order, its Square sale order, Square
return orders and refunds, Google order returns — shaped as the APIs return them (JSON)."""

from __future__ import annotations

from typing import Any

from sync.domain.orders import Order
from sync.domain.square_records import SquarePayment, SquareRefund
from tests.unit.fixtures_google import google_order, line_item, price

ORDER_ID = "TEST-1000-20-3000"
SALE_ID = "SQ-SALE-1"
PAYMENT_ID = "PAY-1"
MERCHANT = "1234567"


def delivered_order(**overrides: Any) -> dict[str, Any]:
    """LI-A 2 x 19.99 (tax 3.20), LI-B 1 x 5.00 (tax 0.40), shipping 4.99 + 0.40: 53.97 in all,
    everything shipped and delivered, no promotion."""
    lines = [
        line_item("LI-A", "sku-a", quantity=2, unit="19.99", tax="3.20", shipped=2, delivered=2),
        line_item("LI-B", "sku-b", quantity=1, unit="5.00", tax="0.40", shipped=1, delivered=1),
    ]
    values: dict[str, Any] = {
        "status": "delivered",
        "lines": lines,
        "promotions": [],
        "netAmount": price("53.97"),
        "acknowledged": True,
    }
    values.update(overrides)
    return google_order(ORDER_ID, **values)


def order_of(raw: dict[str, Any]) -> Order:
    return Order.from_google(raw)


def sale_order(**overrides: Any) -> dict[str, Any]:
    """The Square order ordersync made for ``delivered_order`` (line uid = Google line id)."""
    order: dict[str, Any] = {
        "id": SALE_ID,
        "reference_id": ORDER_ID,
        "state": "OPEN",
        "line_items": [
            {"uid": "LI-A", "quantity": "2", "metadata": {"google_line_item_id": "LI-A"}},
            {"uid": "LI-B", "quantity": "1", "metadata": {"google_line_item_id": "LI-B"}},
        ],
        "service_charges": [{"uid": "shipping"}, {"uid": "shipping-tax"}],
        "tenders": [{"id": PAYMENT_ID, "type": "OTHER", "payment_id": PAYMENT_ID}],
        "total_money": {"amount": 5397, "currency": "USD"},
    }
    order.update(overrides)
    return order


def money(amount: int, currency: str = "USD") -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def item_line(uid: str, quantity: str, total: int, tax: int, *, sale_uid: str = "LI-A") -> dict[str, Any]:
    return {
        "uid": uid,
        "source_line_item_uid": sale_uid,
        "item_type": "ITEM",
        "name": f"Product {sale_uid}",
        "quantity": quantity,
        "total_money": money(total),
        "total_tax_money": money(tax),
    }


def custom_line(amount: int, name: str = "Custom Amount") -> dict[str, Any]:
    return {
        "uid": "ret-custom",
        "item_type": "CUSTOM_AMOUNT",
        "name": name,
        "quantity": "1",
        "total_money": money(amount),
        "total_tax_money": money(0),
    }


def return_order(
    lines: list[dict[str, Any]],
    *,
    order_id: str = "SQ-RET-1",
    charges: list[dict[str, Any]] | None = None,
    sale_id: str = SALE_ID,
    created_at: str = "2026-11-25T10:00:00Z",
) -> dict[str, Any]:
    total = sum(li["total_money"]["amount"] for li in lines) + sum(
        c["total_money"]["amount"] for c in charges or []
    )
    entry: dict[str, Any] = {
        "uid": "ret-1",
        "source_order_id": sale_id,
        "return_line_items": lines,
        "return_amounts": {"total_money": money(total), "tax_money": money(0)},
    }
    if charges:
        entry["return_service_charges"] = charges
    return {"id": order_id, "state": "COMPLETED", "created_at": created_at, "returns": [entry]}


def refund(
    amount: int,
    *,
    refund_id: str = "PAY-1_R1",
    status: str = "COMPLETED",
    reason: str | None = "Returned goods",
    order_id: str = "SQ-RET-1",
    created_at: str = "2026-11-25T10:00:00Z",
    currency: str = "USD",
) -> SquareRefund:
    return SquareRefund(
        refund_id=refund_id,
        payment_id=PAYMENT_ID,
        order_id=order_id,
        status=status,
        amount_minor=amount,
        currency=currency,
        reason=reason,
        created_at=created_at,
        updated_at=created_at,
        destination_type="EXTERNAL",
    )


def payment(
    *, amount: int = 5397, refunded: int = 0, status: str = "COMPLETED", source: str = "EXTERNAL"
) -> SquarePayment:
    return SquarePayment(
        payment_id=PAYMENT_ID,
        order_id=SALE_ID,
        status=status,
        source_type=source,
        amount_minor=amount,
        currency="USD",
        refunded_minor=refunded,
    )


def google_return_raw(
    return_id: str,
    items: list[tuple[str, str]],
    *,
    created: str = "2026-11-24T09:00:00Z",
    order_id: str = ORDER_ID,
) -> dict[str, Any]:
    """A MerchantOrderReturn: ``items`` are (offerId, state), one per returned unit."""
    return {
        "orderReturnId": return_id,
        "orderId": order_id,
        "merchantOrderId": "OS-" + order_id,
        "creationDate": created,
        "returnItems": [
            {
                "itemId": f"{return_id}-{i}",
                "product": {"id": f"online:en:US:{offer}", "offerId": offer},
                "customerReturnReason": {"reasonCode": "changedMind", "description": "Test return"},
                "state": state,
                "returnShipmentIds": [],
            }
            for i, (offer, state) in enumerate(items)
        ],
        "returnShipments": [],
    }
