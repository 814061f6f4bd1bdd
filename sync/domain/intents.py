"""Intents: the mutations ordersync means to make, as the outbox records, sends and settles them.

An ``Intent`` names its order, the channel it goes to (``Target``), what it does (``kind``: the
custombatch method, or ours for Square), a deterministic ``key`` (Google's ``operationId``,
Square's idempotency key, a shipmentId-derived id, a ``Webhook-Id``) and the exact request. The
ledger keeps it under (order, target, key): recording the same intent twice yields the first
record, so a rerun re-derives and resends what an earlier run left, never something new.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Target(StrEnum):
    """The channel an intent is sent to; each has its own Sender (service/senders*)."""

    GOOGLE = "google"
    SQUARE = "square"
    UCP = "ucp"  # UCP order lifecycle webhooks to Google (service/ucp_sender.py)
    ORDER_TRACKING = "ordertracking"  # Merchant API order tracking signals (same module)


class IntentState(StrEnum):
    PENDING = "pending"
    DONE = "done"  # final
    FAILED = "failed"  # final: refused for good; the order is reported


class Outcome(StrEnum):
    """What one send of an intent came to. RETRY keeps it pending for the next cycle."""

    DONE = "done"
    RETRY = "retry"
    FAILED = "failed"


def _target(value: Target | str) -> Target:
    if type(value) is Target:
        return value
    try:
        return Target(value)
    except ValueError:
        raise ValueError(
            f"intent target must be one of {tuple(t.value for t in Target)}, got {value!r}"
        ) from None


@dataclass(frozen=True, slots=True)
class Intent:
    """An operation we mean to send. ``order_id`` is the order key: the Google order id, or for
    the live Google channels (UCP, order tracking) the Square order id; ``key`` must be
    deterministic (see domain.operations)."""

    order_id: str
    target: Target
    kind: str
    key: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", _target(self.target))
        for name in ("order_id", "kind", "key"):
            if not getattr(self, name):
                raise ValueError(f"intent {name} must not be empty")

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes an intent unique in the ledger: (order, target, key)."""
        return (self.order_id, self.target, self.key)


@dataclass(frozen=True, slots=True)
class IntentRecord:
    """An intent as the ledger holds it."""

    id: int
    order_id: str
    target: Target
    kind: str
    key: str
    payload: Mapping[str, Any]
    state: IntentState
    execution_status: str | None  # Google's executed | duplicate | ..., or ours for Square
    attempts: int  # results recorded so far (done, failed and retry each count one)
    last_error: str | None
    error_reason: str | None
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None
    run_id: int | None  # the run that first recorded the intent

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.order_id, self.target, self.key)

    @property
    def is_pending(self) -> bool:
        return self.state == IntentState.PENDING


@dataclass(frozen=True, slots=True)
class SendResult:
    """A Sender's answer for one intent (aligned 1:1 with what it was given)."""

    outcome: Outcome
    execution_status: str | None = None
    error: str | None = None
    reason: str | None = None  # Google's error reason / Square's error code
    response: Mapping[str, Any] | None = None  # what a settle handler needs of the answer

    @classmethod
    def done(
        cls, execution_status: str = "executed", response: Mapping[str, Any] | None = None
    ) -> SendResult:
        return cls(Outcome.DONE, execution_status=execution_status, response=response)


@dataclass(frozen=True, slots=True)
class IntentResult:
    """A send's outcome as the ledger records it. ``retry`` keeps the intent pending (attempts+1)."""

    intent_id: int
    outcome: Outcome
    execution_status: str | None = None
    error: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if type(self.outcome) is not Outcome:
            try:
                object.__setattr__(self, "outcome", Outcome(self.outcome))
            except ValueError:
                raise ValueError(
                    f"intent outcome must be done, failed or retry, got {self.outcome!r}"
                ) from None

    @classmethod
    def of(cls, intent_id: int, result: SendResult) -> IntentResult:
        return cls(intent_id, result.outcome, result.execution_status, result.error, result.reason)


# Kinds of Square intents (Google's are the custombatch method names: acknowledge, shipLineItems, ...).
SQUARE_CREATE = "square.create"  # CreateOrder, then the EXTERNAL payment that pays it
SQUARE_CANCEL = "square.cancel"  # the Google order was canceled: cancel its Square order
SQUARE_CANCEL_LINES = "square.cancel_lines"  # units Google canceled: absolute counts per line
SQUARE_REFUND = "square.refund"  # RefundPayment on the EXTERNAL payment: what Google refunded (issue 15)
# Google mutations reporting a Square refund (the custombatch methods; issue 15).
GOOGLE_REFUND_KINDS = frozenset({"returnRefundLineItem", "returnLineItem", "refund"})


def google_intent(order_id: str, entry: Mapping[str, Any]) -> Intent:
    """A custombatch entry as an intent: its method is the kind, its operationId the key."""
    return Intent(order_id, Target.GOOGLE, str(entry["method"]), str(entry["operationId"]), entry)


def square_intent(order_id: str, kind: str, key: str, payload: Mapping[str, Any]) -> Intent:
    """A Square intent; its payload names its kind and key as a Google entry does."""
    return Intent(order_id, Target.SQUARE, kind, key, {"method": kind, "operationId": key, **payload})
