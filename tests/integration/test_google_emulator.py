"""The Content API v2 orders emulator driven by the real googleapiclient over loopback HTTP."""

from __future__ import annotations

import http.client
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import pytest
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build, build_from_document
from googleapiclient.errors import HttpError

from sync.sandbox.credentials import write_service_account
from sync.sandbox.google.discovery import load_document
from sync.sandbox.server import Sandbox

MID = "1234567"
SCOPE = "https://www.googleapis.com/auth/content"


def service(url: str, label: str = "v2sandbox", token: str | None = "t", creds: Any = None) -> Any:
    return build(
        "content",
        "v2",
        credentials=creds or Credentials(token=token),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": f"{url}/content/{label}/"},
    )


def http_error(request: Any) -> HttpError:
    with pytest.raises(HttpError) as info:
        request.execute()
    return info.value


def reason(exc: HttpError) -> str:
    return exc.error_details[0]["reason"]


def raw(
    sb: Sandbox, method: str, path: str, body: Any = None, token: str | None = "t"
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(data) if data else None
    finally:
        conn.close()


def new_order(svc: Any, template: str = "template1", advance: bool = True) -> dict[str, Any]:
    oid = svc.orders().createtestorder(merchantId=MID, body={"templateName": template}).execute()["orderId"]
    if advance:
        svc.orders().advancetestorder(merchantId=MID, orderId=oid).execute()
    return svc.orders().get(merchantId=MID, orderId=oid).execute()


def stats(sb: Sandbox) -> dict[str, Any]:
    return raw(sb, "GET", "/_sandbox/stats", token=None)[2]


# --------------------------------------------------------------------------- the API guide workflow
def test_api_guide_workflow_gives_documented_statuses(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    orders = svc.orders()
    oid = orders.createtestorder(merchantId=MID, body={"templateName": "template1"}).execute()["orderId"]
    assert oid.startswith("TEST-") and len(oid.split("-")) == 4
    order = orders.get(merchantId=MID, orderId=oid).execute()
    assert (order["status"], order["acknowledged"]) == ("inProgress", False)
    assert order["placedDate"].endswith("Z")

    orders.advancetestorder(merchantId=MID, orderId=oid).execute()
    listed = orders.list(merchantId=MID, acknowledged=False).execute()["resources"]
    assert [o["id"] for o in listed] == [oid]
    assert listed[0]["status"] == "pendingShipment"

    assert orders.acknowledge(merchantId=MID, orderId=oid, body={"operationId": "ack-1"}).execute() == {
        "kind": "content#ordersAcknowledgeResponse",
        "executionStatus": "executed",
    }
    assert orders.list(merchantId=MID, acknowledged=False).execute()["resources"] == []
    orders.updatemerchantorderid(
        merchantId=MID, orderId=oid, body={"operationId": "moid-1", "merchantOrderId": "SQ-42"}
    ).execute()
    by_moid = orders.getbymerchantorderid(merchantId=MID, merchantOrderId="SQ-42").execute()
    assert by_moid["kind"] == "content#ordersGetByMerchantOrderIdResponse"
    assert by_moid["order"]["id"] == oid and by_moid["order"]["acknowledged"] is True

    first, *rest = by_moid["order"]["lineItems"]
    assert first["quantityOrdered"] > 1
    orders.shiplineitems(
        merchantId=MID,
        orderId=oid,
        body={
            "operationId": "ship-1",
            "lineItems": [{"lineItemId": first["id"], "quantity": 1}],
            "shipmentInfos": [{"shipmentId": "S1", "carrier": "ups", "trackingId": "1Z001"}],
        },
    ).execute()
    order = orders.get(merchantId=MID, orderId=oid).execute()
    assert order["status"] == "partiallyShipped"
    li = order["lineItems"][0]
    assert (li["quantityShipped"], li["quantityPending"]) == (1, first["quantityOrdered"] - 1)

    remaining = [{"lineItemId": first["id"], "quantity": first["quantityOrdered"] - 1}]
    remaining += [{"productId": x["product"]["id"], "quantity": x["quantityOrdered"]} for x in rest]
    orders.shiplineitems(
        merchantId=MID,
        orderId=oid,
        body={
            "operationId": "ship-2",
            "lineItems": remaining,
            "shipmentInfos": [{"shipmentId": "S2", "carrier": "fedex", "trackingId": "FX002"}],
        },
    ).execute()
    order = orders.get(merchantId=MID, orderId=oid).execute()
    assert order["status"] == "shipped"
    assert all(x["quantityPending"] == 0 for x in order["lineItems"])
    assert [(s["id"], s["status"]) for s in order["shipments"]] == [("S1", "shipped"), ("S2", "shipped")]

    orders.updateshipment(
        merchantId=MID,
        orderId=oid,
        body={
            "operationId": "dlv-1",
            "shipmentId": "S1",
            "status": "delivered",
            "deliveryDate": "2024-05-01",
        },
    ).execute()
    order = orders.get(merchantId=MID, orderId=oid).execute()
    assert order["status"] == "partiallyDelivered"
    assert order["shipments"][0]["deliveryDate"].startswith("2024-05-01")
    orders.updateshipment(
        merchantId=MID, orderId=oid, body={"operationId": "dlv-2", "shipmentId": "S2", "status": "delivered"}
    ).execute()
    order = orders.get(merchantId=MID, orderId=oid).execute()
    assert order["status"] == "delivered"
    assert all(x["quantityDelivered"] == x["quantityOrdered"] for x in order["lineItems"])
    snap = stats(sandbox)
    assert snap["mutations"]["content.orders.shiplineitems"] == 2
    assert snap["mutations"]["content.orders.updateshipment"] == 2
    assert snap["orders"]["google"] == 1


# --------------------------------------------------------------------------- every method
def test_every_discovery_method_of_orders_is_served(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    o = svc.orders()

    def op(name: str) -> str:
        return f"{name}-op"

    a = new_order(svc, "template1b")  # stapler x2, beets x4: enough units for every return method
    lines = a["lineItems"]
    o.acknowledge(merchantId=MID, orderId=a["id"], body={"operationId": op("ack")}).execute()
    o.updatemerchantorderid(
        merchantId=MID, orderId=a["id"], body={"operationId": op("moid"), "merchantOrderId": "M-A"}
    ).execute()
    o.getbymerchantorderid(merchantId=MID, merchantOrderId="M-A").execute()
    o.list(merchantId=MID).execute()
    o.setlineitemmetadata(
        merchantId=MID,
        orderId=a["id"],
        body={
            "operationId": op("meta"),
            "lineItemId": lines[0]["id"],
            "annotations": [{"key": "k", "value": "v"}],
        },
    ).execute()
    o.updatelineitemshippingdetails(
        merchantId=MID,
        orderId=a["id"],
        body={
            "operationId": op("usd"),
            "lineItemId": lines[0]["id"],
            "shipByDate": time.strftime("%Y-%m-%d"),
        },
    ).execute()
    o.cancellineitem(
        merchantId=MID,
        orderId=a["id"],
        body={"operationId": op("cli"), "lineItemId": lines[1]["id"], "quantity": 1, "reason": "noInventory"},
    ).execute()
    ship = [
        {"lineItemId": x["id"], "quantity": x["quantityOrdered"] - (1 if i == 1 else 0)}
        for i, x in enumerate(lines)
    ]
    o.shiplineitems(
        merchantId=MID,
        orderId=a["id"],
        body={
            "operationId": op("ship"),
            "lineItems": ship,
            "shipmentInfos": [{"shipmentId": "SA", "carrier": "usps"}],
        },
    ).execute()
    o.updateshipment(
        merchantId=MID,
        orderId=a["id"],
        body={"operationId": op("upd"), "shipmentId": "SA", "status": "delivered"},
    ).execute()
    o.returnlineitem(
        merchantId=MID,
        orderId=a["id"],
        body={
            "operationId": op("ret"),
            "lineItemId": lines[0]["id"],
            "quantity": 1,
            "reason": "productArrivedDamaged",
        },
    ).execute()
    rid = o.createtestreturn(
        merchantId=MID, orderId=a["id"], body={"items": [{"lineItemId": lines[0]["id"], "quantity": 1}]}
    ).execute()["returnId"]
    o.rejectreturnlineitem(
        merchantId=MID,
        orderId=a["id"],
        body={
            "operationId": op("rej"),
            "lineItemId": lines[0]["id"],
            "quantity": 1,
            "reason": "damagedOrUsed",
        },
    ).execute()
    o.returnrefundlineitem(
        merchantId=MID,
        orderId=a["id"],
        body={
            "operationId": op("rrf"),
            "lineItemId": lines[1]["id"],
            "quantity": 1,
            "reason": "customerDiscretionaryReturn",
            "amountPretax": {"value": "10.00", "currency": "USD"},
            "amountTax": {"value": "0.80", "currency": "USD"},
        },
    ).execute()
    o.refund(
        merchantId=MID,
        orderId=a["id"],
        body={
            "operationId": op("ref"),
            "reason": "courtesyAdjustment",
            "amountPretax": {"value": "1.00", "currency": "USD"},
            "amountTax": {"value": "0.00", "currency": "USD"},
        },
    ).execute()
    o.instorerefundlineitem(
        merchantId=MID,
        orderId=a["id"],
        body={
            "operationId": op("isr"),
            "lineItemId": lines[1]["id"],
            "quantity": 1,
            "reason": "other",
            "amountPretax": {"value": "8.99", "currency": "USD"},
            "amountTax": {"value": "0.72", "currency": "USD"},
        },
    ).execute()
    b = new_order(svc, "template2")
    o.cancel(
        merchantId=MID,
        orderId=b["id"],
        body={"operationId": op("cancel"), "reason": "customerInitiatedCancel"},
    ).execute()
    c = new_order(svc, "template3")
    o.canceltestorderbycustomer(merchantId=MID, orderId=c["id"], body={"reason": "changedMind"}).execute()
    o.gettestordertemplate(merchantId=MID, templateName="TEMPLATE1A").execute()
    o.custombatch(
        body={"entries": [{"batchId": 1, "merchantId": MID, "method": "get", "orderId": a["id"]}]}
    ).execute()
    svc.orderreturns().get(merchantId=MID, returnId=rid).execute()
    svc.orderreturns().list(merchantId=MID).execute()

    doc = load_document("v2")
    expected = {m["id"] for m in doc["resources"]["orders"]["methods"].values()}
    assert len(expected) == 22  # the spec table says 23, the document has 22
    seen = set(stats(sandbox)["requests"])
    assert expected <= seen, expected - seen
    assert {"content.orderreturns.get", "content.orderreturns.list"} <= seen
    # Every mutation above changed state exactly once.
    muts = stats(sandbox)["mutations"]
    for name in (
        "acknowledge",
        "cancel",
        "cancellineitem",
        "refund",
        "returnlineitem",
        "instorerefundlineitem",
        "rejectreturnlineitem",
        "returnrefundlineitem",
        "setlineitemmetadata",
        "shiplineitems",
        "updatelineitemshippingdetails",
        "updatemerchantorderid",
        "updateshipment",
    ):
        assert muts[f"content.orders.{name}"] == 1, name

    final = o.get(merchantId=MID, orderId=a["id"]).execute()
    assert final["status"] == "partiallyReturned"
    assert final["lineItems"][0]["annotations"] == [{"key": "k", "value": "v"}]
    assert final["lineItems"][1]["cancellations"][0]["actor"] == "merchant"
    assert len(final["refunds"]) == 4  # cancelLineItem, returnRefund, refund, inStoreRefund
    ret = svc.orderreturns().get(merchantId=MID, returnId=rid).execute()
    assert ret["orderId"] == a["id"] and ret["merchantOrderId"] == "M-A"
    assert [i["state"] for i in ret["returnItems"]] == ["rejected"]
    assert o.get(merchantId=MID, orderId=b["id"]).execute()["status"] == "canceled"
    cust = o.get(merchantId=MID, orderId=c["id"]).execute()
    assert cust["status"] == "canceled"
    assert {x["cancellations"][0]["actor"] for x in cust["lineItems"]} == {"customer"}


# --------------------------------------------------------------------------- templates
@pytest.mark.parametrize("template", ["template1", "template1a", "template1b", "template2", "template3"])
def test_templates_make_plausible_orders(shared_sandbox: Sandbox, template: str) -> None:
    svc = service(shared_sandbox.url)
    order = new_order(svc, template, advance=False)
    assert order["kind"] == "content#order" and order["status"] == "inProgress"
    assert order["customer"]["fullName"] in {"Dwight Schrute", "Jim Halpert", "Pam Beesly"}
    assert order["deliveryDetails"]["address"]["streetAddress"] and order["deliveryDetails"]["phoneNumber"]
    assert order["paymentMethod"]["type"] in {"VISA", "AMEX", "MASTERCARD", "DISCOVER"}
    for li in order["lineItems"]:
        p = li["product"]
        assert all(p[k] for k in ("offerId", "title", "gtin", "brand", "imageLink"))
        unit = float(p["price"]["value"])
        assert float(li["price"]["value"]) == pytest.approx(unit * li["quantityOrdered"])
        assert float(li["tax"]["value"]) > 0
        assert isinstance(li["price"]["value"], str)
    if template == "template1":
        # Google's workflow samples: two lines, the first (a Chromecast) ordered more than once.
        assert len(order["lineItems"]) == 2
        assert order["lineItems"][0]["quantityOrdered"] >= 2
        assert "Chromecast" in order["lineItems"][0]["product"]["title"]
    # TestOrder.promotions is "Deprecated. Ignored if provided.": no template carries one.
    assert order["promotions"] == []
    tmpl = svc.orders().gettestordertemplate(merchantId=MID, templateName=template.upper()).execute()
    assert tmpl["kind"] == "content#ordersGetTestOrderTemplateResponse"
    assert "promotions" not in tmpl["template"]
    assert (
        tmpl["template"]["lineItems"][0]["product"]["offerId"] == order["lineItems"][0]["product"]["offerId"]
    )


def test_custom_test_order_body(shared_sandbox: Sandbox) -> None:
    svc = service(shared_sandbox.url)
    template = (
        svc.orders().gettestordertemplate(merchantId=MID, templateName="TEMPLATE2", country="FR").execute()
    )
    test_order = template["template"]
    test_order["lineItems"][0]["quantityOrdered"] = 4
    test_order["lineItems"][0]["product"]["offerId"] = "CUSTOM-1"
    oid = (
        svc.orders()
        .createtestorder(merchantId=MID, body={"testOrder": test_order, "country": "FR"})
        .execute()["orderId"]
    )
    order = svc.orders().get(merchantId=MID, orderId=oid).execute()
    li = order["lineItems"][0]
    assert li["product"]["id"] == "online:fr:FR:CUSTOM-1" and li["quantityOrdered"] == 4
    assert li["price"]["currency"] == "EUR"
    bad = dict(test_order, predefinedDeliveryAddress="michael")
    exc = http_error(svc.orders().createtestorder(merchantId=MID, body={"testOrder": bad}))
    assert exc.status_code == 400 and "predefinedDeliveryAddress" in exc.reason


# --------------------------------------------------------------------------- errors
def test_error_cases_are_google_shaped(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    o = svc.orders()
    raw_order = new_order(svc, "template1", advance=False)
    oid, li = raw_order["id"], raw_order["lineItems"][0]
    ship_body = {
        "lineItems": [{"lineItemId": li["id"], "quantity": 1}],
        "shipmentInfos": [{"shipmentId": "X"}],
    }

    exc = http_error(o.acknowledge(merchantId=MID, orderId=oid, body={}))
    assert (exc.status_code, reason(exc)) == (400, "required") and "operationId" in exc.reason
    exc = http_error(o.shiplineitems(merchantId=MID, orderId=oid, body={**ship_body, "operationId": "s0"}))
    assert exc.status_code == 400 and "inProgress" in exc.reason
    o.advancetestorder(merchantId=MID, orderId=oid).execute()

    too_many = {
        "lineItems": [{"lineItemId": li["id"], "quantity": li["quantityOrdered"] + 1}],
        "shipmentInfos": [{"shipmentId": "X"}],
    }
    exc = http_error(o.shiplineitems(merchantId=MID, orderId=oid, body={**too_many, "operationId": "s1"}))
    assert (exc.status_code, reason(exc)) == (400, "invalid") and "pending" in exc.reason
    exc = http_error(
        o.cancellineitem(
            merchantId=MID,
            orderId=oid,
            body={"operationId": "c1", "lineItemId": li["id"], "quantity": 99, "reason": "other"},
        )
    )
    assert exc.status_code == 400 and "cancel" in exc.reason
    exc = http_error(
        o.cancellineitem(
            merchantId=MID,
            orderId=oid,
            body={"operationId": "c2", "lineItemId": "NOPE", "quantity": 1, "reason": "other"},
        )
    )
    assert exc.status_code == 400 and "NOPE" in exc.reason
    exc = http_error(
        o.cancellineitem(
            merchantId=MID,
            orderId=oid,
            body={"operationId": "c3", "productId": "online:en:US:NOPE", "quantity": 1, "reason": "other"},
        )
    )
    assert exc.status_code == 400 and "productId" in exc.reason
    exc = http_error(
        o.updateshipment(
            merchantId=MID,
            orderId=oid,
            body={"operationId": "u1", "shipmentId": "NOPE", "status": "delivered"},
        )
    )
    assert exc.status_code == 400 and "shipmentId" in exc.reason

    o.shiplineitems(merchantId=MID, orderId=oid, body={**ship_body, "operationId": "s2"}).execute()
    # Same shipmentId, different contents → 409 conflict; same contents, new operationId → no-op.
    other = {"lineItems": [{"lineItemId": li["id"], "quantity": 2}], "shipmentInfos": [{"shipmentId": "X"}]}
    exc = http_error(o.shiplineitems(merchantId=MID, orderId=oid, body={**other, "operationId": "s3"}))
    assert (exc.status_code, reason(exc)) == (409, "conflict")
    again = o.shiplineitems(merchantId=MID, orderId=oid, body={**ship_body, "operationId": "s4"}).execute()
    assert again["executionStatus"] == "duplicate"
    assert o.get(merchantId=MID, orderId=oid).execute()["lineItems"][0]["quantityShipped"] == 1

    second = new_order(svc, "template2")
    o.updatemerchantorderid(
        merchantId=MID, orderId=oid, body={"operationId": "m1", "merchantOrderId": "TAKEN"}
    ).execute()
    exc = http_error(
        o.updatemerchantorderid(
            merchantId=MID, orderId=second["id"], body={"operationId": "m2", "merchantOrderId": "TAKEN"}
        )
    )
    assert (exc.status_code, reason(exc)) == (409, "conflict")

    o.cancel(
        merchantId=MID, orderId=second["id"], body={"operationId": "x1", "reason": "noInventory"}
    ).execute()
    exc = http_error(
        o.shiplineitems(
            merchantId=MID,
            orderId=second["id"],
            body={
                "operationId": "x2",
                "lineItems": [{"lineItemId": second["lineItems"][0]["id"], "quantity": 1}],
                "shipmentInfos": [{"shipmentId": "Y"}],
            },
        )
    )
    assert exc.status_code == 400 and "canceled" in exc.reason
    exc = http_error(
        o.cancel(merchantId=MID, orderId=second["id"], body={"operationId": "x3", "reason": "noInventory"})
    )
    assert exc.status_code == 400

    exc = http_error(o.get(merchantId=MID, orderId="TEST-0000-00-0000"))
    assert (exc.status_code, reason(exc)) == (404, "notFound")
    exc = http_error(o.get(merchantId="abc", orderId=oid))
    assert exc.status_code == 400 and "merchantId" in exc.reason
    exc = http_error(o.get(merchantId="7654321", orderId=oid))  # another account's order
    assert exc.status_code == 404

    exc = http_error(
        service(sandbox.url, label="v2")
        .orders()
        .createtestorder(merchantId=MID, body={"templateName": "template1"})
    )
    assert (exc.status_code, reason(exc)) == (403, "forbidden") and "sandbox" in exc.reason
    status, headers, body = raw(sandbox, "GET", f"/content/v2/{MID}/orders/{oid}", token=None)
    assert status == 401 and body["error"]["errors"][0]["reason"] == "required"
    assert "bearer" in headers["www-authenticate"].lower()
    # Production is another environment: the sandbox's test order does not exist there.
    exc = http_error(service(sandbox.url, label="v2").orders().get(merchantId=MID, orderId=oid))
    assert (exc.status_code, reason(exc)) == (404, "notFound")


def test_duplicate_operation_ids(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    o = svc.orders()
    order = new_order(svc)
    oid, li = order["id"], order["lineItems"][0]
    body = {"operationId": "op-1", "lineItemId": li["id"], "quantity": 1, "reason": "noInventory"}
    assert o.cancellineitem(merchantId=MID, orderId=oid, body=body).execute()["executionStatus"] == "executed"
    assert (
        o.cancellineitem(merchantId=MID, orderId=oid, body=body).execute()["executionStatus"] == "duplicate"
    )
    assert o.get(merchantId=MID, orderId=oid).execute()["lineItems"][0]["quantityCanceled"] == 1
    exc = http_error(o.cancellineitem(merchantId=MID, orderId=oid, body={**body, "quantity": 2}))
    assert (exc.status_code, reason(exc)) == (409, "duplicate") and "op-1" in exc.reason
    # The same id via custombatch is the same request → duplicate too.
    entry = {
        "batchId": 1,
        "merchantId": MID,
        "orderId": oid,
        "method": "cancelLineItem",
        "operationId": "op-1",
        "cancelLineItem": {"lineItemId": li["id"], "quantity": 1, "reason": "noInventory"},
    }
    out = o.custombatch(body={"entries": [entry]}).execute()["entries"][0]
    assert out["executionStatus"] == "duplicate"
    # operationIds are per order: the same id on another order is a new operation.
    other = new_order(svc)
    assert (
        o.acknowledge(merchantId=MID, orderId=other["id"], body={"operationId": "op-1"}).execute()[
            "executionStatus"
        ]
        == "executed"
    )
    # A failed request does not consume its operationId.
    http_error(
        o.cancellineitem(
            merchantId=MID,
            orderId=oid,
            body={"operationId": "op-2", "lineItemId": li["id"], "quantity": 99, "reason": "noInventory"},
        )
    )
    assert (
        o.cancellineitem(
            merchantId=MID,
            orderId=oid,
            body={"operationId": "op-2", "lineItemId": li["id"], "quantity": 1, "reason": "noInventory"},
        ).execute()["executionStatus"]
        == "executed"
    )
    assert stats(sandbox)["mutations"]["content.orders.cancellineitem"] == 2


# --------------------------------------------------------------------------- listing
def test_pagination_survives_acknowledging_between_pages(sandbox: Sandbox) -> None:
    for _ in range(40):
        sandbox.google.create_test_order(MID, template_name="template2")
    svc = service(sandbox.url)
    o = svc.orders()
    all_ids = {x["id"] for x in o.list(merchantId=MID, maxResults=250).execute()["resources"]}
    assert len(all_ids) == 40
    seen: list[str] = []
    acked_elsewhere: set[str] = set()
    token = None
    for _page in range(40):  # bounded
        resp = o.list(merchantId=MID, acknowledged=False, maxResults=7, pageToken=token).execute()
        page = [x["id"] for x in resp["resources"]]
        assert all(not x["acknowledged"] for x in resp["resources"])
        seen += page
        # Ack this page (the poll loop) and, concurrently, one order not yet seen by us.
        workers = [
            threading.Thread(
                target=lambda i=i: sandbox.google.mutate(MID, i, "acknowledge", {"operationId": "a"})
            )
            for i in page
        ]
        unseen = sorted(all_ids - set(seen) - acked_elsewhere)
        if unseen:
            acked_elsewhere.add(unseen[-1])
            workers.append(
                threading.Thread(
                    target=lambda u=unseen[-1]: sandbox.google.mutate(
                        MID, u, "acknowledge", {"operationId": "a"}
                    )
                )
            )
        for w in workers:
            w.start()
        for w in workers:
            w.join(10)
        token = resp.get("nextPageToken")
        if not token:
            break
    assert len(seen) == len(set(seen)), "an order was listed twice"
    assert set(seen) | acked_elsewhere == all_ids, "an unacknowledged order was skipped"


def test_list_filters_ordering_and_caps(sandbox: Sandbox) -> None:
    g = sandbox.google
    ids = [g.create_test_order(MID, template_name="template3") for _ in range(255)]
    svc = service(sandbox.url)
    o = svc.orders()
    page = o.list(merchantId=MID, maxResults=250).execute()
    assert len(page["resources"]) == 250 and "nextPageToken" in page
    # "the maximum allowed value is 250 orders per page": more is refused, not capped.
    exc = http_error(o.list(merchantId=MID, maxResults=251))
    assert (exc.status_code, reason(exc)) == (400, "invalid") and "250" in exc.reason
    assert len(o.list(merchantId=MID).execute()["resources"]) == 25
    desc = o.list(merchantId=MID, orderBy="placedDateDesc", maxResults=250).execute()["resources"]
    dates = [x["placedDate"] for x in desc]
    assert dates == sorted(dates, reverse=True)
    rest = o.list(merchantId=MID, orderBy="placedDateDesc", maxResults=250, pageToken=None).execute()
    assert len(rest["resources"]) == 250

    for oid in ids[:3]:
        g.advance_test_order(MID, oid)
    g.advance_test_order(MID, ids[3])
    g.cancel_test_order_by_customer(MID, ids[3], "changedMind")
    active = o.list(merchantId=MID, statuses=["ACTIVE"]).execute()["resources"]
    assert sorted(x["id"] for x in active) == sorted(ids[:3])
    completed = o.list(merchantId=MID, statuses=["COMPLETED"]).execute()["resources"]
    assert [x["id"] for x in completed] == [ids[3]]
    both = o.list(merchantId=MID, statuses=["CANCELED", "PENDING_SHIPMENT"]).execute()["resources"]
    assert len(both) == 4
    status, _, body = raw(
        sandbox, "GET", f"/content/v2sandbox/{MID}/orders?statuses=pendingShipment&statuses=canceled"
    )
    assert status == 200 and len(body["resources"]) == 4
    status, _, body = raw(sandbox, "GET", f"/content/v2sandbox/{MID}/orders?statuses=bogus")
    assert status == 400

    first = g.get_order(MID, ids[0])["placedDate"]
    after = o.list(merchantId=MID, placedDateStart="2999-01-01T00:00:00Z").execute()["resources"]
    assert after == []
    before = o.list(merchantId=MID, placedDateEnd=first).execute()["resources"]
    assert all(x["placedDate"] < first for x in before)
    status, _, body = raw(sandbox, "GET", f"/content/v2sandbox/{MID}/orders?pageToken=garbage")
    assert status == 400 and body["error"]["errors"][0]["reason"] == "invalid"


# --------------------------------------------------------------------------- custombatch
def test_custombatch_entries_errors_and_stats(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    o = svc.orders()
    a, b = new_order(svc), new_order(svc, "template2")
    o.updatemerchantorderid(
        merchantId=MID, orderId=b["id"], body={"operationId": "m", "merchantOrderId": "MB"}
    ).execute()
    entries = [
        {"batchId": 1, "merchantId": MID, "orderId": a["id"], "method": "acknowledge", "operationId": "ack"},
        {"batchId": 2, "merchantId": MID, "orderId": a["id"], "method": "acknowledge", "operationId": "ack"},
        {"batchId": 3, "merchantId": MID, "orderId": "TEST-0000-00-0000", "method": "get"},
        {"batchId": 4, "merchantId": MID, "merchantOrderId": "MB", "method": "getByMerchantOrderId"},
        {
            "batchId": 5,
            "merchantId": MID,
            "orderId": a["id"],
            "method": "shipLineItems",
            "operationId": "sh",
            "shipLineItems": {
                "lineItems": [{"lineItemId": a["lineItems"][0]["id"], "quantity": 1}],
                "shipmentInfos": [{"shipmentId": "B1", "carrier": "ups", "trackingId": "T"}],
            },
        },
        {"batchId": 6, "merchantId": MID, "orderId": a["id"], "method": "cancel"},
        {"batchId": 7, "merchantId": "nope", "orderId": a["id"], "method": "get"},
        {"batchId": 8, "merchantId": MID, "orderId": a["id"], "method": "get"},
    ]
    resp = o.custombatch(body={"entries": entries}).execute()
    assert resp["kind"] == "content#ordersCustomBatchResponse"
    out = {e["batchId"]: e for e in resp["entries"]}
    assert out[1]["executionStatus"] == "executed" and out[2]["executionStatus"] == "duplicate"
    assert out[3]["errors"]["code"] == 404 and out[3]["errors"]["errors"][0]["reason"] == "notFound"
    assert out[4]["order"]["id"] == b["id"]
    assert out[5]["executionStatus"] == "executed"
    assert out[6]["errors"]["code"] == 400 and out[6]["errors"]["errors"][0]["reason"] == "required"
    assert out[7]["errors"]["code"] == 400
    assert out[8]["order"]["acknowledged"] is True and out[8]["order"]["status"] == "partiallyShipped"
    assert all(e["kind"] == "content#ordersCustomBatchResponseEntry" for e in resp["entries"])
    snap = stats(sandbox)
    assert snap["requests"]["content.orders.custombatch"] == 1
    assert snap["mutations"]["content.orders.acknowledge"] == 1
    assert snap["mutations"]["content.orders.shiplineitems"] == 1


def test_custombatch_limit(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    oid = sandbox.google.create_test_order(MID, template_name="template2")
    entries = [{"batchId": i, "merchantId": MID, "orderId": oid, "method": "get"} for i in range(1001)]
    exc = http_error(svc.orders().custombatch(body={"entries": entries}))
    assert exc.status_code == 400 and "1001" in exc.reason and "1000" in exc.reason
    resp = svc.orders().custombatch(body={"entries": entries[:1000]}).execute()
    assert len(resp["entries"]) == 1000 and all("order" in e for e in resp["entries"])


# --------------------------------------------------------------------------- faults
def test_faults_answer_429_and_5xx_in_google_shape(sandbox: Sandbox) -> None:
    sandbox.configure_faults(fault_rate=1.0, seed=3)
    statuses: dict[int, int] = {}
    for _ in range(30):
        status, headers, body = raw(sandbox, "GET", f"/content/v2sandbox/{MID}/orders")
        statuses[status] = statuses.get(status, 0) + 1
        assert body["error"]["code"] == status
        if status == 429:
            assert headers["retry-after"] == "1"
            assert body["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    assert set(statuses) == {429, 500, 503}
    # Introspection, token and discovery are never faulted.
    assert raw(sandbox, "GET", "/_sandbox/stats", token=None)[0] == 200
    assert raw(sandbox, "GET", "/discovery/v1/apis/content/v2/rest", token=None)[0] == 200
    assert stats(sandbox)["faults_total"] == 30
    # googleapiclient's own retries get through once faults stop.
    status, _, body = raw(sandbox, "POST", "/_sandbox/faults", {"fault_rate": 0.0}, token=None)
    assert status == 200 and body["fault_rate"] == 0.0
    assert service(sandbox.url).orders().list(merchantId=MID).execute(num_retries=1)["resources"] == []


def test_lost_response_applies_the_mutation(sandbox: Sandbox) -> None:
    svc = service(sandbox.url)
    order = new_order(svc)
    sandbox.configure_faults(lost_response_rate=1.0)
    exc = http_error(
        svc.orders().acknowledge(merchantId=MID, orderId=order["id"], body={"operationId": "lost-1"})
    )
    assert exc.status_code in (500, 503)
    sandbox.configure_faults(lost_response_rate=0.0)
    assert svc.orders().get(merchantId=MID, orderId=order["id"]).execute()["acknowledged"] is True
    retry = (
        svc.orders()
        .acknowledge(merchantId=MID, orderId=order["id"], body={"operationId": "lost-1"})
        .execute()
    )
    assert retry["executionStatus"] == "duplicate"
    snap = stats(sandbox)
    assert snap["mutations"]["content.orders.acknowledge"] == 1
    assert sum(v for k, v in snap["faults"].items() if k.startswith("google.lost.")) == 1


# --------------------------------------------------------------------------- auth
def test_service_account_token_flow(tmp_path: Path) -> None:
    with Sandbox(tokens={"static-token"}).start() as sb:
        key_file = tmp_path / "sa.json"
        summary = write_service_account(key_file, sb.url)
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        assert "private_key" not in summary
        info = json.loads(key_file.read_text())
        assert info["token_uri"] == f"{sb.url}/token"
        creds = service_account.Credentials.from_service_account_file(str(key_file), scopes=[SCOPE])
        creds.refresh(google.auth.transport.requests.Request())
        assert creds.token and creds.token.startswith("ya29.")
        # Through googleapiclient (httplib2 + google-auth-httplib2 refreshing on its own).
        fresh = service_account.Credentials.from_service_account_file(str(key_file), scopes=[SCOPE])
        svc = service(sb.url, creds=fresh)
        assert svc.orders().list(merchantId=MID).execute()["resources"] == []
        assert service(sb.url, token="static-token").orders().list(merchantId=MID).execute()["kind"]
        # (googleapiclient would try to refresh a bare token on 401, so look at the wire directly.)
        status, _, body = raw(sb, "GET", f"/content/v2/{MID}/orders", token="guessed")
        assert (status, body["error"]["errors"][0]["reason"]) == (401, "authError")
        assert stats(sb)["requests"]["oauth2.token"] == 2
        # A key the sandbox never saw is refused with an OAuth error, not a token.
        other = tmp_path / "other.json"
        forged = dict(
            info, private_key=json.loads(_unregistered_key_file(tmp_path).read_text())["private_key"]
        )
        other.write_text(json.dumps(forged))
        bad = service_account.Credentials.from_service_account_file(str(other), scopes=[SCOPE])
        with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
            bad.refresh(google.auth.transport.requests.Request())


def _unregistered_key_file(tmp_path: Path) -> Path:
    # A key registered with a throwaway sandbox only: valid PEM, unknown to the one under test.
    with Sandbox().start() as throwaway:
        path = tmp_path / "unregistered.json"
        write_service_account(path, throwaway.url)
    return path


# --------------------------------------------------------------------------- persistence
def test_state_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    with Sandbox(state=state, tokens={"t"}).start() as sb:
        svc = service(sb.url)
        order = new_order(svc)
        svc.orders().acknowledge(merchantId=MID, orderId=order["id"], body={"operationId": "a1"}).execute()
        svc.orders().updatemerchantorderid(
            merchantId=MID, orderId=order["id"], body={"operationId": "m1", "merchantOrderId": "P-1"}
        ).execute()
        key_file = tmp_path / "sa.json"
        write_service_account(key_file, sb.url)
        before = svc.orders().get(merchantId=MID, orderId=order["id"]).execute()
    # Same port: the service-account file's token_uri names it.
    with Sandbox(state=state, tokens={"x"}, port=sb.port).start() as sb2:
        creds = service_account.Credentials.from_service_account_file(str(key_file), scopes=[SCOPE])
        svc2 = service(sb2.url, creds=creds)  # the key registered before the restart still works
        after = svc2.orders().get(merchantId=MID, orderId=order["id"]).execute()
        assert after == before
        again = (
            svc2.orders()
            .acknowledge(merchantId=MID, orderId=order["id"], body={"operationId": "a1"})
            .execute()
        )
        assert again["executionStatus"] == "duplicate"
        assert (
            svc2.orders().getbymerchantorderid(merchantId=MID, merchantOrderId="P-1").execute()["order"]["id"]
            == order["id"]
        )
        assert stats(sb2)["orders"]["google"] == 1
        assert raw(sb2, "POST", "/_sandbox/reset", token=None)[0] == 200
        assert stats(sb2)["orders"]["google"] == 0
        assert svc2.orders().list(merchantId=MID).execute()["resources"] == []  # keys kept across reset


# --------------------------------------------------------------------------- routing, discovery, v2.1
def test_routing_variants_and_discovery(sandbox: Sandbox) -> None:
    oid = sandbox.google.create_test_order(MID, template_name="template1")
    status, _, body = raw(sandbox, "GET", f"//content/v2sandbox/{MID}/orders/{oid}")
    assert status == 200 and body["id"] == oid
    root = build(
        "content",
        "v2",
        credentials=Credentials(token="t"),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": f"{sandbox.url}/"},
    )
    assert root.orders().get(merchantId=MID, orderId=oid).execute()["id"] == oid
    # Whatever the emulator does not serve is a 404 in Google's shape, never a 405.
    for method, path in (
        ("GET", f"/content/v2sandbox/{MID}/products"),
        ("DELETE", f"/content/v2sandbox/{MID}/orders/{oid}"),
        ("PUT", f"/content/v2sandbox/{MID}/orders/{oid}/acknowledge"),
        ("GET", f"/content/v2sandbox/{MID}/orders/{oid}/acknowledge"),
        ("GET", "/token"),
    ):
        status, _, body = raw(sandbox, method, path)
        assert status == 404 and body["error"]["errors"][0]["reason"] == "notFound", (method, path)
    # HEAD is GET without a body.
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    try:
        conn.request("HEAD", f"/content/v2sandbox/{MID}/orders/{oid}", headers={"Authorization": "Bearer t"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b""
        _, get_headers, _ = raw(sandbox, "GET", f"/content/v2sandbox/{MID}/orders/{oid}")
        assert resp.getheader("Content-Length") == get_headers["content-length"] != "0"
    finally:
        conn.close()

    status, _, doc = raw(sandbox, "GET", "/discovery/v1/apis/content/v2sandbox/rest", token=None)
    assert (
        status == 200 and doc["rootUrl"] == f"{sandbox.url}/" and doc["servicePath"] == "content/v2sandbox/"
    )
    svc = build_from_document(doc, credentials=Credentials(token="t"))
    assert svc.orders().get(merchantId=MID, orderId=oid).execute()["id"] == oid
    auth = svc.accounts().authinfo().execute()
    assert {"merchantId": MID} in auth["accountIdentifiers"]
    assert svc.accounts().get(merchantId=MID, accountId=MID).execute()["id"] == MID
    assert raw(sandbox, "GET", "/discovery/v1/apis/content/v3/rest", token=None)[0] == 404


def test_v21_orders(sandbox: Sandbox) -> None:
    status, _, doc = raw(sandbox, "GET", "/discovery/v1/apis/content/v2.1sandbox/rest", token=None)
    assert (
        status == 200
        and doc["version"] == "v2.1"
        and "custombatch" not in doc["resources"]["orders"]["methods"]
    )
    svc = build_from_document(doc, credentials=Credentials(token="t"))
    o = svc.orders()
    oid = o.createtestorder(merchantId=MID, body={"templateName": "template4"}).execute()["orderId"]
    o.advancetestorder(merchantId=MID, orderId=oid).execute()
    order = o.get(merchantId=MID, orderId=oid).execute()
    assert "netPriceAmount" in order and "netAmount" not in order
    li = order["lineItems"][0]
    exc = http_error(
        o.shiplineitems(
            merchantId=MID,
            orderId=oid,
            body={
                "operationId": "s",
                "shipmentId": "F",
                "lineItems": [{"lineItemId": li["id"], "quantity": 1}],
            },
        )
    )
    assert exc.status_code == 400 and "shipmentInfos" in exc.reason
    o.shiplineitems(
        merchantId=MID,
        orderId=oid,
        body={
            "operationId": "s",
            "lineItems": [{"lineItemId": li["id"], "quantity": 1}],
            "shipmentInfos": [{"shipmentId": "F", "carrier": "ups", "trackingId": "1"}],
        },
    ).execute()
    assert o.captureOrder(merchantId=MID, orderId=oid, body={}).execute() == {"executionStatus": "executed"}
    o.refunditem(
        merchantId=MID,
        orderId=oid,
        body={
            "operationId": "r",
            "reason": "productArrivedDamaged",
            "items": [{"lineItemId": li["id"], "quantity": 1, "fullRefund": True}],
        },
    ).execute()
    o.refundorder(
        merchantId=MID,
        orderId=oid,
        body={
            "operationId": "ro",
            "reason": "other",
            "amount": {
                "priceAmount": {"value": "1.00", "currency": "USD"},
                "taxAmount": {"value": "0.00", "currency": "USD"},
            },
        },
    ).execute()
    order = o.get(merchantId=MID, orderId=oid).execute()
    assert order["status"] == "shipped" and len(order["refunds"]) == 2
    # template4: 15.49 + 1.24 tax + 4.00 shipping + 0.32 tax = 21.05; minus 16.73 (item) and 1.00.
    assert (order["netPriceAmount"]["value"], order["netTaxAmount"]["value"]) == ("3.00", "0.32")
    assert raw(sandbox, "POST", "/content/v2.1sandbox/orders/batch", {"entries": []})[0] == 404


def test_latency_applies_to_apis_only_and_square_faults_use_square_shape(sandbox: Sandbox) -> None:
    sandbox.configure_faults(latency_ms=80)
    t0 = time.perf_counter()
    assert raw(sandbox, "GET", f"/content/v2sandbox/{MID}/orders")[0] == 200
    assert time.perf_counter() - t0 >= 0.08
    t0 = time.perf_counter()
    assert raw(sandbox, "GET", "/_sandbox/stats", token=None)[0] == 200
    assert time.perf_counter() - t0 < 0.08
    sandbox.configure_faults(latency_ms=0, fault_rate=1.0, seed=11)
    status, headers, body = raw(sandbox, "GET", "/v2/locations")
    assert status in (429, 500, 503)
    assert headers.get("retry-after") == ("1" if status in (429, 503) else None)
    assert body["errors"][0]["category"] in ("RATE_LIMIT_ERROR", "API_ERROR")
    assert stats(sandbox)["faults"] == {f"square.{status}": 1}
