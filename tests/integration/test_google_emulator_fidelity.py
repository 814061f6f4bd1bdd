"""Fidelity of the Content API v2 emulator (issue 14, items 11-17), through the unmodified googleapiclient.

Each test drives the emulator with googleapiclient built from the bundled v2 discovery document,
as user code would, and asserts what Google documents (the discovery document, the API's guides
and Google's own sample workflow); see the module docstrings under sync/sandbox/google/.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import google.auth.credentials
import pytest
from google.oauth2 import service_account
from googleapiclient.errors import HttpError

from sync.sandbox.credentials import write_service_account
from sync.sandbox.google.discovery import load_document
from sync.sandbox.server import Sandbox
from tests.integration.test_google_emulator import MID, http_error, new_order, raw, reason, service

TEST_ORDER_METHODS = {
    "createtestorder": lambda o, oid: o.createtestorder(merchantId=MID, body={"templateName": "template1"}),
    "advancetestorder": lambda o, oid: o.advancetestorder(merchantId=MID, orderId=oid),
    "canceltestorderbycustomer": lambda o, oid: o.canceltestorderbycustomer(
        merchantId=MID, orderId=oid, body={"reason": "changedMind"}
    ),
    "createtestreturn": lambda o, oid: o.createtestreturn(
        merchantId=MID, orderId=oid, body={"items": [{"lineItemId": "X", "quantity": 1}]}
    ),
    "gettestordertemplate": lambda o, oid: o.gettestordertemplate(merchantId=MID, templateName="TEMPLATE1"),
}


def usd(value: str) -> dict[str, str]:
    return {"value": value, "currency": "USD"}


def ship_all(o: Any, order: dict[str, Any], op: str, shipment: str, group: str | None = None) -> None:
    body: dict[str, Any] = {
        "operationId": op,
        "lineItems": [
            {"lineItemId": li["id"], "quantity": li["quantityPending"]} for li in order["lineItems"]
        ],
        "shipmentInfos": [{"shipmentId": shipment, "carrier": "ups", "trackingId": f"1Z{shipment}"}],
    }
    if group:
        body["shipmentGroupId"] = group
    o.shiplineitems(merchantId=MID, orderId=order["id"], body=body).execute()


# --------------------------------------------------------------------------- item 11
def test_sandbox_and_production_hold_separate_orders(sandbox: Sandbox) -> None:
    sandbox_svc, production_svc = service(sandbox.url), service(sandbox.url, label="v2")
    order = new_order(sandbox_svc)
    assert production_svc.orders().list(merchantId=MID).execute().get("resources", []) == []
    exc = http_error(production_svc.orders().get(merchantId=MID, orderId=order["id"]))
    assert (exc.status_code, reason(exc)) == (404, "notFound")
    entry = {"batchId": 1, "merchantId": MID, "method": "get", "orderId": order["id"]}
    out = production_svc.orders().custombatch(body={"entries": [entry]}).execute()["entries"][0]
    assert out["errors"]["code"] == 404
    # The other way round: an order of the production environment is not served by the sandbox.
    prod_id = sandbox.google_production.create_test_order(MID, template_name="template2")
    assert [x["id"] for x in production_svc.orders().list(merchantId=MID).execute()["resources"]] == [prod_id]
    assert http_error(sandbox_svc.orders().get(merchantId=MID, orderId=prod_id)).status_code == 404
    listed = sandbox_svc.orders().list(merchantId=MID).execute()["resources"]
    assert [x["id"] for x in listed] == [order["id"]]
    # v2.1 shares each environment with v2, as at Google.
    status, _, body = raw(sandbox, "GET", f"/content/v2.1sandbox/{MID}/orders/{order['id']}")
    assert status == 200 and body["id"] == order["id"]
    assert raw(sandbox, "GET", f"/content/v2.1/{MID}/orders/{order['id']}")[0] == 404


@pytest.mark.parametrize("method", sorted(TEST_ORDER_METHODS))
def test_test_order_methods_are_forbidden_on_production_paths(shared_sandbox: Sandbox, method: str) -> None:
    oid = shared_sandbox.google.create_test_order(MID, template_name="template2")
    exc = http_error(TEST_ORDER_METHODS[method](service(shared_sandbox.url, label="v2").orders(), oid))
    assert (exc.status_code, reason(exc)) == (403, "forbidden") and "sandbox" in exc.reason
    body = json.loads(exc.content)
    assert body["error"]["code"] == 403 and body["error"]["status"] == "PERMISSION_DENIED"
    assert shared_sandbox.google.get_order(MID, oid)["status"] == "inProgress"  # nothing happened


# --------------------------------------------------------------------------- item 12
def test_money_methods_refuse_another_currency_and_tax_without_pretax(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    o = svc.orders()
    order = new_order(svc)
    first = order["lineItems"][0]
    ship_all(o, order, "ship", "S1")
    eur = {"value": "1.00", "currency": "EUR"}
    line = {"lineItemId": first["id"], "quantity": 1, "reason": "productArrivedDamaged"}
    calls = {
        "refund": lambda op, b: o.refund(merchantId=MID, orderId=order["id"], body={"operationId": op, **b}),
        "returnrefundlineitem": lambda op, b: o.returnrefundlineitem(
            merchantId=MID, orderId=order["id"], body={"operationId": op, **line, **b}
        ),
        "instorerefundlineitem": lambda op, b: o.instorerefundlineitem(
            merchantId=MID, orderId=order["id"], body={"operationId": op, **line, **b}
        ),
    }
    for name, call in calls.items():
        extra = {"reason": "courtesyAdjustment"} if name == "refund" else {}
        exc = http_error(call(f"{name}-eur", {**extra, "amountPretax": eur, "amountTax": usd("0.08")}))
        assert (exc.status_code, reason(exc)) == (400, "invalid"), name
        assert "currency" in exc.reason and "USD" in exc.reason, name
        exc = http_error(call(f"{name}-eur-tax", {**extra, "amountPretax": usd("1.00"), "amountTax": eur}))
        assert exc.status_code == 400 and "currency" in exc.reason, name
    exc = http_error(calls["refund"]("deprecated", {"reason": "courtesyAdjustment", "amount": eur}))
    assert exc.status_code == 400 and "currency" in exc.reason
    exc = http_error(calls["returnrefundlineitem"]("tax-only", {"amountTax": usd("0.80")}))
    assert (exc.status_code, reason(exc)) == (400, "required") and "amountPretax" in exc.reason
    exc = http_error(calls["refund"]("tax-only", {"reason": "courtesyAdjustment", "amountTax": usd("0.80")}))
    assert exc.status_code == 400 and "amountPretax" in exc.reason
    exc = http_error(calls["refund"]("too-fine", {"reason": "other", "amountPretax": usd("1.005")}))
    assert exc.status_code == 400 and "decimals" in exc.reason
    # Nothing of that changed the order (and no operationId was used up).
    assert o.get(merchantId=MID, orderId=order["id"]).execute()["refunds"] == []
    # cancelLineItem's optional amounts follow the same rules (on units not shipped yet).
    unshipped = new_order(svc)
    cancel = {"lineItemId": unshipped["lineItems"][0]["id"], "quantity": 1, "reason": "noInventory"}
    for extra, why in (({"amountPretax": eur}, "currency"), ({"amountTax": usd("0.10")}, "amountPretax")):
        exc = http_error(
            o.cancellineitem(
                merchantId=MID, orderId=unshipped["id"], body={"operationId": "c", **cancel, **extra}
            )
        )
        assert exc.status_code == 400 and why in exc.reason
    o.cancellineitem(
        merchantId=MID,
        orderId=unshipped["id"],
        body={"operationId": "c", **cancel, "amountPretax": usd("10.00")},
    ).execute()
    refund = o.get(merchantId=MID, orderId=unshipped["id"]).execute()["refunds"][0]
    assert refund["amount"] == usd("10.80")  # 10.00 + 10.00 x 4.80 / 59.98 = 0.80 (0.8002...)


def test_tax_for_an_explicit_pretax_amount_is_rounded_to_cents(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    o = svc.orders()
    order = new_order(svc)  # line 1: 2 x 29.99, tax 4.80 (2.40 a unit)
    first = order["lineItems"][0]
    ship_all(o, order, "ship", "S1")
    for n in range(3):
        # 5.55 x 4.80 / 59.98 = 0.4441...: Google computes 0.44, never a fraction of a cent.
        o.refund(
            merchantId=MID,
            orderId=order["id"],
            body={"operationId": f"r{n}", "reason": "priceError", "amountPretax": usd("5.55")},
        ).execute()
    o.returnrefundlineitem(
        merchantId=MID,
        orderId=order["id"],
        body={
            "operationId": "rr",
            "lineItemId": first["id"],
            "quantity": 1,
            "reason": "productArrivedDamaged",
            "amountPretax": usd("5.55"),
        },
    ).execute()
    after = o.get(merchantId=MID, orderId=order["id"]).execute()
    # refund's tax uses the order's rate (items and shipping): 5.52 + 0.48 over 68.97 + 5.99.
    order_rate = Decimal("6.00") / Decimal("74.96")
    refund_tax = (Decimal("5.55") * order_rate).quantize(Decimal("0.01"))
    assert [r["amount"]["value"] for r in after["refunds"]] == [str(Decimal("5.55") + refund_tax)] * 3 + [
        "5.99"
    ]
    total = 3 * (Decimal("5.55") + refund_tax) + Decimal("5.99")
    assert after["netAmount"]["value"] == str(Decimal("80.96") - total)
    assert after["lineItems"][0]["quantityReturned"] == 1
    _, _, v21 = raw(sandbox, "GET", f"/content/v2.1sandbox/{MID}/orders/{order['id']}")
    assert Decimal(v21["netTaxAmount"]["value"]) == Decimal("5.52") + Decimal(
        "0.48"
    ) - 3 * refund_tax - Decimal("0.44")


def test_refunds_never_exceed_what_is_left_and_move_the_order(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    o = svc.orders()
    order = new_order(svc)
    first, second = order["lineItems"]
    ship_all(o, order, "ship", "S1")
    # The Chromecast line is worth 59.98 + 4.80: 64.79 is one cent too much for it.
    exc = http_error(
        o.returnrefundlineitem(
            merchantId=MID,
            orderId=order["id"],
            body={
                "operationId": "too-much",
                "lineItemId": first["id"],
                "quantity": 1,
                "reason": "other",
                "amountPretax": usd("59.99"),
                "amountTax": usd("4.80"),
            },
        )
    )
    assert exc.status_code == 400 and "line item" in exc.reason
    o.returnrefundlineitem(
        merchantId=MID,
        orderId=order["id"],
        body={
            "operationId": "rr-1",
            "lineItemId": first["id"],
            "quantity": 1,
            "reason": "productArrivedDamaged",
            "amountPretax": usd("29.99"),
            "amountTax": usd("2.40"),
        },
    ).execute()
    after = o.get(merchantId=MID, orderId=order["id"]).execute()
    assert after["netAmount"]["value"] == "48.57"  # 80.96 - 32.39
    assert after["refunds"][-1]["amount"] == usd("32.39") and after["refunds"][-1]["actor"] == "merchant"
    assert after["refunds"][-1]["reason"] == "productArrivedDamaged"
    assert after["lineItems"][0]["quantityReturned"] == 1 and after["status"] == "partiallyReturned"
    assert after["lineItems"][0]["returns"][0]["quantity"] == 1
    # More than the net amount left is refused; exactly what is left is accepted.
    exc = http_error(
        o.refund(
            merchantId=MID,
            orderId=order["id"],
            body={
                "operationId": "x",
                "reason": "other",
                "amountPretax": usd("48.58"),
                "amountTax": usd("0.00"),
            },
        )
    )
    assert exc.status_code == 400 and "exceeds" in exc.reason
    # A refundless return moves quantities only.
    o.returnrefundlineitem(
        merchantId=MID,
        orderId=order["id"],
        body={"operationId": "rr-2", "lineItemId": second["id"], "quantity": 1, "reason": "other"},
    ).execute()
    final = o.get(merchantId=MID, orderId=order["id"]).execute()
    assert final["netAmount"]["value"] == "48.57" and len(final["refunds"]) == 1
    assert final["lineItems"][1]["quantityReturned"] == 1
    o.refund(
        merchantId=MID,
        orderId=order["id"],
        body={
            "operationId": "rest",
            "reason": "other",
            "amountPretax": usd("48.57"),
            "amountTax": usd("0.00"),
        },
    ).execute()
    assert o.get(merchantId=MID, orderId=order["id"]).execute()["netAmount"]["value"] == "0.00"


# --------------------------------------------------------------------------- item 13
def test_googles_sample_workflow_runs_on_template1(sandbox: Sandbox) -> None:
    """googleads-shopping-samples' orders workflow, step for step (its comments say why)."""
    svc = service(sandbox.url)
    o = svc.orders()
    oid = o.createtestorder(merchantId=MID, body={"templateName": "template1"}).execute()["orderId"]
    o.acknowledge(merchantId=MID, orderId=oid, body={"operationId": "0"}).execute()
    o.updatemerchantorderid(
        merchantId=MID, orderId=oid, body={"operationId": "1", "merchantOrderId": "M1"}
    ).execute()
    current = o.getbymerchantorderid(merchantId=MID, merchantOrderId="M1").execute()["order"]
    # "Oops, not enough stock for all the Chromecasts ordered, so we cancel one of them."
    o.cancellineitem(
        merchantId=MID,
        orderId=oid,
        body={
            "operationId": "2",
            "lineItemId": current["lineItems"][0]["id"],
            "quantity": 1,
            "reason": "noInventory",
        },
    ).execute()
    o.advancetestorder(merchantId=MID, orderId=oid).execute()
    current = o.get(merchantId=MID, orderId=oid).execute()
    shipped = []
    for n, item in enumerate(current["lineItems"]):  # "ship the still-pending amount", then "the rest"
        request = {
            "lineItems": [{"lineItemId": item["id"], "quantity": item["quantityPending"]}],
            "carrier": item["shippingDetails"]["method"]["carrier"],
            "shipmentId": f"ship-{n}",
            "trackingId": f"track-{n}",
            "operationId": str(3 + n),
        }
        o.shiplineitems(merchantId=MID, orderId=oid, body=request).execute()
        shipped.append(request)
    assert o.get(merchantId=MID, orderId=oid).execute()["status"] == "shipped"
    for n, request in enumerate(shipped):
        o.updateshipment(
            merchantId=MID,
            orderId=oid,
            body={"shipmentId": request["shipmentId"], "status": "delivered", "operationId": str(5 + n)},
        ).execute()
    o.returnlineitem(
        merchantId=MID,
        orderId=oid,
        body={
            "lineItemId": current["lineItems"][0]["id"],
            "quantity": 1,
            "reason": "productArrivedDamaged",
            "operationId": "7",
        },
    ).execute()
    final = o.get(merchantId=MID, orderId=oid).execute()
    assert [
        (li["quantityOrdered"], li["quantityCanceled"], li["quantityReturned"]) for li in final["lineItems"]
    ] == [
        (2, 1, 1),
        (1, 0, 0),
    ]
    assert final["status"] == "partiallyReturned"


