"""Google Content API v2 Order dicts shaped like the API's responses (spec §3), for domain tests."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any


def price(value: str, currency: str = "USD") -> dict[str, str]:
    return {"value": value, "currency": currency}


def line_item(
    line_id: str,
    offer_id: str,
    *,
    quantity: int = 1,
    unit: str = "19.99",
    tax: str = "1.60",
    currency: str = "USD",
    pending: int | None = None,
    shipped: int = 0,
    delivered: int = 0,
    canceled: int = 0,
    returned: int = 0,
    title: str | None = None,
) -> dict[str, Any]:
    """An OrderLineItem: ``price`` is the line TOTAL (unit x quantity), ``tax`` the line's total tax."""
    total = Decimal(unit) * quantity
    return {
        "id": line_id,
        "product": {
            "id": f"online:en:US:{offer_id}",
            "offerId": offer_id,
            "title": title or f"Product {offer_id}",
            "brand": "Acme",
            "condition": "new",
            "channel": "online",
            "contentLanguage": "en",
            "targetCountry": "US",
            "imageLink": f"https://example.com/{offer_id}.jpg",
            "price": price(unit, currency),
            "gtin": "00012345678905",
            "variantAttributes": [{"dimension": "color", "value": "blue"}],
        },
        "price": price(str(total), currency),
        "tax": price(tax, currency),
        "quantityOrdered": quantity,
        "quantityPending": quantity - shipped - canceled if pending is None else pending,
        "quantityShipped": shipped,
        "quantityDelivered": delivered,
        "quantityCanceled": canceled,
        "quantityReturned": returned,
        "quantityReadyForPickup": 0,
        "shippingDetails": {
            "deliverByDate": "2026-11-27T23:59:59Z",
            "shipByDate": "2026-11-22T23:59:59Z",
            "method": {
                "carrier": "UPS",
                "methodName": "Standard",
                "minDaysInTransit": 3,
                "maxDaysInTransit": 5,
            },
            "type": "delivery",
        },
        "returnInfo": {"daysToReturn": 30, "isReturnable": True, "policyUrl": "https://example.com/returns"},
        "cancellations": [],
        "returns": [],
        "annotations": [],
    }


def default_lines() -> list[dict[str, Any]]:
    # Two lines: 2 x 19.99 (tax 3.20) and 1 x 5.00 (tax 0.40).
    return [
        line_item("LI-A", "sku-a", quantity=2, unit="19.99", tax="3.20"),
        line_item("LI-B", "sku-b", quantity=1, unit="5.00", tax="0.40"),
    ]


def google_order(
    order_id: str = "TEST-1234-56-7890",
    *,
    status: str = "pendingShipment",
    lines: list[dict[str, Any]] | None = None,
    shipments: list[dict[str, Any]] | None = None,
    currency: str = "USD",
    **overrides: Any,
) -> dict[str, Any]:
    order: dict[str, Any] = {
        "kind": "content#order",
        "id": order_id,
        "merchantId": "1234567",
        "merchantOrderId": "",
        "acknowledged": False,
        "status": status,
        "placedDate": "2026-11-20T09:30:12.345Z",
        "paymentStatus": "paymentSecured",
        "taxCollector": "merchant",
        "channelType": "purchasesOnGoogle",
        "shippingOption": "standard",
        "customer": {
            "fullName": "Pam Beesly",
            "email": "pog.pam.beesly@gmail.com",
            "marketingRightsInfo": {"explicitMarketingPreference": "denied"},
        },
        "deliveryDetails": {
            "address": {
                "recipientName": "Pam Beesly",
                "streetAddress": ["1600 Amphitheatre Pkwy"],
                "locality": "Mountain View",
                "region": "CA",
                "postalCode": "94043",
                "country": "US",
                "fullAddress": [
                    "Pam Beesly",
                    "1600 Amphitheatre Pkwy",
                    "Mountain View, CA 94043",
                    "United States",
                ],
                "isPostOfficeBox": False,
            },
            "phoneNumber": "+1 650-253-0000",
        },
        "paymentMethod": {
            "type": "VISA",
            "lastFourDigits": "4242",
            "expirationMonth": 12,
            "expirationYear": 2030,
        },
        "lineItems": default_lines() if lines is None else lines,
        "shipments": shipments or [],
        "refunds": [],
        "shippingCost": price("4.99", currency),
        "shippingCostTax": price("0.40", currency),
        "netAmount": price("48.97", currency),
        "promotions": [
            {
                "id": "PROMO-10OFF",
                "longTitle": "5 off sku-a",
                "productApplicability": "specificProducts",
                "redemptionChannel": "online",
                "effectiveDates": "2026-11-01T00:00:00Z/2026-12-01T00:00:00Z",
                "benefits": [
                    {
                        "type": "product",
                        "subType": "moneyOff",
                        "offerIds": ["sku-a"],
                        "discount": price("-5.00", currency),
                        "taxImpact": price("-0.40", currency),
                    },
                ],
            }
        ],
        "someFutureField": {"ignored": True},
    }
    order.update(overrides)
    return copy.deepcopy(order)


def shipment(
    shipment_id: str,
    lines: list[tuple[str, int]],
    *,
    carrier: str = "ups",
    tracking_id: str = "1Z999AA10123456784",
    status: str = "shipped",
    delivery_date: str | None = None,
) -> dict[str, Any]:
    s: dict[str, Any] = {
        "id": shipment_id,
        "carrier": carrier,
        "trackingId": tracking_id,
        "status": status,
        "creationDate": "2026-11-21T08:00:00Z",
        "lineItems": [{"lineItemId": li, "quantity": q} for li, q in lines],
    }
    if delivery_date:
        s["deliveryDate"] = delivery_date
    return s
