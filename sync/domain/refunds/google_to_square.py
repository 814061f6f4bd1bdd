"""Google's refunds on an order -> the RefundPayment Square must record (issue 15 item 2).

Google moved the money (its ``refunds[]``, a processed return, a line or order cancellation after
payment: all lower ``netAmount``); Square holds the order's EXTERNAL payment, so a refund there is
bookkeeping that makes Square's books match. The rule works on amounts, not on single refunds:

    due = min(payment - netAmount, Google's refunds) - Square's refunded + unsettled

* ``payment - netAmount``: what Square must show refunded for its net to equal Google's. A
  cancellation made before the Square order was paid lowered the payment itself and asks for
  nothing; ``min`` with Google's ``refunds[]`` keeps a payment above Google's total (a mapping
  error reconciliation reports) from inventing refunds.
* ``Square's refunded``: ``Payment.refunded_money`` (pending refunds included). A refund that came
  *from* Square is in it and, once reported, in Google's figures as well, so it cancels out: what
  came from Square is never recorded again, whatever the ledger remembers.
* ``unsettled``: Square refunds the store made that Google does not show yet (their Google
  mutations pending, or the refund still PENDING in Square): without it, a Google refund racing a
  Square one would be recorded short now and the rest a cycle later. Refused ones are left out:
  if a person then refunds on Google by hand, counting them would record that money twice.

Never more than the payment's refundable remainder. The idempotency key names the resulting total
(``operations.square_refund_key``): the same state always plans the same request, a kill -9 or a
lost response replays it, and once Square shows it, ``due`` is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.domain import operations
from sync.domain.money import to_major
from sync.domain.orders import Order
from sync.domain.refunds.records import Verdict, google_refund_entries
from sync.domain.refunds.rules import SQUARE_REFUND_TEXT, own_refund_reason
from sync.domain.square_records import SquarePayment


@dataclass(frozen=True, slots=True)
class SquareRefundPlan:
    """A RefundPayment on the order's EXTERNAL payment."""

    order_id: str  # the Google order
    payment_id: str
    amount_minor: int
    currency: str
    idempotency_key: str
    reason: str
    refunded_after_minor: int  # what Square shows refunded once this is recorded

    def request(self) -> dict[str, Any]:
        """The RefundPayment body (the squareup SDK's keyword arguments)."""
        return {
            "idempotency_key": self.idempotency_key,
            "payment_id": self.payment_id,
            "amount_money": {"amount": self.amount_minor, "currency": self.currency},
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class SquareRefundDecision:
    verdict: Verdict
    reason: str
    order_id: str
    plan: SquareRefundPlan | None = None
    due_minor: int = 0  # what Square should still record (more than the plan when capped)


def square_refund_due(order: Order, payment: SquarePayment, *, unsettled_square_minor: int = 0) -> int:
    """What Square should still record as refunded on ``payment`` for Google's ``order`` (may be <= 0)."""
    google_refunded = sum(entry.amount_minor for entry in google_refund_entries(order.raw))
    basis = google_refunded
    if order.net_amount_minor is not None:
        basis = min(payment.amount_minor - order.net_amount_minor, google_refunded)
    return basis - payment.refunded_minor + max(0, unsettled_square_minor)


def decide_square_refund(
    order: Order,
    payment: SquarePayment | None,
    *,
    merchant_id: str,
    unsettled_square_minor: int = 0,
) -> SquareRefundDecision:
    """What Square must record for Google's refunds on ``order`` (``payment``: the Square order's
    EXTERNAL payment, None when the Square order has none)."""

    def verdict(
        kind: Verdict, why: str, due: int = 0, plan: SquareRefundPlan | None = None
    ) -> SquareRefundDecision:
        return SquareRefundDecision(kind, why, order.id, plan, due)

    if not any(entry.amount_minor > 0 for entry in google_refund_entries(order.raw)):
        return verdict(Verdict.IGNORE, "Google refunded nothing")
    if payment is None:
        return verdict(Verdict.IGNORE, "the Square order has no payment: nothing was recorded to refund")
    if payment.source_type != "EXTERNAL":
        # Refunding a card payment would move real money a second time (Google refunded already).
        return verdict(
            Verdict.REFUSE, f"the Square payment {payment.payment_id} is {payment.source_type}, not EXTERNAL"
        )
    if payment.status != "COMPLETED":
        return verdict(
            Verdict.WAIT, f"the Square payment {payment.payment_id} is {payment.status}, not COMPLETED"
        )
    if payment.currency != order.currency:
        return verdict(
            Verdict.REFUSE,
            f"the Square payment is in {payment.currency}, the Google order in {order.currency}",
        )
    due = square_refund_due(order, payment, unsettled_square_minor=unsettled_square_minor)
    if due <= 0:
        return verdict(Verdict.IGNORE, "Square shows every Google refund already")
    left = payment.refundable_minor
    if left <= 0:
        return verdict(
            Verdict.REFUSE, f"{due} to record, but nothing is left to refund on the Square payment", due
        )
    amount = min(due, left)
    after = payment.refunded_minor + amount
    key = operations.square_refund_key(merchant_id, order.id, payment.payment_id, after, amount)
    plan = SquareRefundPlan(
        order_id=order.id,
        payment_id=payment.payment_id,
        amount_minor=amount,
        currency=order.currency,
        idempotency_key=key,
        reason=own_refund_reason(_summary(order, amount), key),
        refunded_after_minor=after,
    )
    why = f"record Google's refunds: {amount} of {due} due"
    if amount < due:
        why += f" (only {left} left on the Square payment)"
    return verdict(Verdict.SEND, why, due, plan)


def _summary(order: Order, amount: int) -> str:
    """What the store reads in Square: which Google refunds this records."""
    reasons = [
        entry.reason or "refund"
        for entry in reversed(google_refund_entries(order.raw))
        if not entry.reason_text.startswith(SQUARE_REFUND_TEXT)
    ]
    shown = ", ".join(dict.fromkeys(reasons[:3])) or "refund"
    return (
        f"Google refunded {to_major(amount, order.currency)} {order.currency} on order {order.id} ({shown})"
    )
