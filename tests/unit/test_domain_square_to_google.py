"""Square refund -> Google mutations (sync.domain.refunds.square_to_google)."""

from __future__ import annotations

from typing import Any

from sync.domain import operations
from sync.domain.refunds.records import Verdict, google_return, square_return
from sync.domain.refunds.returns import SquareReturnedUnits
from sync.domain.refunds.rules import RefundRules, own_refund_reason
from sync.domain.refunds.square_to_google import (
    GoogleRefundContext,
    GoogleRefundDecision,
    GoogleRefundMethod,
    decide_google_refund,
)
from sync.domain.square_records import SquareRefund
from tests.unit.fixtures_google import line_item, price
from tests.unit.refund_fixtures import (
    ORDER_ID,
    custom_line,
    delivered_order,
    google_return_raw,
    item_line,
    money,
    order_of,
    refund,
    return_order,
    sale_order,
)

ONE_MUG = 2159  # one LI-A unit: 19.99 + 1.60 tax


def decide(
    square_refund: SquareRefund,
    ret: dict[str, Any] | None,
    *,
    order: dict[str, Any] | None = None,
    returns: tuple[dict[str, Any], ...] = (),
    **context: Any,
) -> GoogleRefundDecision:
    ctx = GoogleRefundContext(
        order_of(order or delivered_order()), tuple(google_return(r) for r in returns), **context
    )
    parsed = square_return(ret, "SQ-SALE-1") if ret is not None else None
    return decide_google_refund(square_refund, parsed, sale_order(), ctx)


def test_itemized_pos_refund_becomes_return_refund_line_item() -> None:
    decision = decide(refund(ONE_MUG), return_order([item_line("r1", "1", ONE_MUG, 160)]))
    assert decision.verdict is Verdict.SEND and decision.amount_minor == ONE_MUG
    (mutation,) = decision.mutations
    assert mutation.method is GoogleRefundMethod.RETURN_REFUND_LINE_ITEM
    assert (mutation.line_item_id, mutation.quantity) == ("LI-A", 1)
    assert (mutation.amount_pretax_minor, mutation.amount_tax_minor) == (1999, 160)
    assert mutation.reason == "customerDiscretionaryReturn"
    assert mutation.operation_id == operations.square_refund_operation_id("PAY-1_R1", "line:LI-A")
    body = {
        "lineItemId": "LI-A",
        "quantity": 1,
        "amountPretax": price("19.99"),
        "amountTax": price("1.60"),
        "reason": "customerDiscretionaryReturn",
        "reasonText": "Square refund PAY-1_R1: Returned goods",
    }
    assert mutation.entry() == {
        "method": "returnRefundLineItem",
        "orderId": ORDER_ID,
        "operationId": mutation.operation_id,
        "returnRefundLineItem": body,
    }
    assert mutation.request() == {**body, "operationId": mutation.operation_id}
    assert decision.returned == (SquareReturnedUnits("PAY-1_R1", "LI-A", 1, "2026-11-25T10:00:00Z"),)
    # The same refund read again (another cycle, a rerun after a crash) decides the same.
    assert decide(refund(ONE_MUG), return_order([item_line("r1", "1", ONE_MUG, 160)])) == decision


def test_a_refund_of_several_lines_is_one_mutation_per_line() -> None:
    ret = return_order([
        item_line("r1", "2", 2 * ONE_MUG, 320),
        item_line("r2", "1", 540, 40, sale_uid="LI-B"),
    ])  # fmt: skip
    decision = decide(refund(2 * ONE_MUG + 540, reason="Item arrived damaged"), ret)
    assert [(m.line_item_id, m.quantity, m.amount_minor, m.reason) for m in decision.mutations] == [
        ("LI-A", 2, 4318, "productArrivedDamaged"),
        ("LI-B", 1, 540, "productArrivedDamaged"),
    ]
    assert len({m.operation_id for m in decision.mutations}) == 2


def test_custom_amount_refund_becomes_a_courtesy_refund_split_in_the_orders_tax_ratio() -> None:
    decision = decide(refund(500, reason="Other"), return_order([custom_line(500)]))
    (mutation,) = decision.mutations
    assert mutation.method is GoogleRefundMethod.REFUND and mutation.reason == "courtesyAdjustment"
    # 4.00 of the order's 53.97 is tax: 5.00 x 400 / 5397 = 0.37.
    assert (mutation.amount_pretax_minor, mutation.amount_tax_minor) == (463, 37)
    assert mutation.entry()["refund"] == {
        "amountPretax": price("4.63"),
        "amountTax": price("0.37"),
        "reason": "courtesyAdjustment",
        "reasonText": "Square refund PAY-1_R1: Other",
    }
    assert mutation.operation_id == operations.square_refund_operation_id("PAY-1_R1", "amount")
    unsplit = decide_google_refund(
        refund(500, reason="Other"),
        square_return(return_order([custom_line(500)])),
        sale_order(),
        GoogleRefundContext(order_of(delivered_order())),
        rules=RefundRules(split_custom_amount_tax=False),
    )
    assert (unsplit.mutations[0].amount_pretax_minor, unsplit.mutations[0].amount_tax_minor) == (500, 0)


