"""Square's Sender: create + pay, cancel, and line cancellations, with bounded concurrency.

- ``square.create``: CreateOrder with the intent's idempotency key (a replay returns the order
  already made), then, when ``[square] mark_paid``, one order-linked, autocompleted EXTERNAL
  payment for what it owes. The answer carries the Square order id and version.
- ``square.cancel``: the Square order of a Google order canceled on Google's side.
- ``square.cancel_lines``: absolute counts per line, so applying one twice changes nothing; the
  newest of an order's pending ones carries every older one (those are done, ``superseded``).
- ``square.refund``: RefundPayment on the order's EXTERNAL payment with the planned key and
  reason (Google refunded; issue 15). Square replays a repeated key; what a refusal means is
  ``refunds.refusals``: retry with the same key, or failed with Square's code and advice. The
  answer carries the Square refund id (the ledger's echo signal).

A Square error on one intent is that intent's result: RETRY when Square says it may pass, else
FAILED (the order is reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sync.adapters.square_errors import SquareApiError
from sync.domain.intents import (
    SQUARE_CANCEL,
    SQUARE_CANCEL_LINES,
    SQUARE_CREATE,
    SQUARE_REFUND,
    IntentRecord,
    Outcome,
    SendResult,
)
from sync.domain.refunds.refusals import Disposition, square_refund_outcome, square_refusal
from sync.domain.square_mapping import CanceledLine, line_cancellation_update
from sync.logs import get_logger
from sync.service.ports import OrderSystem

log = get_logger(__name__)

SQUARE_PHASES: tuple[frozenset[str], ...] = (
    frozenset({SQUARE_CREATE}),
    frozenset({SQUARE_CANCEL}),
    frozenset({SQUARE_CANCEL_LINES}),
    frozenset({SQUARE_REFUND}),
)


def failure(error: SquareApiError) -> SendResult:
    return SendResult(
        Outcome.RETRY if error.retryable else Outcome.FAILED, error=error.detail, reason=error.code
    )


class SquareSender:
    def __init__(self, orders: OrderSystem, *, concurrency: int, mark_paid: bool) -> None:
        self.orders = orders
        self.concurrency = concurrency
        self.mark_paid = mark_paid

    def send(self, intents: Sequence[IntentRecord]) -> list[SendResult]:
        results: dict[int, SendResult] = {}
        creates = [r for r in intents if r.kind == SQUARE_CREATE]
        if creates:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                results.update(
                    zip((r.id for r in creates), pool.map(self._create_and_pay, creates), strict=True)
                )
        for record in intents:
            if record.kind == SQUARE_CANCEL:
                results[record.id] = self._cancel(record)
        for record in intents:
            if record.kind == SQUARE_REFUND:
                results[record.id] = self._refund(record)
        lines = [r for r in intents if r.kind == SQUARE_CANCEL_LINES]
        if lines:
            results.update(self._line_cancellations(lines))
        for record in intents:
            if record.id not in results:  # an unknown kind: a bug upstream, never sent
                results[record.id] = SendResult(Outcome.FAILED, error=f"no Square call for {record.kind}")
        return [results[r.id] for r in intents]

    def _create_and_pay(self, record: IntentRecord) -> SendResult:
        try:
            square_order = self.orders.create_order(dict(record.payload["order"]), record.key)
            if self.mark_paid and square_order.get("state") == "OPEN" and not square_order.get("tenders"):
                # One round trip: an order-linked, autocompleted EXTERNAL payment pays the order
                # ("Pay for Orders"), no PayOrder needed.
                self.orders.pay_order_with_external_payment(square_order, record.key)
        except SquareApiError as exc:
            log.warning("Square call failed", order=record.order_id, code=exc.code, detail=exc.detail)
            return failure(exc)
        return SendResult.done(
            response={"square_order_id": square_order["id"], "square_version": square_order.get("version")}
        )

    def _cancel(self, record: IntentRecord) -> SendResult:
        try:
            self.orders.cancel_order(record.payload["square_order_id"])
        except SquareApiError as exc:
            return failure(exc)
        return SendResult.done()

    def _refund(self, record: IntentRecord) -> SendResult:
        request = record.payload["request"]
        try:
            refund = self.orders.refund_payment(
                request["payment_id"],
                int(request["amount_money"]["amount"]),
                str(request["amount_money"]["currency"]),
                str(request["idempotency_key"]),
                reason=request.get("reason"),
            )
        except SquareApiError as exc:
            refusal = square_refusal(exc.status, exc.code, exc.detail, category=exc.category)
            log.warning("Square refused a refund", order=record.order_id, code=exc.code, detail=exc.detail)
            # An outage stays pending too: the same request goes once Square takes us again.
            outcome = Outcome.FAILED if refusal.disposition is Disposition.FAILED else Outcome.RETRY
            return SendResult(outcome, error=refusal.reason, reason=refusal.code)
        refused = square_refund_outcome(refund)
        if refused is not None:
            return SendResult(Outcome.FAILED, error=refused.reason, reason=refused.code)
        return SendResult.done(
            execution_status=refund.status.lower(),
            response={"refund_id": refund.refund_id, "status": refund.status},
        )

    def _line_cancellations(self, pending: Sequence[IntentRecord]) -> dict[int, SendResult]:
        # Counts only grow, so the newest intent of an order carries every older one.
        newest = {r.order_id: r for r in sorted(pending, key=lambda r: r.id)}
        results = {r.id: SendResult.done("superseded") for r in pending if newest[r.order_id] is not r}
        todo = list(newest.values())
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            errors = list(pool.map(self._apply_line_cancellation, todo))
        for record, error in zip(todo, errors, strict=True):
            results[record.id] = SendResult.done() if error is None else failure(error)
        return results

    def _apply_line_cancellation(self, record: IntentRecord, max_conflicts: int = 3) -> SquareApiError | None:
        """Read the Square order, work out what it still needs, send that; None when done. A store
        edit in between (VERSION_MISMATCH) means read again."""
        square_order_id = record.payload["square_order_id"]
        lines = [CanceledLine(**line) for line in record.payload["lines"]]
        for attempt in range(max_conflicts + 1):
            try:
                square_order = self.orders.retrieve_order(square_order_id)
                update = line_cancellation_update(record.order_id, square_order, lines)
                if update is None:
                    return None
                self.orders.update_order(
                    square_order_id,
                    update.order,
                    fields_to_clear=list(update.fields_to_clear),
                    # One key per (intent, version read): a lost response replays, a newer
                    # version is a new request.
                    idempotency_key=f"{record.key}:v{square_order.get('version')}"[-192:],
                )
                log.info(
                    "Google line cancellation applied to the Square order",
                    order=record.order_id,
                    square_order=square_order_id,
                    paid=bool(square_order.get("tenders")),
                )
                return None
            except SquareApiError as exc:
                if exc.code == "VERSION_MISMATCH" and attempt < max_conflicts:
                    continue
                log.warning(
                    "Square line cancellation failed",
                    order=record.order_id,
                    code=exc.code,
                    detail=exc.detail,
                )
                return exc
        raise AssertionError("unreachable")  # the loop either returns or raises
