"""The refund steps (issue 15) through whole cycles over the fakes: Square refunds reach Google
once, Google refunds are recorded in Square once, neither is echoed back, and retries, lost
answers and refusals never make a second refund."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sync.adapters.square_errors import SquareApiError
from sync.domain.intents import SQUARE_REFUND, IntentState
from sync.domain.refunds.rules import own_refund_key
from tests.unit.fixtures_google import google_order
from tests.unit.service.conftest import World
from tests.unit.service.fakes import FakeOrderSystem, minor
from tests.unit.service.test_steps import feed_row


def delivered_order(world: World) -> tuple[FakeOrderSystem, str]:
    """G-1 synced to a paid Square order, then shipped and delivered in full by the feed."""
    world.google = type(world.google)([google_order("G-1")])
    square = world.square
    assert square is not None
    world.cycle()
    world.feed.rows = [feed_row("G-1", "LI-A", 2, delivered=True), feed_row("G-1", "LI-B", 1, delivered=True)]
    world.cycle()
    assert world.google.orders["G-1"]["status"] == "delivered"
    (sale_id,) = square.orders
    return square, sale_id


def google_refund_requests(world: World) -> list[dict[str, Any]]:
    return [
        entry
        for request in world.google.requests
        for entry in request
        if entry["method"] in ("refund", "returnRefundLineItem", "returnLineItem")
    ]


def test_an_itemized_square_refund_becomes_one_return_refund_line_item(square_world: World) -> None:
    world = square_world
    square, sale = delivered_order(world)
    net_before = minor(world.google.orders["G-1"]["netAmount"])
    refund_id = square.store_refund(sale, 2159, line_uid="LI-A", quantity=1, tax_minor=160, reason="Damaged")
    assert world.cycle().refunds_to_google == 1
    (entry,) = google_refund_requests(world)
    body = entry["returnRefundLineItem"]
    assert entry["method"] == "returnRefundLineItem" and entry["operationId"].startswith("os:sq-refund:")
    assert (body["lineItemId"], body["quantity"], body["reason"]) == ("LI-A", 1, "productArrivedDamaged")
    assert (body["amountPretax"]["value"], body["amountTax"]["value"]) == ("19.99", "1.60")
    assert refund_id in body["reasonText"]
    order = world.google.orders["G-1"]
    assert minor(order["netAmount"]) == net_before - 2159 and order["lineItems"][0]["quantityReturned"] == 1
    for _ in range(3):  # the listing overlap, Google's new figures: nothing more either way
        world.cycle()
    assert len(google_refund_requests(world)) == 1
    assert len(square.refunds) == 1  # Google's refund of it is Square's own: never recorded again


def test_custom_amounts_become_orders_refund_with_courtesy_or_shipping_reason(square_world: World) -> None:
    world = square_world
    square, sale = delivered_order(world)
    square.store_refund(sale, 500, reason="Goodwill")
    square.store_refund(sale, 300, reason="Shipping", name="Shipping")
    world.cycle()
    reasons = {e["refund"]["reason"]: e["refund"] for e in google_refund_requests(world)}
    assert set(reasons) == {"courtesyAdjustment", "shippingCostAdjustment"}
    courtesy = reasons["courtesyAdjustment"]
    assert minor(courtesy["amountPretax"]) + minor(courtesy["amountTax"]) == 500
    shipping = reasons["shippingCostAdjustment"]
    assert minor(shipping["amountPretax"]) + minor(shipping["amountTax"]) == 300
    world.cycle()
    assert len(google_refund_requests(world)) == 2 and len(square.refunds) == 2


def test_a_google_refund_is_recorded_once_on_the_external_payment_and_never_echoed(
    square_world: World,
) -> None:
    world = square_world
    square, sale = delivered_order(world)
    world.google.merchant_refund("G-1", 1000, {"reason": "priceError"})
    assert world.cycle().refunds_to_square == 1
    (refund,) = square.refunds.values()
    assert (refund["amount_minor"], refund["payment_id"]) == (1000, f"PAY-{sale}")
    assert own_refund_key(refund["reason"]) is not None  # marked as ordersync's
    (intent,) = [i for i in world.ledger.intents_for_order("G-1") if i.kind == SQUARE_REFUND]
    assert intent.key == own_refund_key(refund["reason"])
    for _ in range(3):
        world.cycle()
    assert len(square.refunds) == 1
    assert google_refund_requests(world) == []  # ordersync's own Square refund is not reported back
    world.google.merchant_refund("G-1", 250)  # a second Google refund: only the difference
    world.cycle()
    assert sorted(r["amount_minor"] for r in square.refunds.values()) == [250, 1000]


def test_a_lost_refund_answer_or_an_outage_is_resent_with_the_same_key(square_world: World) -> None:
    world = square_world
    square, _sale = delivered_order(world)
    world.google.merchant_refund("G-1", 700)
    square.lose_refund_answers = 1  # Square refunds, the answer is lost
    world.cycle()
    (pending,) = [i for i in world.ledger.pending_intents() if i.kind == SQUARE_REFUND]
    square.refund_errors = [
        SquareApiError(
            status=503, code="SERVICE_UNAVAILABLE", category="API_ERROR", detail="down", retryable=True
        )
    ]
    world.cycle()  # Square down: still pending
    assert [i.key for i in world.ledger.pending_intents() if i.kind == SQUARE_REFUND] == [pending.key]
    world.cycle()  # replayed by key: the refund made the first time
    assert [r["amount_minor"] for r in square.refunds.values()] == [700]
    assert not [i for i in world.ledger.pending_intents() if i.kind == SQUARE_REFUND]


def test_a_refund_square_rejects_is_a_failed_operation_not_retried(square_world: World) -> None:
    world = square_world
    square, _sale = delivered_order(world)
    world.google.merchant_refund("G-1", 700)
    square.refund_errors = [
        SquareApiError(status=400, code="REFUND_DECLINED", category="REFUND_ERROR", detail="declined")
    ]
    result = world.cycle()
    assert "G-1" in result.failed_orders
    (failed,) = [i for i in world.ledger.failed_intents() if i.kind == SQUARE_REFUND]
    assert failed.error_reason == "REFUND_DECLINED" and "declined" in (failed.last_error or "")
    calls = square.calls_by_method.get("refunds.refund_payment", 0)
    world.cycle()
    world.cycle()
    assert square.calls_by_method.get("refunds.refund_payment", 0) == calls and square.refunds == {}


def test_google_refund_mutations_left_pending_are_resent_once(square_world: World) -> None:
    world = square_world
    square, sale = delivered_order(world)
    square.store_refund(sale, 500, reason="Goodwill")
    google = world.google
    answer = google.custombatch

    def refund_request_lost(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answered = answer(entries)  # Google applies it...
        if any(e["method"] == "refund" for e in entries):
            google.fail_requests = 1  # ...and the answer is lost (the request "fails")
            answer([])
        return answered

    google.custombatch = refund_request_lost  # type: ignore[method-assign]
    world.cycle()
    google.custombatch = answer  # type: ignore[method-assign]
    (pending,) = [i for i in world.ledger.pending_intents() if i.kind == "refund"]
    world.cycle()  # resent with the same operationId: Google answers duplicate
    assert len(google.orders["G-1"]["refunds"]) == 1
    (done,) = [i for i in world.ledger.intents_for_order("G-1") if i.key == pending.key]
    assert done.state == IntentState.DONE and done.execution_status == "duplicate"


def test_a_refund_google_cannot_take_is_a_failed_operation_and_nothing_is_sent(square_world: World) -> None:
    world = square_world
    square, sale = delivered_order(world)
    square.store_refund(sale, 1080, line_uid="LI-A", quantity="0.5", tax_minor=80)
    result = world.cycle()
    assert "G-1" in result.failed_orders and google_refund_requests(world) == []
    (failed,) = world.ledger.failed_intents()
    assert "whole units" in (failed.last_error or "")
    assert world.cycle().failed_orders == set()  # reported once, never decided again


def test_a_pending_square_refund_waits_until_completed(square_world: World) -> None:
    world = square_world
    square, sale = delivered_order(world)
    refund_id = square.store_refund(sale, 500, reason="Goodwill", status="PENDING")
    world.cycle()
    world.cycle()
    assert google_refund_requests(world) == []
    square.settle_refund(refund_id, "COMPLETED")
    world.cycle()
    assert len(google_refund_requests(world)) == 1


def test_an_idle_cycle_costs_one_refund_listing(square_world: World) -> None:
    world = square_world
    square, _sale = delivered_order(world)
    google = world.settings.google.model_copy(update={"recheck_open_orders_minutes": 60})
    world.settings = world.settings.model_copy(update={"google": google})
    world.cycle()  # the periodic read is due once after the change
    square.calls_by_method.clear()
    before = world.google.calls_with_returns
    world.cycle()
    assert square.calls_by_method == {"orders.search": 1, "refunds.list": 1}
    assert world.google.calls_with_returns - before == 1  # orders.list unacknowledged


def test_a_pending_square_refund_rejected_later_is_never_reported_nor_counted(square_world: World) -> None:
    world = square_world
    square, sale = delivered_order(world)
    refund_id = square.store_refund(sale, 500, reason="Goodwill", status="PENDING")
    world.cycle()
    square.settle_refund(refund_id, "REJECTED")
    world.cycle()
    world.google.merchant_refund("G-1", 400)  # then Google refunds: all of it is due in Square
    world.cycle()
    assert google_refund_requests(world) == []
    ours = [r for r in square.refunds.values() if own_refund_key(r["reason"])]
    assert [r["amount_minor"] for r in ours] == [400]


def test_a_store_return_of_a_unit_google_refunded_already_is_matched_not_refunded_twice(
    square_world: World,
) -> None:
    world = square_world
    square, sale = delivered_order(world)
    return_id = world.google.customer_return("G-1", "LI-A", 1)
    world.cycle()  # the return is seen (stored, open)
    world.google.refund_customer_return(return_id, 2159)  # Google refunds it before the store does
    square.store_refund(sale, 2159, line_uid="LI-A", quantity=1, tax_minor=160, reason="Returned goods")
    world.cycle()
    assert google_refund_requests(world) == []  # matched with Google's refund: nothing sent
    assert len(world.google.orders["G-1"]["refunds"]) == 1
    world.cycle()
    # And Square's return is Square's own record of that money: nothing is recorded on top.
    assert len(square.refunds) == 1


def test_a_store_return_of_an_open_customer_return_accepts_it_once(square_world: World) -> None:
    world = square_world
    square, sale = delivered_order(world)
    world.google.customer_return("G-1", "LI-A", 1)
    world.cycle()
    square.store_refund(sale, 2159, line_uid="LI-A", quantity=1, tax_minor=160, reason="Returned goods")
    world.cycle()
    (entry,) = google_refund_requests(world)
    assert entry["method"] == "returnRefundLineItem" and entry["returnRefundLineItem"]["quantity"] == 1
    world.cycle()
    assert len(google_refund_requests(world)) == 1 and len(square.refunds) == 1


def test_a_square_failure_while_comparing_leaves_the_periodic_check_due(square_world: World) -> None:
    world = square_world
    google = world.settings.google.model_copy(update={"recheck_open_orders_minutes": 60})
    world.settings = world.settings.model_copy(update={"google": google})
    square, _sale = delivered_order(world)
    world.now += timedelta(minutes=61)
    world.google.merchant_refund("G-1", 700)
    square.fail_methods["payments.get"] = 1  # reading the EXTERNAL payment fails once
    assert world.cycle().square_unavailable
    assert square.refunds == {}
    world.cycle()  # ten minutes later: the check was not marked done, so it runs again
    assert [r["amount_minor"] for r in square.refunds.values()] == [700]


def test_a_parked_square_refund_counts_as_unsettled_for_a_racing_google_refund(square_world: World) -> None:
    world = square_world
    world.google = type(world.google)([google_order("G-1")])
    square = world.square
    assert square is not None
    world.cycle()
    world.feed.rows = [feed_row("G-1", "LI-A", 2)]  # LI-B still pending: not fully shipped
    world.cycle()
    (sale,) = square.orders
    square.store_refund(sale, 2159, line_uid="LI-A", quantity=1, tax_minor=160, reason="Damaged")
    world.google.merchant_refund("G-1", 400)
    world.cycle()
    assert google_refund_requests(world) == []  # returnRefundLineItem waits for the full shipment
    ours = [r["amount_minor"] for r in square.refunds.values() if own_refund_key(r["reason"])]
    assert ours == [400]  # Google's refund recorded in full now, not short
