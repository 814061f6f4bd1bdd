"""What a refund that Google or Square turned down means: send again with the same key, or report.

A refund is never retried blindly: only failures that say nothing about the request itself
(throttling, server trouble, no answer, a refund Square is still settling) keep the intent
pending for the next cycle, with the same operationId / idempotency key. Everything else is
final: the intent is marked failed with the side's own reason and the report shows it as a
failed_operation, for a person to decide (a new key would be a second refund if the first one
did go through). An outage (credentials refused) ends the cycle's calls to that side.

Square codes and reactions: returns-refunds.md §2.7; Google: the gateway's retry rules
(429/5xx, 403 rate limits) and the emulator's 4xx answers, which state the rule that was broken.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sync.domain.square_records import SquareRefund


class Disposition(StrEnum):
    RETRY = "retry"  # keep pending, resend unchanged next cycle
    FAILED = "failed"  # final: report failed_operation with the reason
    OUTAGE = "outage"  # the side refuses us as a whole: stop calling it this cycle, keep pending


@dataclass(frozen=True, slots=True)
class Refusal:
    disposition: Disposition
    code: str  # the side's own code (Square) or reason (Google)
    reason: str  # for the failed_operation row: what happened and what a person should do


# Square: RefundPayment errors that are worth the same request later.
SQUARE_RETRY_CODES = frozenset({
    "REFUND_ALREADY_PENDING",  # a pending refund blocks this one until it settles
    "RATE_LIMITED", "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "GATEWAY_TIMEOUT",
    "TIMEOUT", "TRANSPORT_ERROR",  # the gateway's codes for "no answer"
})  # fmt: skip
SQUARE_OUTAGE_CODES = frozenset(
    {"UNAUTHORIZED", "INSUFFICIENT_SCOPES", "INSUFFICIENT_PERMISSIONS_FOR_REFUND"}
)
SQUARE_ADVICE = {
    "REFUND_AMOUNT_INVALID": "more than Square has left to refund; compare both sides' refunds",
    "PAYMENT_NOT_REFUNDABLE": "Square will not refund this payment (too old, 20 refunds, or one FAILED)",
    "PAYMENT_NOT_REFUNDABLE_DUE_TO_DISPUTE": "the payment is disputed in Square",
    "REFUND_ERROR_PAYMENT_NEEDS_COMPLETION": "the Square payment is not COMPLETED",
    "REFUND_DECLINED": "Square declined the refund",
    "IDEMPOTENCY_KEY_REUSED": "the key was used with another body: a bug in ordersync, please report it",
    "VERSION_MISMATCH": "the payment changed meanwhile; the next cycle plans from its new state",
    "CURRENCY_MISMATCH": "the refund's currency is not the payment's",
}


def square_refusal(status: int | None, code: str, detail: str, *, category: str = "") -> Refusal:
    """A RefundPayment that raised (``SquareApiError``'s status, code, detail, category)."""
    if code in SQUARE_RETRY_CODES or (status is not None and (status == 429 or status >= 500)):
        return Refusal(Disposition.RETRY, code, f"Square: {detail}")
    if status == 401 or code in SQUARE_OUTAGE_CODES or category == "AUTHENTICATION_ERROR":
        return Refusal(Disposition.OUTAGE, code, f"Square refused the access token: {detail}")
    advice = SQUARE_ADVICE.get(code)
    return Refusal(Disposition.FAILED, code, f"Square {code}: {detail}" + (f" ({advice})" if advice else ""))


def square_refund_outcome(refund: SquareRefund) -> Refusal | None:
    """A RefundPayment Square answered: None when it stands (COMPLETED, or PENDING: it settles
    later and already counts in ``refunded_money``); a Refusal when Square answered with a
    refund that is REJECTED or FAILED (the 200 can carry one)."""
    if refund.status in ("REJECTED", "FAILED"):
        hint = " — Square allows no further refund of this payment" if refund.status == "FAILED" else ""
        return Refusal(
            Disposition.FAILED, refund.status, f"Square refund {refund.refund_id} {refund.status}{hint}"
        )
    return None


def google_refusal(status: int, reason: str, message: str, *, retryable: bool = False) -> Refusal:
    """A refund mutation Google turned down (a custombatch entry's error, or a single call's).

    ``retryable`` is the gateway's own verdict (429, 5xx, 403 rate limits, transport failures).
    """
    if retryable or status == 0:
        return Refusal(Disposition.RETRY, reason or "transportError", f"Google: {message}")
    if status in (401, 403):
        return Refusal(Disposition.OUTAGE, reason, f"Google refused ordersync's credentials: {message}")
    said = f"{status} {reason}" if reason else str(status)
    return Refusal(Disposition.FAILED, reason, f"Google {said}: {message}")