def test_shipping_refunds_use_shipping_cost_adjustment_and_the_shipping_tax() -> None:
    decision = decide(refund(539, reason="Shipping"), return_order([custom_line(539, "Shipping")]))
    (mutation,) = decision.mutations
    assert (mutation.reason, mutation.amount_pretax_minor, mutation.amount_tax_minor) == (
        "shippingCostAdjustment", 499, 40,
    )  # fmt: skip
    assert mutation.operation_id == operations.square_refund_operation_id("PAY-1_R1", "shipping")
    # A POS itemized refund that gives the shipping service charge back too: two mutations.
    ret = return_order(
        [item_line("r1", "1", ONE_MUG, 160)],
        charges=[{"uid": "c1", "source_service_charge_uid": "shipping", "name": "Shipping",
                  "total_money": money(499), "total_tax_money": money(0)}],
    )  # fmt: skip
    both = decide(refund(ONE_MUG + 499), ret)
    assert [(m.method, m.reason, m.amount_minor) for m in both.mutations] == [
        (GoogleRefundMethod.RETURN_REFUND_LINE_ITEM, "customerDiscretionaryReturn", ONE_MUG),
        (GoogleRefundMethod.REFUND, "shippingCostAdjustment", 499),
    ]
    too_much = decide(refund(600, reason="Shipping"), return_order([custom_line(600, "Shipping")]))
    assert too_much.verdict is Verdict.REFUSE and "shipping" in too_much.reason


def test_own_refunds_and_refunds_that_moved_nothing_are_not_sent() -> None:
    key = operations.square_refund_key("1234567", ORDER_ID, "PAY-1", 500, 500)
    ours = refund(500, reason=own_refund_reason("Google refunded 5.00", key))
    assert decide(ours, return_order([custom_line(500)])).verdict is Verdict.IGNORE
    known = decide_google_refund(
        refund(500, reason="Other"),
        square_return(return_order([custom_line(500)])),
        sale_order(),
        GoogleRefundContext(order_of(delivered_order())),
        own_refund_ids={"PAY-1_R1"},
    )
    assert known.verdict is Verdict.IGNORE and not known.mutations
    assert decide(refund(500, status="PENDING"), return_order([custom_line(500)])).verdict is Verdict.WAIT
    for status in ("REJECTED", "FAILED"):
        assert decide(refund(500, status=status), return_order([custom_line(500)])).verdict is Verdict.IGNORE
    assert decide(refund(500), None).verdict is Verdict.WAIT  # the return order is not read yet


def test_returns_wait_until_the_order_is_fully_shipped() -> None:
    raw = delivered_order()
    raw["lineItems"][1] = line_item("LI-B", "sku-b", quantity=1, unit="5.00", tax="0.40")  # unshipped
    decision = decide(refund(ONE_MUG), return_order([item_line("r1", "1", ONE_MUG, 160)]), order=raw)
    assert decision.verdict is Verdict.WAIT and "fully shipped" in decision.reason
    # A custom amount needs no shipped order.
    assert decide(refund(500), return_order([custom_line(500)]), order=raw).verdict is Verdict.SEND


def test_what_google_cannot_take_is_refused() -> None:
    cases = {
        "whole units": (refund(1080), return_order([item_line("r1", "0.5", 1080, 80)])),
        "not found": (refund(ONE_MUG), return_order([item_line("r1", "1", ONE_MUG, 160, sale_uid="X")])),
        "adds up to": (refund(ONE_MUG + 1), return_order([item_line("r1", "1", ONE_MUG, 160)])),
        "Google can take 2": (refund(3 * ONE_MUG), return_order([item_line("r1", "3", 3 * ONE_MUG, 480)])),
        "in EUR": (refund(ONE_MUG, currency="EUR"), return_order([item_line("r1", "1", ONE_MUG, 160)])),
    }
    for words, (square_refund, ret) in cases.items():
        decision = decide(square_refund, ret)
        assert decision.verdict is Verdict.REFUSE and words in decision.reason, (words, decision.reason)
        assert not decision.mutations
    raw = delivered_order(netAmount=price("20.00"))
    low = decide(refund(ONE_MUG), return_order([item_line("r1", "1", ONE_MUG, 160)]), order=raw)
    assert low.verdict is Verdict.REFUSE and "2000 left" in low.reason
    # Money already on its way to Google counts against netAmount too.
    flying = decide(refund(500), return_order([custom_line(500)]), in_flight_minor=5000)
    assert flying.verdict is Verdict.REFUSE and "397 left" in flying.reason
    # A line cannot give back more than it cost.
    raw = delivered_order()
    raw["lineItems"][0]["price"] = price("10.00")
    costly = decide(refund(ONE_MUG), return_order([item_line("r1", "1", ONE_MUG, 160)]), order=raw)
    assert costly.verdict is Verdict.REFUSE and "more than the line" in costly.reason


