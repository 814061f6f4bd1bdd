"""Square orders as the SDK returns them, shaped after the spec note's worked example (ord_1001)."""

from __future__ import annotations

import copy
from typing import Any

RECIPIENT = {
    "display_name": "Alex Buyer",
    "address": {
        "address_line_1": "123 Main St",
        "locality": "Austin",
        "administrative_district_level_1": "TX",
        "postal_code": "78701",
        "country": "US",
    },
}


def money(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def square_order(**changes: Any) -> dict[str, Any]:
    """ord_1001: 2 x Trail Socks 1500 (tax 240), 1 x Water Bottle 2500 (tax 200), shipping 500."""
    order: dict[str, Any] = {
        "id": "ord_1001",
        "location_id": "L1",
        "state": "OPEN",
        "version": 3,
        "created_at": "2026-05-04T10:00:00.123Z",
        "updated_at": "2026-05-04T10:00:05Z",
        "metadata": {"ucp_checkout_id": "chk_1001"},
        "line_items": [
            {
                "uid": "li_1",
                "name": "Trail Socks",
                "quantity": "2",
                "metadata": {"offer_id": "sku_socks"},
                "base_price_money": money(1500),
                "gross_sales_money": money(3000),
                "total_discount_money": money(0),
                "total_tax_money": money(240),
                "total_money": money(3240),
            },
            {
                "uid": "li_2",
                "name": "Water Bottle",
                "quantity": "1",
                "metadata": {"offer_id": "sku_bottle"},
                "base_price_money": money(2500),
                "gross_sales_money": money(2500),
                "total_discount_money": money(0),
                "total_tax_money": money(200),
                "total_money": money(2700),
            },
        ],
        "service_charges": [
            {
                "uid": "shipping",
                "name": "Shipping",
                "amount_money": money(500),
                "applied_money": money(500),
                "total_money": money(500),
                "total_tax_money": money(0),
            }
        ],
        "fulfillments": [
            {
                "uid": "f_all",
                "type": "SHIPMENT",
                "state": "PROPOSED",
                "line_item_application": "ALL",
                "shipment_details": {"recipient": RECIPIENT},
            }
        ],
        "total_money": money(6440),
        "total_tax_money": money(440),
        "total_discount_money": money(0),
        "total_tip_money": money(0),
        "tenders": [{"id": "t1", "type": "CARD", "amount_money": money(6440)}],
    }
    order.update(changes)
    return order


def parcel(
    uid: str, lines: list[tuple[str, int]], tracking: str, shipped_at: str, **extra: Any
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "recipient": RECIPIENT,
        "carrier": "UPS",
        "tracking_number": tracking,
        "tracking_url": f"https://www.ups.com/track?tracknum={tracking}",
        "shipped_at": shipped_at,
    }
    details.update(extra.pop("details", {}))
    return {
        "uid": uid,
        "type": "SHIPMENT",
        "state": "COMPLETED",
        "line_item_application": "ENTRY_LIST",
        "entries": [{"line_item_uid": li, "quantity": str(n)} for li, n in lines],
        "shipment_details": details,
        **extra,
    }


def split_into_parcels(order: dict[str, Any], *parcels: dict[str, Any]) -> dict[str, Any]:
    """The store canceled the whole-order fulfilment and shipped in parcels (ENTRY_LIST)."""
    order = copy.deepcopy(order)
    whole = order["fulfillments"][0]
    whole["state"] = "CANCELED"
    order["fulfillments"] = [whole, *copy.deepcopy(parcels)]
    return order


PARCEL_1 = parcel("p1", [("li_1", 1)], "1Z999AA10123456784", "2026-05-05T09:00:00Z")
PARCEL_2 = parcel("p2", [("li_1", 1), ("li_2", 1)], "1Z999AA10123456791", "2026-05-06T09:00:00Z")
