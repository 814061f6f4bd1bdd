"""Test-order templates (``createtestorder`` / ``gettestordertemplate``) and the predefined people.

Google never published the templates' contents. What its own samples show (the Content API
"orders workflow" samples in googleads/googleads-shopping-samples, Java/Python, v2 and v2.1) is
followed here: ``template1`` has exactly two line items, the first a Chromecast ordered more than
once (the sample cancels one unit, ships the rest of line 1, then "the rest" is line 2, after
which the order is fully shipped). Everything else is a plausible stand-in with the documented
``TestOrder`` shape and is not verified: products and prices, quantities, shipping options and
costs, the people's addresses and phone numbers, and the other templates' lines. Templates carry
no promotions: ``TestOrder.promotions`` is "Deprecated. Ignored if provided." in the v2 document.
Products have valid GTIN check digits; dates are relative to the call time, like the real sandbox.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

TEMPLATE_NAMES = ("template1", "template1a", "template1b", "template2", "template3", "template4")
V2_TEMPLATE_NAMES = TEMPLATE_NAMES[:5]  # template4 only exists in v2.1's enum
COUNTRIES = ("US", "FR")

PEOPLE: dict[str, dict[str, Any]] = {
    "dwight": {
        "email": "pog.dwight.schrute@gmail.com",
        "fullName": "Dwight Schrute",
        "phoneNumber": "+1 570-555-0111",
        "address": {
            "recipientName": "Dwight Schrute",
            "streetAddress": ["1725 Slough Avenue", "Schrute Farms Annex"],
            "locality": "Scranton",
            "region": "PA",
            "postalCode": "18505",
            "country": "US",
            "isPostOfficeBox": False,
        },
    },
    "jim": {
        "email": "pog.jim.halpert@gmail.com",
        "fullName": "Jim Halpert",
        "phoneNumber": "+1 570-555-0122",
        "address": {
            "recipientName": "Jim Halpert",
            "streetAddress": ["4 Linden Street"],
            "locality": "Scranton",
            "region": "PA",
            "postalCode": "18503",
            "country": "US",
            "isPostOfficeBox": False,
        },
    },
    "pam": {
        # The discovery doc spells Pam's address literally like this; keep it so clients that
        # copy it from the doc are accepted.
        "email": "penpog.pam.beesly@gmail.comding",
        "fullName": "Pam Beesly",
        "phoneNumber": "+1 570-555-0133",
        "address": {
            "recipientName": "Pam Beesly",
            "streetAddress": ["32 Court Street", "Apt 2B"],
            "locality": "Scranton",
            "region": "PA",
            "postalCode": "18508",
            "country": "US",
            "isPostOfficeBox": False,
        },
    },
}
EMAIL_TO_PERSON = {p["email"]: name for name, p in PEOPLE.items()}
# A sensible alias for Pam's address (the doc's one looks like a typo).
EMAIL_TO_PERSON["pog.pam.beesly@gmail.com"] = "pam"


def full_address(person: str) -> dict[str, Any]:
    """OrderAddress with the printable ``fullAddress`` label lines filled in."""
    addr = copy.deepcopy(PEOPLE[person]["address"])
    addr["fullAddress"] = [
        addr["recipientName"],
        *addr["streetAddress"],
        f"{addr['locality']}, {addr['region']} {addr['postalCode']}",
        "United States",
    ]
    return addr


def gtin(base12: str) -> str:
    """GTIN-13 from 12 digits with a correct check digit (feeds and clients may validate it)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(base12))
    return base12 + str((10 - total % 10) % 10)


_PRODUCTS: dict[str, dict[str, Any]] = {
    "chromecast": {
        "offerId": "GOOG-CHROMECAST-HD",
        "title": "Google Chromecast with Google TV (HD), Snow",
        "brand": "Google",
        "gtin": gtin("081234500074"),
        "mpn": "GA03131-US",
        "price": "29.99",
        "itemGroupId": "GOOG-CHROMECAST",
        "variantAttributes": [{"dimension": "color", "value": "Snow"}],
    },
    "paper": {
        "offerId": "DM-PAPER-500",
        "title": "Dunder Mifflin Premium Copy Paper, Letter, 500 Sheets",
        "brand": "Dunder Mifflin",
        "gtin": gtin("081234500012"),
        "mpn": "DM-CP-500",
        "price": "8.99",
        "itemGroupId": "DM-PAPER",
        "variantAttributes": [{"dimension": "size", "value": "Letter"}],
    },
    "beets": {
        "offerId": "SF-BEETS-1KG",
        "title": "Schrute Farms Organic Red Beets, 1 kg",
        "brand": "Schrute Farms",
        "gtin": gtin("081234500029"),
        "mpn": "SF-B-1000",
        "price": "6.50",
    },
    "speaker": {
        "offerId": "WUPHF-SPK-01",
        "title": "WUPHF Smart Speaker with Voice Assistant, Charcoal",
        "brand": "WUPHF",
        "gtin": gtin("081234500036"),
        "mpn": "WS-01-CH",
        "price": "49.00",
        "variantAttributes": [{"dimension": "color", "value": "Charcoal"}],
    },
    "mug": {
        "offerId": "DM-MUG-WBB",
        "title": "World's Best Boss Ceramic Mug, 11 oz",
        "brand": "Dunder Mifflin",
        "gtin": gtin("081234500043"),
        "mpn": "DM-MUG-11",
        "price": "12.95",
    },
    "chair": {
        "offerId": "SAB-CHAIR-ERG",
        "title": "Sabre Ergonomic Office Chair, Mesh Back",
        "brand": "Sabre",
        "gtin": gtin("081234500050"),
        "mpn": "SAB-EC-2",
        "price": "189.00",
    },
    "stapler": {
        "offerId": "DM-STAPLER-Y",
        "title": "Swingline-Style Desk Stapler, Yellow",
        "brand": "Dunder Mifflin",
        "gtin": gtin("081234500067"),
        "mpn": "DM-ST-Y",
        "price": "15.49",
        "variantAttributes": [{"dimension": "color", "value": "Yellow"}],
    },
}

