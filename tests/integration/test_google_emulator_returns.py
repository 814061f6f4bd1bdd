"""The Content API emulator's customer returns speak the v2 document's vocabulary (issue 15)."""

from __future__ import annotations

import re

from sync.sandbox.google.discovery import load_document
from sync.sandbox.server import Sandbox
from tests.integration.test_google_emulator import MID, new_order, service
from tests.integration.test_google_emulator_fidelity import ship_all, usd


def _enum(schema: str, field: str) -> set[str]:
    """The "Acceptable values" a v2 schema field's description lists."""
    description = load_document("v2")["schemas"][schema]["properties"][field]["description"]
    return set(re.findall(r'"`([A-Za-z]+)`"', description))


def test_customer_returns_use_the_documented_codes_and_say_why_they_were_accepted(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    o = svc.orders()
    order = new_order(svc)
    ship_all(o, order, "ship", "S1")
    chromecast = order["lineItems"][0]
    return_id = o.createtestreturn(
        merchantId=MID, orderId=order["id"], body={"items": [{"lineItemId": chromecast["id"], "quantity": 2}]}
    ).execute()["returnId"]
    ret = svc.orderreturns().get(merchantId=MID, returnId=return_id).execute()
    codes = {item["customerReturnReason"]["reasonCode"] for item in ret["returnItems"]}
    assert codes and codes <= _enum("CustomerReturnReason", "reasonCode"), codes
    assert {item["state"] for item in ret["returnItems"]} == {"new"}
    o.returnrefundlineitem(
        merchantId=MID,
        orderId=order["id"],
        body={
            "operationId": "accept-1",
            "lineItemId": chromecast["id"],
            "quantity": 1,
            "reason": "productArrivedDamaged",
            "reasonText": "Square refund R1",
            "amountPretax": usd("29.99"),
            "amountTax": usd("2.40"),
        },
    ).execute()
    items = svc.orderreturns().get(merchantId=MID, returnId=return_id).execute()["returnItems"]
    accepted, still_open = items
    assert (accepted["state"], still_open["state"]) == ("refunded", "new")
    assert accepted["merchantReturnReason"] == {
        "reasonCode": "productArrivedDamaged",
        "description": "Square refund R1",
    }
    assert accepted["merchantReturnReason"]["reasonCode"] in _enum("RefundReason", "reasonCode")
    assert "merchantReturnReason" not in still_open
