"""Refund and return calls of both gateways against the emulators (googleapiclient, squareup), and
the refund rules driving them: a refund each way reaches the other side once, and never echoes.

No cycle steps here (they come with the outbox): each test plays the step by hand — read, decide
with sync.domain.refunds, send — so what is verified is the gateways and the rules on real wire data.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.oauth2.credentials import Credentials as BearerCredentials

from sync.adapters.google_gateway import GoogleApiError, GoogleGateway
from sync.adapters.square_gateway import SquareGateway
from sync.adapters.square_sandbox import SquareSandboxControls
from sync.config import GoogleSettings, SquareSettings
from sync.domain import operations
from sync.domain.money import minor_to_price
from sync.domain.orders import Order
from sync.domain.refunds.google_to_square import decide_square_refund
from sync.domain.refunds.records import Verdict, google_return, square_return
from sync.domain.refunds.refusals import Disposition, google_refusal
from sync.domain.refunds.returns import open_returns, return_units
from sync.domain.refunds.square_to_google import (
    GoogleRefundContext,
    GoogleRefundMethod,
    GoogleRefundMutation,
    decide_google_refund,
)
from sync.domain.square_mapping import MappingOptions, google_to_square_order
from sync.sandbox.server import Sandbox
from tests.integration.conftest import TOKEN
from tests.integration.square_sdk import client, order_of, pay_external
from tests.integration.square_sdk import usd as sq_usd

MERCHANT = "7654321"
LOCATION = "L_SANDBOX_MAIN"


def usd(value: str) -> dict[str, str]:
    return {"value": value, "currency": "USD"}


@pytest.fixture
def google(sandbox: Sandbox) -> GoogleGateway:
    settings = GoogleSettings(
        merchant_id=MERCHANT,
        endpoint=sandbox.url,
        sandbox=True,
        max_backoff_seconds=0.05,
        timeout_seconds=10.0,
    )
    return GoogleGateway(settings, credentials=BearerCredentials(token=TOKEN))


@pytest.fixture
def square(sandbox: Sandbox) -> SquareGateway:
    return SquareGateway(
        SquareSettings(endpoint=sandbox.url, location_id=LOCATION, max_attempts=1), token=TOKEN
    )


def shipped_order(google: GoogleGateway) -> dict[str, Any]:
    """template1 (2 x Chromecast 29.99 + 2.40 tax, 1 x paper; 80.96 in all), shipped in full."""
    order_id = google.create_test_order("template1")
    google.advance_test_order(order_id)
    order = google.get_order(order_id)
    lines = [{"lineItemId": li["id"], "quantity": li["quantityPending"]} for li in order["lineItems"]]
    google.ship_line_items(
        order_id, "os:ship:S1", lines, [{"shipmentId": "S1", "carrier": "ups", "trackingId": "1Z1"}]
    )
    return google.get_order(order_id)


def paid_square_order(square: SquareGateway, order: dict[str, Any]) -> dict[str, Any]:
    body = google_to_square_order(order, MappingOptions(location_id=LOCATION))
    created = square.create_order(body, operations.square_idempotency_key(MERCHANT, order["id"]))
    square.pay_order_with_external_payment(
        created, operations.square_idempotency_key(MERCHANT, order["id"], "payment")
    )
    return square.retrieve_order(created["id"])


def test_refund_calls_single_and_through_custombatch(google: GoogleGateway) -> None:
    order = shipped_order(google)
    chromecast, paper = order["lineItems"]
    oid = order["id"]
    status = google.return_refund_line_item(
        oid, "rr-1", chromecast["id"], 1, "productArrivedDamaged", "box crushed",
        amount_pretax=usd("29.99"), amount_tax=usd("2.40"),
    )  # fmt: skip
    assert status == "executed"
    again = google.return_refund_line_item(
        oid, "rr-1", chromecast["id"], 1, "productArrivedDamaged", "box crushed",
        amount_pretax=usd("29.99"), amount_tax=usd("2.40"),
    )  # fmt: skip
    assert again == "duplicate"
    assert google.refund(oid, "rf-1", usd("5.00"), usd("0.00"), "courtesyAdjustment", "sorry") == "executed"
    assert google.return_line_item(oid, "rl-1", paper["id"], 1, "other") == "executed"
    after = google.get_order(oid)
    assert after["netAmount"] == usd("43.57")  # 80.96 - 32.39 - 5.00
    assert [r["amount"]["value"] for r in after["refunds"]] == ["32.39", "5.00"]
    assert [li["quantityReturned"] for li in after["lineItems"]] == [1, 1]
    with pytest.raises(GoogleApiError) as info:
        google.refund(oid, "rf-2", usd("43.58"), usd("0.00"), "other")
    assert info.value.status == 400 and not info.value.retryable
    refusal = google_refusal(info.value.status, info.value.reason, info.value.message)
    assert refusal.disposition is Disposition.FAILED and "exceeds" in refusal.reason

    line_return = GoogleRefundMutation(
        order_id=oid,
        operation_id="cb-1",
        method=GoogleRefundMethod.RETURN_REFUND_LINE_ITEM,
        currency="USD",
        reason="customerDiscretionaryReturn",
        reason_text="Square refund R1",
        square_refund_id="R1",
        amount_pretax_minor=2999,
        amount_tax_minor=240,
        line_item_id=chromecast["id"],
        quantity=1,
    )
    shipping = GoogleRefundMutation(
        order_id=oid,
        operation_id="cb-2",
        method=GoogleRefundMethod.REFUND,
        currency="USD",
        reason="shippingCostAdjustment",
        reason_text="Square refund R2",
        square_refund_id="R2",
        amount_pretax_minor=100,
    )
    mutations = [line_return, shipping]
    responses = google.custombatch([m.entry() for m in mutations])
    assert [r.get("executionStatus") for r in responses] == ["executed", "executed"], responses
    replay = google.custombatch([m.entry() for m in mutations])
    assert [r.get("executionStatus") for r in replay] == ["duplicate", "duplicate"]
    assert google.send_refund_mutation(mutations[1]) == "duplicate"
    final = google.get_order(oid)
    assert final["netAmount"] == usd("10.18") and final["status"] == "returned"
    assert google.calls_by_method()["content.orders.returnrefundlineitem"] == 2


def test_order_returns_are_listed_in_windows_and_read_one_by_one(google: GoogleGateway) -> None:
    orders = [shipped_order(google) for _ in range(3)]
    ids = [
        google.create_test_return(o["id"], [{"lineItemId": o["lineItems"][0]["id"], "quantity": 1}])
        for o in orders
    ]
    listed = list(google.iter_order_returns(page_size=1))
    assert [r["orderReturnId"] for r in listed] == ids
    assert google.calls_by_method()["content.orderreturns.list"] == 3
    # Both bounds are inclusive (returns created in one millisecond share a creationDate).
    start, end = listed[1]["creationDate"], listed[1]["creationDate"]
    since = [r["orderReturnId"] for r in google.iter_order_returns(created_start=start)]
    assert since == [r["orderReturnId"] for r in listed if r["creationDate"] >= start] and ids[1] in since
    until = [r["orderReturnId"] for r in google.iter_order_returns(created_end=end)]
    assert until == [r["orderReturnId"] for r in listed if r["creationDate"] <= end] and ids[1] in until
    newest_first = list(google.iter_order_returns(order_by="RETURN_CREATION_TIME_DESC"))
    assert [r["orderReturnId"] for r in newest_first] == ids[::-1]

    ret = google_return(google.get_order_return(ids[0]))
    order = Order.from_google(google.get_order(orders[0]["id"]))
    assert ret.order_id == order.id and [i.state for i in ret.items] == ["new"]
    assert [u.line_item_id for u in return_units(order, [ret])] == [order.line_items[0].id]
    assert [o.units for o in open_returns(order, [ret], [])] == [1]
    # Accepting it refunds it: the return item says so.
    line = order.line_items[0]
    google.return_refund_line_item(
        order.id, "accept", line.id, 1, "customerDiscretionaryReturn",
        amount_pretax=usd("29.99"), amount_tax=usd("2.40"),
    )  # fmt: skip
    assert [i.state for i in google_return(google.get_order_return(ids[0])).items] == ["refunded"]
    with pytest.raises(GoogleApiError) as info:
        google.get_order_return("no-such-return")
    assert info.value.status == 404


def test_a_pos_refund_reaches_google_once(
    sandbox: Sandbox, google: GoogleGateway, square: SquareGateway
) -> None:
    order = shipped_order(google)
    sale = paid_square_order(square, order)
    chromecast = order["lineItems"][0]
    assert sale["line_items"][0]["uid"] == chromecast["id"]
    SquareSandboxControls(sandbox.url).pos_itemized_refund(sale["id"], chromecast["id"], "1")
    (refund,) = list(square.iter_payment_refunds(source_type="EXTERNAL", location_id=LOCATION))
    assert refund.status == "COMPLETED" and refund.amount_minor == 3239
    read = {o["id"]: o for o in square.retrieve_orders([refund.order_id, sale["id"]])}
    return_order, sale = read[refund.order_id], read[sale["id"]]
    context = GoogleRefundContext(Order.from_google(order))
    decision = decide_google_refund(refund, square_return(return_order, sale["id"]), sale, context)
    assert decision.verdict is Verdict.SEND
    (mutation,) = decision.mutations
    assert (mutation.amount_pretax_minor, mutation.amount_tax_minor, mutation.quantity) == (2999, 240, 1)
    responses = google.custombatch([m.entry() for m in decision.mutations])
    assert [r.get("executionStatus") for r in responses] == ["executed"]
    after = google.get_order(order["id"])
    assert after["netAmount"] == usd("48.57") and after["refunds"][-1]["amount"] == minor_to_price(
        3239, "USD"
    )
    assert after["lineItems"][0]["quantityReturned"] == 1
    # Detected again (a lost cursor, a rerun): the same operation, answered duplicate.
    again = decide_google_refund(refund, square_return(return_order, sale["id"]), sale, context)
    assert [m.entry() for m in again.mutations] == [m.entry() for m in decision.mutations]
    assert [r.get("executionStatus") for r in google.custombatch([m.entry() for m in again.mutations])] == [
        "duplicate"
    ]
    # Google's books now match Square's, so nothing flows back.
    payment = square.external_payment(sale)
    assert payment is not None and payment.refunded_minor == 3239
    back = decide_square_refund(Order.from_google(after), payment, merchant_id=MERCHANT)
    assert back.verdict is Verdict.IGNORE


def test_a_google_refund_is_recorded_in_square_once_and_never_echoed(
    google: GoogleGateway, square: SquareGateway
) -> None:
    order = shipped_order(google)
    sale = paid_square_order(square, order)
    google.refund(order["id"], "mc-1", usd("5.00"), usd("0.00"), "courtesyAdjustment", "Merchant Center")
    refunded = Order.from_google(google.get_order(order["id"]))
    payment = square.external_payment(sale)
    assert payment is not None and payment.source_type == "EXTERNAL" and payment.refundable_minor == 8096
    decision = decide_square_refund(refunded, payment, merchant_id=MERCHANT)
    assert decision.verdict is Verdict.SEND and decision.plan is not None
    recorded = square.record_refund(decision.plan)
    assert (recorded.status, recorded.amount_minor, recorded.reason) == (
        "COMPLETED",
        500,
        decision.plan.reason,
    )
    # A rerun after a kill -9 (the ledger lost the answer) plans and sends the same request: a replay.
    fresh = square.external_payment(sale)
    assert fresh is not None and fresh.refunded_minor == 500
    assert square.record_refund(decision.plan).refund_id == recorded.refund_id
    assert decide_square_refund(refunded, fresh, merchant_id=MERCHANT).verdict is Verdict.IGNORE
    # The refund ordersync recorded shows up when polling Square: it is ours, not the store's.
    (listed,) = list(square.iter_payment_refunds(source_type="EXTERNAL"))
    read = {o["id"]: o for o in square.retrieve_orders([listed.order_id, sale["id"]])}
    return_order, sale_now = read[listed.order_id], read[sale["id"]]
    echo = decide_google_refund(
        listed, square_return(return_order, sale_now["id"]), sale_now, GoogleRefundContext(refunded)
    )
    assert echo.verdict is Verdict.IGNORE and "ordersync recorded" in echo.reason
    assert square.calls_by_method()["refunds.refund_payment"] == 2


def test_external_payment_is_found_among_the_tenders(sandbox: Sandbox, square: SquareGateway) -> None:
    sq = client(sandbox)
    cash_order = order_of(sq, "o-cash", ("Coffee", "1", 100))
    sq.payments.create(
        source_id="CASH",
        idempotency_key="cash-1",
        amount_money=sq_usd(100),
        order_id=cash_order.id,
        cash_details={"buyer_supplied_money": sq_usd(100)},
    )
    assert square.external_payment(square.retrieve_order(cash_order.id)) is None
    assert square.external_payment({"id": "unpaid"}) is None
    paid = order_of(sq, "o-ext", ("Mug", "2", 500))
    external = pay_external(sq, paid, "o-ext-pay")
    found = square.external_payment(square.retrieve_order(paid.id))
    assert found is not None and (found.payment_id, found.refundable_minor) == (external.id, 1000)