# (products with quantities, person, shipping option, shipping cost, payment type)
_TEMPLATES: dict[str, dict[str, Any]] = {
    # Two lines, the first ordered twice: the shape Google's own workflow samples rely on.
    "template1": {
        "lines": [("chromecast", 2), ("paper", 1)],
        "person": "dwight",
        "shippingOption": "standard",
        "shippingCost": "5.99",
        "payment": ("VISA", "5555"),
    },
    "template1a": {
        "lines": [("paper", 2), ("mug", 2)],
        "person": "jim",
        "shippingOption": "expedited",
        "shippingCost": "9.99",
        "payment": ("AMEX", "1002"),
    },
    "template1b": {
        "lines": [("stapler", 2), ("beets", 4)],
        "person": "pam",
        "shippingOption": "twoDay",
        "shippingCost": "12.50",
        "payment": ("MASTERCARD", "4444"),
    },
    "template2": {
        "lines": [("chair", 1)],
        "person": "jim",
        "shippingOption": "economy",
        "shippingCost": "0.00",
        "payment": ("DISCOVER", "6011"),
    },
    "template3": {
        "lines": [("mug", 1), ("speaker", 1)],
        "person": "pam",
        "shippingOption": "oneDay",
        "shippingCost": "7.95",
        "payment": ("VISA", "1881"),
    },
    "template4": {
        "lines": [("stapler", 1)],
        "person": "dwight",
        "shippingOption": "sameDay",
        "shippingCost": "4.00",
        "payment": ("VISA", "4242"),
    },
}

_TRANSIT = {
    "economy": (5, 9),
    "standard": (3, 6),
    "expedited": (2, 3),
    "twoDay": (2, 2),
    "oneDay": (1, 1),
    "sameDay": (0, 0),
}
_CURRENCY = {"US": "USD", "FR": "EUR"}
_LANG = {"US": "en", "FR": "fr"}


def currency_for(country: str) -> str:
    return _CURRENCY.get(country, "USD")


def build_template(name: str, country: str = "US", now: datetime | None = None) -> dict[str, Any]:
    """The ``TestOrder`` for a template (lower-case name as in OrdersCreateTestOrderRequest)."""
    spec = _TEMPLATES[name]
    now = now or datetime.now(UTC)
    cur = currency_for(country)
    lang = _LANG.get(country, "en")
    lo, hi = _TRANSIT[spec["shippingOption"]]
    ship_by: date = (now + timedelta(days=2)).date()
    deliver_by: date = ship_by + timedelta(days=hi + 1)
    lines = []
    for key, qty in spec["lines"]:
        p = _PRODUCTS[key]
        product = {
            "offerId": p["offerId"],
            "title": p["title"],
            "brand": p["brand"],
            "gtin": p["gtin"],
            "mpn": p["mpn"],
            "condition": "new",
            "contentLanguage": lang,
            "targetCountry": country,
            "channel": "online",
            "imageLink": f"https://images.example.com/products/{p['offerId'].lower()}.jpg",
            "price": {"value": p["price"], "currency": cur},
        }
        for extra in ("itemGroupId", "variantAttributes"):
            if extra in p:
                product[extra] = copy.deepcopy(p[extra])
        lines.append(
            {
                "product": product,
                "quantityOrdered": qty,
                "returnInfo": {
                    "daysToReturn": 30,
                    "isReturnable": True,
                    "policyUrl": "https://shop.example.com/returns",
                },
                "shippingDetails": {
                    "type": "delivery",
                    "shipByDate": ship_by.isoformat(),
                    "deliverByDate": deliver_by.isoformat(),
                    "method": {
                        "carrier": "UPS",
                        "methodName": spec["shippingOption"],
                        "minDaysInTransit": lo,
                        "maxDaysInTransit": hi,
                    },
                },
            }
        )
    person = PEOPLE[spec["person"]]
    ptype, last4 = spec["payment"]
    return {
        "kind": "content#testOrder",
        "customer": {
            "email": person["email"],
            "fullName": person["fullName"],
            "marketingRightsInfo": {
                "explicitMarketingPreference": "granted" if spec["person"] != "jim" else "denied",
                "lastUpdatedTimestamp": (now - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        },
        "lineItems": lines,
        "predefinedDeliveryAddress": spec["person"],
        "shippingCost": {"value": spec["shippingCost"], "currency": cur},
        "shippingOption": spec["shippingOption"],
        "paymentMethod": {
            "type": ptype,
            "lastFourDigits": last4,
            "expirationMonth": 11,
            "expirationYear": now.year + 3,
            "predefinedBillingAddress": spec["person"],
        },
    }
