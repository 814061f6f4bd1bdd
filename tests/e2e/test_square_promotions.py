"""Google orders carrying merchant promotions become Square orders with the same totals.

Sandbox test orders cannot carry promotions (``TestOrder.promotions`` is "Deprecated. Ignored if
provided." in the v2 document, so no template has one), but real orders do (``Order.promotions``).
So the promotions are put on the stored orders the way Google serves them, before ordersync reads
them: a product discount on one offer, and a shipping discount.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sync.adapters.square_gateway import SquareGateway
from sync.config import SquareSettings
from sync.domain.orders import Order

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(600)


def _promote(ws: Workspace, order_id: str, benefit_type: str, discount: str) -> None:
    backend = ws.sandbox.google
    with backend._lock:
        order = backend._orders[order_id]["order"]
        cur = order["netAmount"]["currency"]
        offer = order["lineItems"][-1]["product"]["offerId"]
        order["promotions"] = [
            {
                "id": f"PROMO-{benefit_type}",
                "longTitle": f"{discount} off",
                "productApplicability": "specificProducts",
                "redemptionChannel": "online",
                "benefits": [
                    {
                        "type": benefit_type,
                        "subType": "moneyOff" if benefit_type == "product" else "freeShipping",
                        "discount": {"value": discount, "currency": cur},
                        "offerIds": [offer],
                        "taxImpact": {"value": "0.00", "currency": cur},
                    }
                ],
            }
        ]
        net = Decimal(order["netAmount"]["value"]) - Decimal(discount)
        order["netAmount"] = {"value": str(net), "currency": cur}
        backend._json.pop((order_id, "v2"), None)
        backend._json.pop((order_id, "v2.1"), None)


def test_product_and_shipping_promotions_keep_the_totals_equal(workspace: Workspace) -> None:
    ws = workspace
    write_config(ws.config, ws.sandbox.url, square=True)
    product = ws.create_orders(3, "template1") + ws.create_orders(3, "template1b")
    shipping = ws.create_orders(3, "template3")
    for order_id in product:
        _promote(ws, order_id, "product", "2.00")
    for order_id in shipping:
        _promote(ws, order_id, "shipping", "7.95")
    ws.ordersync("run", "--no-report", check=True)
    square = SquareGateway(SquareSettings(enabled=True, endpoint=ws.sandbox.url), token="store-staff-token")
    by_reference: dict[str, dict[str, Any]] = {
        o.get("reference_id", ""): o for o in square.iter_orders_updated_since(None)
    }
    for order_id in product + shipping:
        google_order = ws.google.get_order(order_id)
        expected = Order.from_google(google_order).total_minor
        square_order = by_reference[order_id]
        assert square_order["total_money"]["amount"] == expected
        undiscounted = sum(
            round(Decimal(p["value"]) * 100)
            for p in [li["price"] for li in google_order["lineItems"]]
            + [li["tax"] for li in google_order["lineItems"]]
            + [google_order["shippingCost"], google_order["shippingCostTax"]]
        )
        discount = 200 if order_id in product else 795
        assert expected == undiscounted - discount
    for order_id in product:
        discounts = by_reference[order_id].get("discounts") or []
        assert sum(d["amount_money"]["amount"] for d in discounts) == 200