# --------------------------------------------------------------------------- item 14
def test_deprecated_test_order_fields_are_ignored(shared_sandbox: Sandbox) -> None:
    svc = service(shared_sandbox.url)
    o = svc.orders()
    plain = o.gettestordertemplate(merchantId=MID, templateName="TEMPLATE1").execute()["template"]
    decorated = dict(plain)
    decorated["promotions"] = [
        {
            "id": "X",
            "benefits": [
                {"type": "product", "subType": "moneyOff", "discount": usd("5.00"), "offerIds": ["x"]}
            ],
        }
    ]
    decorated["shippingCostTax"] = usd("3.00")
    decorated["lineItems"] = [{**li, "unitTax": usd("9.99")} for li in plain["lineItems"]]
    ids = [
        o.createtestorder(merchantId=MID, body={"testOrder": body}).execute()["orderId"]
        for body in (plain, decorated)
    ]
    a, b = (o.get(merchantId=MID, orderId=i).execute() for i in ids)
    assert b["promotions"] == [] and b["netAmount"] == a["netAmount"] == usd("80.96")
    assert b["shippingCostTax"] == a["shippingCostTax"] == usd("0.48")
    assert (
        [li["tax"] for li in b["lineItems"]]
        == [li["tax"] for li in a["lineItems"]]
        == [usd("4.80"), usd("0.72")]
    )


