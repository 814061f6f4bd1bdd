"""Google's refunds -> the RefundPayment Square records (sync.domain.refunds.google_to_square)."""

from __future__ import annotations

import dataclasses
from typing import Any

from sync.domain import operations
from sync.domain.refunds.google_to_square import decide_square_refund, square_refund_due
from sync.domain.refunds.records import Verdict
from sync.domain.refunds.rules import own_refund_key
from tests.unit.fixtures_google import price
from tests.unit.refund_fixtures import MERCHANT, ORDER_ID, delivered_order, order_of, payment


def refunded(*entries: tuple[str, str, str], net: str) -> dict[str, Any]:
    """The delivered order after Google refunds (amount, reason, reasonText)."""
    return delivered_order(
        refunds=[
            {"actor": "merchant", "amount": price(a), "creationDate": "2026-11-25T10:00:00Z", "reason": r,
             "reasonText": t}
            for a, r, t in entries
        ],
        netAmount=price(net),
    )  # fmt: skip


def test_a_google_refund_is_recorded_on_the_external_payment() -> None:
    order = order_of(refunded(("21.59", "customerDiscretionaryReturn", ""), net="32.38"))
    decision = decide_square_refund(order, payment(), merchant_id=MERCHANT)
    assert decision.verdict is Verdict.SEND and decision.due_minor == 2159
    plan = decision.plan
    assert plan is not None
    assert (plan.payment_id, plan.amount_minor, plan.currency, plan.refunded_after_minor) == (
        "PAY-1", 2159, "USD", 2159,
    )  # fmt: skip
    assert plan.idempotency_key == operations.square_refund_key(MERCHANT, ORDER_ID, "PAY-1", 2159, 2159)
    assert own_refund_key(plan.reason) == plan.idempotency_key  # the echo mark
    assert plan.reason.startswith("Google refunded 21.59 USD on order TEST-1000-20-3000")
    assert "customerDiscretionaryReturn" in plan.reason and len(plan.reason) <= 192
    assert plan.request() == {
        "idempotency_key": plan.idempotency_key,
        "payment_id": "PAY-1",
        "amount_money": {"amount": 2159, "currency": "USD"},
        "reason": plan.reason,
    }
    # Planned again from the same state: the same request (a rerun replays it at Square).
    assert decide_square_refund(order, payment(), merchant_id=MERCHANT) == decision
    # Once Square shows it, nothing is due.
    assert decide_square_refund(order, payment(refunded=2159), merchant_id=MERCHANT).verdict is Verdict.IGNORE


def test_what_came_from_square_is_never_recorded_again() -> None:
    # The store refunded 5.00 in Square; ordersync reported it; Google shows it.
    order = order_of(refunded(("5.00", "courtesyAdjustment", "Square refund PAY-1_R1: Other"), net="48.97"))
    echo = decide_square_refund(order, payment(refunded=500), merchant_id=MERCHANT)
    assert echo.verdict is Verdict.IGNORE and echo.plan is None
    # Before Google shows it, the Square refund is unsettled: still nothing due.
    before = order_of(delivered_order())
    assert square_refund_due(before, payment(refunded=500), unsettled_square_minor=500) == 0
    # A Google refund racing it: only Google's own 3.00 is recorded, not short by the 5.00.
    racing = order_of(refunded(("3.00", "other", ""), net="50.97"))
    decision = decide_square_refund(
        racing, payment(refunded=500), merchant_id=MERCHANT, unsettled_square_minor=500
    )
    assert decision.plan is not None and decision.plan.amount_minor == 300
    assert decision.plan.refunded_after_minor == 800
    # Without knowing it is unsettled (a lost ledger) less is recorded now, never more.
    lost = decide_square_refund(racing, payment(refunded=500), merchant_id=MERCHANT)
    assert lost.verdict is Verdict.IGNORE
    # The summary names Google's own refunds, not the ones that came from Square.
    mixed = order_of(
        refunded(
            ("5.00", "courtesyAdjustment", "Square refund PAY-1_R1"), ("3.00", "priceError", ""), net="45.97"
        )
    )
    plan = decide_square_refund(mixed, payment(refunded=500), merchant_id=MERCHANT).plan
    assert plan is not None and plan.amount_minor == 300
    assert "(priceError)" in plan.reason and "courtesyAdjustment" not in plan.reason


def test_cancellations_before_payment_ask_for_nothing() -> None:
    # LI-B (5.40) canceled before the Square order was paid: Square was paid 48.57 for 48.57.
    order = order_of(refunded(("5.40", "customerCanceled", ""), net="48.57"))
    assert decide_square_refund(order, payment(amount=4857), merchant_id=MERCHANT).verdict is Verdict.IGNORE
    # Canceled after payment: Square was paid 53.97, so 5.40 is due.
    plan = decide_square_refund(order, payment(amount=5397), merchant_id=MERCHANT).plan
    assert plan is not None and plan.amount_minor == 540


def test_a_payment_above_googles_total_invents_no_refund() -> None:
    order = order_of(refunded(("1.00", "other", ""), net="52.97"))
    plan = decide_square_refund(order, payment(amount=5500), merchant_id=MERCHANT).plan
    assert plan is not None and plan.amount_minor == 100  # not 5500 - 5297


def test_never_more_than_the_payment_has_left() -> None:
    order = order_of(refunded(("50.00", "other", ""), net="3.97"))
    capped = decide_square_refund(order, payment(refunded=1000), merchant_id=MERCHANT)
    assert capped.verdict is Verdict.SEND and capped.due_minor == 4000
    assert capped.plan is not None and capped.plan.amount_minor == 4000
    # The store refunded 40.00 in Square that Google does not show yet: 50.00 due, 13.97 left.
    short = decide_square_refund(
        order, payment(refunded=4000), merchant_id=MERCHANT, unsettled_square_minor=4000
    )
    assert short.due_minor == 5000 and "only 1397 left" in short.reason
    assert short.plan is not None and short.plan.amount_minor == 1397
    empty = decide_square_refund(
        order, payment(refunded=5397), merchant_id=MERCHANT, unsettled_square_minor=5397
    )
    assert empty.verdict is Verdict.REFUSE and empty.due_minor == 5000 and empty.plan is None


def test_payments_that_cannot_take_a_bookkeeping_refund() -> None:
    order = order_of(refunded(("5.00", "other", ""), net="48.97"))
    assert decide_square_refund(order, None, merchant_id=MERCHANT).verdict is Verdict.IGNORE
    card = decide_square_refund(order, payment(source="CARD"), merchant_id=MERCHANT)
    assert card.verdict is Verdict.REFUSE and "not EXTERNAL" in card.reason
    assert (
        decide_square_refund(order, payment(status="APPROVED"), merchant_id=MERCHANT).verdict is Verdict.WAIT
    )
    nothing = order_of(delivered_order())
    assert (
        decide_square_refund(nothing, payment(source="CARD"), merchant_id=MERCHANT).verdict is Verdict.IGNORE
    )
    euro = order_of(refunded(("5.00", "other", ""), net="48.97"))
    eur_payment = dataclasses.replace(payment(), currency="EUR")
    assert decide_square_refund(euro, eur_payment, merchant_id=MERCHANT).verdict is Verdict.REFUSE


def test_without_net_amount_the_refunds_are_the_basis() -> None:
    raw = refunded(("2.00", "other", ""), net="51.97")
    del raw["netAmount"]
    plan = decide_square_refund(order_of(raw), payment(), merchant_id=MERCHANT).plan
    assert plan is not None and plan.amount_minor == 200
