"""Square orders as a UCP checkout or the merchant's web shop would create them (sandbox test data).

Used by ``ordersync testorders create --channel ucp|web``: ad-hoc line items with an ``offer_id``
in their metadata, a shipping service charge, a SHIPMENT fulfilment with a recipient, paid with an
EXTERNAL payment (the checkout took the money), and for UCP the checkout id in the order metadata
([ucp] checkout_id_metadata_key) that makes it a UCP order.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from sync.adapters.square_gateway import SquareGateway

Channel = Literal["ucp", "web"]
PRODUCTS = (
    ("sku_socks", "Trail Socks", 1500),
    ("sku_bottle", "Water Bottle", 2500),
    ("sku_cap", "Sun Cap", 1800),
)
SOURCES = {"ucp": "Google agentic checkout (UCP)", "web": "Web shop"}


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def checkout_order(
    channel: Channel, n: int, *, location_id: str, checkout_id_metadata_key: str, currency: str = "USD"
) -> dict[str, Any]:
    """The CreateOrder ``order`` for test order ``n`` of ``channel``."""
    first, second = PRODUCTS[n % len(PRODUCTS)], PRODUCTS[(n + 1) % len(PRODUCTS)]
    line_items = [
        {
            "uid": f"li_{i + 1}",
            "name": title,
            "quantity": str(quantity),
            "base_price_money": _money(price, currency),
            "metadata": {"offer_id": offer_id},
        }
        for i, ((offer_id, title, price), quantity) in enumerate(((first, 1 + n % 2), (second, 1)))
    ]
    metadata = {"channel": channel}
    if channel == "ucp":
        metadata[checkout_id_metadata_key] = "chk_" + secrets.token_hex(8)
    return {
        "location_id": location_id,
        "source": {"name": SOURCES[channel]},
        "line_items": line_items,
        "service_charges": [
            {
                "uid": "shipping",
                "name": "Shipping",
                "amount_money": _money(500, currency),
                "calculation_phase": "TOTAL_PHASE",
                "taxable": False,
            }
        ],
        "fulfillments": [
            {
                "uid": "shipment",
                "type": "SHIPMENT",
                "state": "PROPOSED",
                "shipment_details": {
                    "recipient": {
                        "display_name": "Alex Buyer",
                        "phone_number": "+15125550100",
                        "address": {
                            "address_line_1": "123 Main St",
                            "locality": "Austin",
                            "administrative_district_level_1": "TX",
                            "postal_code": "78701",
                            "country": "US",
                        },
                    }
                },
            }
        ],
        "metadata": metadata,
    }


def create_checkout_order(
    gateway: SquareGateway, channel: Channel, n: int, checkout_id_metadata_key: str
) -> str:
    """Create and pay one order; returns the Square order id."""
    key = f"testorder:{channel}:{secrets.token_hex(12)}"
    body = checkout_order(
        channel, n, location_id=gateway.location_id(), checkout_id_metadata_key=checkout_id_metadata_key
    )
    order = gateway.create_order(body, key)
    paid = gateway.pay_order_external(order, key, source=SOURCES[channel])
    return str(paid["id"])