# --------------------------------------------------------------------------- item 15
def invoice_lines(
    order: dict[str, Any], units: dict[int, int]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """lineItemInvoices for ``units`` (line index → count) at the order's own prices, and the summary."""
    items, pretax, tax = [], Decimal(0), Decimal(0)
    for index, count in units.items():
        li = order["lineItems"][index]
        unit = Decimal(li["price"]["value"]) / li["quantityOrdered"]
        unit_tax = Decimal(li["tax"]["value"]) / li["quantityOrdered"]
        items.append(
            {
                "lineItemId": li["id"],
                "shipmentUnitIds": [f"unit-{index}"] * count,
                "unitInvoice": {
                    "unitPricePretax": usd(str(unit)),
                    "unitPriceTaxes": [{"taxType": "sales", "taxAmount": usd(str(unit_tax))}],
                },
            }
        )
        pretax, tax = pretax + count * unit, tax + count * unit_tax
    return items, {"productTotal": {"pretax": usd(str(pretax)), "tax": usd(str(tax))}}


def test_order_invoices_charge_refund_and_reports(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    o = svc.orders()
    template = o.gettestordertemplate(merchantId=MID, templateName="TEMPLATE1").execute()["template"]
    oid = o.createtestorder(
        merchantId=MID, body={"testOrder": {**template, "enableOrderinvoices": True}}
    ).execute()["orderId"]
    o.advancetestorder(merchantId=MID, orderId=oid).execute()
    order = o.get(merchantId=MID, orderId=oid).execute()
    exc = http_error(
        o.shiplineitems(
            merchantId=MID,
            orderId=oid,
            body={
                "operationId": "no-group",
                "lineItems": [{"lineItemId": order["lineItems"][1]["id"], "quantity": 1}],
                "shipmentInfos": [{"shipmentId": "S0"}],
            },
        )
    )
    assert (exc.status_code, reason(exc)) == (400, "required") and "shipmentGroupId" in exc.reason
    ship_all(o, order, "ship", "S1", group="G1")
    assert o.get(merchantId=MID, orderId=oid).execute()["paymentStatus"] == "paymentSecured"
    invoices = svc.orderinvoices()
    refund_only = {"refundOnlyOption": {"reason": "courtesyAdjustment"}}
    exc = http_error(
        invoices.createrefundinvoice(merchantId=MID, orderId=oid, body={"operationId": "r0", **refund_only})
    )
    assert exc.status_code == 400 and "createChargeInvoice" in exc.reason
    items, summary = invoice_lines(order, {0: 2, 1: 1})
    charge = {"invoiceId": "INV-1", "operationId": "c1", "shipmentGroupId": "G1", "lineItemInvoices": items}
    bad_summary = {"productTotal": {"pretax": usd("1.00"), "tax": usd("0.00")}}
    exc = http_error(
        invoices.createchargeinvoice(
            merchantId=MID, orderId=oid, body={**charge, "invoiceSummary": bad_summary}
        )
    )
    assert exc.status_code == 400 and "productTotal" in exc.reason
    done = invoices.createchargeinvoice(
        merchantId=MID, orderId=oid, body={**charge, "invoiceSummary": summary}
    ).execute()
    assert done == {"kind": "content#orderinvoicesCreateChargeInvoiceResponse", "executionStatus": "executed"}
    again = invoices.createchargeinvoice(
        merchantId=MID, orderId=oid, body={**charge, "invoiceSummary": summary}
    ).execute()
    assert again["executionStatus"] == "duplicate"
    assert o.get(merchantId=MID, orderId=oid).execute()["paymentStatus"] == "paymentCaptured"
    # Invoiced orders are refunded through createrefundinvoice only.
    exc = http_error(
        o.refund(
            merchantId=MID,
            orderId=oid,
            body={"operationId": "x", "reason": "other", "amountPretax": usd("1.00")},
        )
    )
    assert exc.status_code == 400 and "createrefundinvoice" in exc.reason
    refund_items, refund_summary = invoice_lines(order, {0: 1})
    shipment_invoices = [
        {"shipmentGroupId": "G1", "lineItemInvoices": refund_items, "invoiceSummary": refund_summary}
    ]
    exc = http_error(
        invoices.createrefundinvoice(
            merchantId=MID,
            orderId=oid,
            body={
                "invoiceId": "INV-2",
                "operationId": "r1",
                "shipmentInvoices": shipment_invoices,
                **refund_only,
                "returnOption": {"reason": "productArrivedDamaged"},
            },
        )
    )
    assert exc.status_code == 400 and "Exactly one" in exc.reason
    refunded = invoices.createrefundinvoice(
        merchantId=MID,
        orderId=oid,
        body={
            "invoiceId": "INV-2",
            "operationId": "r1",
            "shipmentInvoices": shipment_invoices,
            "returnOption": {"reason": "productArrivedDamaged", "description": "cracked"},
        },
    ).execute()
    assert refunded == {
        "kind": "content#orderinvoicesCreateRefundInvoiceResponse",
        "executionStatus": "executed",
    }
    after = o.get(merchantId=MID, orderId=oid).execute()
    assert after["netAmount"] == usd("48.57") and after["refunds"][-1]["amount"] == usd("32.39")
    assert after["lineItems"][0]["quantityReturned"] == 1 and after["status"] == "partiallyReturned"
    snap = raw(sandbox, "GET", "/_sandbox/stats", token=None)[2]
    assert snap["mutations"]["content.orderinvoices.createchargeinvoice"] == 1
    assert snap["mutations"]["content.orderinvoices.createrefundinvoice"] == 1

    reports = svc.orderreports()
    listed = reports.listdisbursements(merchantId=MID).execute()
    assert listed["kind"] == "content#orderreportsListDisbursementsResponse"
    (disbursement,) = listed["disbursements"]
    # Marketplace facilitator: the merchant gets the pre-tax amounts, 68.97 charged - 29.99 refunded.
    assert disbursement["disbursementAmount"] == usd("38.98") and disbursement["merchantId"] == MID
    txns = reports.listtransactions(merchantId=MID, disbursementId=disbursement["disbursementId"]).execute()
    assert txns["kind"] == "content#orderreportsListTransactionsResponse"
    assert [(t["orderId"], t["productAmount"]["pretax"]["value"]) for t in txns["transactions"]] == [
        (oid, "68.97"),
        (oid, "-29.99"),
    ]
    assert txns["transactions"][0]["productAmountWithRemittedTax"]["remittedTaxAmount"] == usd("5.52")
    page = reports.listtransactions(
        merchantId=MID, disbursementId=disbursement["disbursementId"], maxResults=1
    )
    first_page = page.execute()
    assert len(first_page["transactions"]) == 1 and first_page["nextPageToken"]
    rest = reports.listtransactions(
        merchantId=MID, disbursementId=disbursement["disbursementId"], pageToken=first_page["nextPageToken"]
    ).execute()
    assert len(rest["transactions"]) == 1 and "nextPageToken" not in rest
    assert (
        reports.listdisbursements(merchantId=MID, disbursementEndDate="2000-01-01")
        .execute()
        .get("disbursements")
        == []
    )
    exc = http_error(reports.listtransactions(merchantId=MID, disbursementId="999"))
    assert (exc.status_code, reason(exc)) == (404, "notFound")


def test_every_order_method_of_the_v2_document_is_served(sandbox: Sandbox) -> None:
    """Walk the bundled v2 document: no order-resource method answers 404, 405 or 501.

    The emulator covers the order resources (orders, orderreturns, orderinvoices, orderreports);
    products, datafeeds, accounts (beyond authinfo/get) and the rest are not emulated and answer
    404 in Google's shape.
    """
    svc = service(sandbox.url)
    order = new_order(svc)
    ship_all(svc.orders(), order, "ship", "S1")
    svc.orders().updatemerchantorderid(
        merchantId=MID, orderId=order["id"], body={"operationId": "m", "merchantOrderId": "WALK-1"}
    ).execute()
    rid = (
        svc.orders()
        .createtestreturn(
            merchantId=MID,
            orderId=order["id"],
            body={"items": [{"lineItemId": order["lineItems"][1]["id"], "quantity": 1}]},
        )
        .execute()["returnId"]
    )
    disbursement = svc.orderreports().listdisbursements(merchantId=MID).execute()["disbursements"][0]
    values = {
        "merchantId": MID,
        "orderId": order["id"],
        "returnId": rid,
        "merchantOrderId": "WALK-1",
        "templateName": "TEMPLATE1",
        "disbursementId": disbursement["disbursementId"],
    }
    doc = load_document("v2")
    answered: dict[str, int] = {}
    for resource in ("orders", "orderreturns", "orderinvoices", "orderreports"):
        for name, method in doc["resources"][resource]["methods"].items():
            kwargs: dict[str, Any] = {p: values[p] for p in method.get("parameterOrder", [])}
            if "request" in method:
                kwargs["body"] = {}  # an empty request: validation may refuse it, routing must not
            try:
                getattr(getattr(svc, resource)(), name)(**kwargs).execute()
                answered[method["id"]] = 200
            except HttpError as exc:
                answered[method["id"]] = exc.status_code
    assert len(answered) == 22 + 2 + 2 + 2
    assert not {m: s for m, s in answered.items() if s in (404, 405, 501)}, answered
    for path in (
        f"/content/v2sandbox/{MID}/products",
        f"/content/v2/{MID}/datafeeds",
        f"/content/v2/{MID}/pos/1/sale",
    ):
        status, _, body = raw(sandbox, "GET", path)
        assert status == 404 and body["error"]["errors"][0]["reason"] == "notFound"


# --------------------------------------------------------------------------- item 16
def test_list_methods_refuse_more_than_250_results(shared_sandbox: Sandbox) -> None:
    svc = service(shared_sandbox.url)
    assert "kind" in svc.orders().list(merchantId=MID, maxResults=250).execute()
    for request in (
        svc.orders().list(merchantId=MID, maxResults=251),
        svc.orderreturns().list(merchantId=MID, maxResults=1000),
    ):
        exc = http_error(request)
        assert (exc.status_code, reason(exc)) == (
            400,
            "invalid",
        ) and "maximum allowed value is 250" in exc.reason


# --------------------------------------------------------------------------- item 17
class StaticToken(google.auth.credentials.Credentials):
    """A bearer token that refreshing cannot fix (what a stale or made-up token looks like)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def refresh(self, request: Any) -> None:
        pass


def test_only_issued_or_configured_tokens_are_accepted(tmp_path: Path) -> None:
    with Sandbox(tokens={"configured"}).start() as sb:

        def build(creds: Any) -> Any:
            return service(sb.url, creds=creds)

        exc = http_error(build(StaticToken("made-up")).orders().list(merchantId=MID))
        assert (exc.status_code, reason(exc)) == (401, "authError")
        assert exc.reason.startswith("Request had invalid authentication credentials.")
        assert exc.error_details[0]["location"] == "Authorization"
        status, headers, body = raw(sb, "GET", f"/content/v2sandbox/{MID}/orders", token=None)
        assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
        assert body["error"]["errors"][0]["reason"] == "required"
        assert body["error"]["message"].startswith("Request is missing required authentication credential.")
        assert "bearer" in headers["www-authenticate"].lower()
        assert build(StaticToken("configured")).orders().list(merchantId=MID).execute()["kind"]
        key_file = tmp_path / "sa.json"
        write_service_account(key_file, sb.url)
        creds = service_account.Credentials.from_service_account_file(
            str(key_file), scopes=["https://www.googleapis.com/auth/content"]
        )
        assert build(creds).orders().list(merchantId=MID).execute()["kind"]  # issued at /token
        # Square's token handling is unchanged: with tokens given it accepts exactly those.
        assert raw(sb, "GET", "/v2/locations", token="configured")[0] == 200
    with Sandbox().start() as sb:
        exc = http_error(service(sb.url, creds=StaticToken("configured")).orders().list(merchantId=MID))
        assert exc.status_code == 401  # no --token: only tokens issued at /token
    with Sandbox(any_token=True).start() as sb:
        assert service(sb.url, creds=StaticToken("made-up")).orders().list(merchantId=MID).execute()["kind"]
        assert raw(sb, "GET", f"/content/v2sandbox/{MID}/orders", token=None)[0] == 401  # still a token