def test_an_amount_only_refund_is_sent_for_the_money_that_moved() -> None:
    # Square's return line says 4.00, the refund 5.00: for an amount, the refund is what counts.
    decision = decide(refund(500, reason="Other"), return_order([custom_line(400)]))
    assert decision.verdict is Verdict.SEND and decision.amount_minor == 500


def test_the_store_recording_an_open_customer_return_accepts_it() -> None:
    raw = delivered_order()
    raw["lineItems"][0]["quantityReturned"] = 2  # the customer sent both mugs back (createtestreturn)
    ret = google_return_raw("G-RET-1", [("sku-a", "new"), ("sku-a", "new")])
    decision = decide(refund(ONE_MUG), return_order([item_line("r1", "1", ONE_MUG, 160)]), order=raw,
                      returns=(ret,))  # fmt: skip
    assert decision.verdict is Verdict.SEND and decision.matched_return_ids == ("G-RET-1",)
    assert [(m.line_item_id, m.quantity) for m in decision.mutations] == [("LI-A", 1)]
    # Without the open return, no unit of LI-A could be returned any more.
    alone = decide(refund(ONE_MUG), return_order([item_line("r1", "1", ONE_MUG, 160)]), order=raw)
    assert alone.verdict is Verdict.REFUSE


def test_units_google_refunded_already_are_matched_not_refunded_twice() -> None:
    raw = delivered_order()
    raw["lineItems"][0]["quantityReturned"] = 2
    ret = google_return_raw("G-RET-1", [("sku-a", "refunded"), ("sku-a", "new")])
    both = return_order([item_line("r1", "2", 2 * ONE_MUG, 320)])
    decision = decide(refund(2 * ONE_MUG), both, order=raw, returns=(ret,))
    # One unit pairs with the refunded one (nothing to send), the other accepts the open one.
    assert decision.verdict is Verdict.SEND
    ((line, quantity, amount),) = [(m.line_item_id, m.quantity, m.amount_minor) for m in decision.mutations]
    assert (line, quantity, amount) == ("LI-A", 1, ONE_MUG)
    refunded = google_return_raw("G-RET-2", [("sku-a", "refunded")])
    raw["lineItems"][0]["quantityReturned"] = 1
    only = decide(refund(ONE_MUG), return_order([item_line("r1", "1", ONE_MUG, 160)]), order=raw,
                  returns=(refunded,))  # fmt: skip
    assert only.verdict is Verdict.MATCHED and not only.mutations
    assert only.matched_return_ids == ("G-RET-2",) and only.returned


def test_a_google_return_made_after_the_square_refund_does_not_pair() -> None:
    raw = delivered_order()
    raw["lineItems"][0]["quantityReturned"] = 1
    later = google_return_raw("G-LATE", [("sku-a", "refunded")], created="2026-11-26T00:00:00Z")
    decision = decide(refund(ONE_MUG), return_order([item_line("r1", "1", ONE_MUG, 160)]), order=raw,
                      returns=(later,))  # fmt: skip
    assert decision.verdict is Verdict.SEND and decision.matched_return_ids == ()


def test_context_after_carries_one_cycles_refunds_to_the_next() -> None:
    ctx = GoogleRefundContext(order_of(delivered_order()))
    first_ret = square_return(return_order([item_line("r1", "2", 2 * ONE_MUG, 320)]))
    first = decide_google_refund(refund(2 * ONE_MUG), first_ret, sale_order(), ctx)
    assert first.verdict is Verdict.SEND
    ctx = ctx.after(first)
    assert ctx.in_flight_minor == 2 * ONE_MUG and ctx.in_flight_units == {"LI-A": 2}
    assert ctx.history == first.returned
    second_ret = square_return(return_order([item_line("r2", "1", ONE_MUG, 160)], order_id="SQ-RET-2"))
    second = decide_google_refund(
        refund(ONE_MUG, refund_id="PAY-1_R2", order_id="SQ-RET-2"), second_ret, sale_order(), ctx
    )
    assert second.verdict is Verdict.REFUSE and "Google can take 0" in second.reason
    assert ctx.after(second) is ctx  # a refused refund changes nothing
