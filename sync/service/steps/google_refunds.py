"""Refunds Google made are recorded in Square once, and Google's customer returns are followed
(issue 15 items 2 and 3).

1. ``square.refund`` intents left pending (a crash, a lost answer, Square down) are sent again
   with the same idempotency key; Square replays what it did.
2. Every ``[google] recheck_open_orders_minutes`` (the open-order recheck's rhythm): Google's
   ``orderreturns.list`` since its cursor, or since the oldest return still open in the ledger's
   copy (1 call a page; the returns kept per order, refund_returns.py)
   and one custombatch ``get`` of up to 1,000 orders in Square placed within the return window
   (30 days), round-robin, plus the orders with new returns: so delivered orders, which no other
   step reads again, are looked at about hourly (24,000 orders a day at one call an hour).
3. An order whose Google refund figures (``refunds[]`` total, ``netAmount``) changed since the
   ledger last saw them, and with no refund of it pending for Square: its Square order and EXTERNAL
   payment are read and ``google_to_square.decide_square_refund`` says what Square must still
   record (amounts, not single refunds, so what came from Square cancels out and is never echoed).
   SEND is recorded (key: the state it produces) before it is sent; REFUSE is a failed operation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sync.adapters.google_errors import GoogleApiError
from sync.domain.intents import (
    GOOGLE_REFUND_KINDS,
    SQUARE_REFUND,
    Intent,
    IntentResult,
    Outcome,
    Target,
    square_intent,
)
from sync.domain.orders import Order
from sync.domain.records import OrderRecord, OrderSnapshot
from sync.domain.refunds.google_to_square import SquareRefundDecision, decide_square_refund
from sync.domain.refunds.records import RefundDataError, Verdict, google_refunded_minor
from sync.logs import get_logger
from sync.service.context import CycleContext
from sync.service.order_reads import read_orders
from sync.service.outages import google_outage
from sync.service.outbox import Outbox, Settled
from sync.service.refund_returns import pull_new_returns
from sync.service.refund_state import (
    GOOGLE_CHECKED_AT_KEY,
    GOOGLE_REREAD_AFTER_KEY,
    RefundMemory,
)
from sync.service.results import StepResult
from sync.service.steps.recheck_open_orders import due

log = get_logger(__name__)

RETURN_WINDOW = timedelta(days=30)
REREAD_PER_CHECK = 1000  # one custombatch call


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    assert ctx.order_system is not None, "a Square step runs only with an order system"
    settled = Settled()
    pending = outbox.pending(Target.SQUARE, [SQUARE_REFUND])
    if pending:
        settled.add(outbox.send(pending))
    busy = {record.order_id for record, _ in settled.retried}
    now = ctx.clock()
    if not due(
        ctx.ledger.get_value(GOOGLE_CHECKED_AT_KEY), now, ctx.settings.google.recheck_open_orders_minutes
    ):
        return StepResult(settled)
    read = _periodic_read(ctx, now)
    if read is None:
        return StepResult(settled)  # Google could not be read: the whole check again next cycle
    fresh, position = read
    if fresh:
        settled.add(_plan(ctx, outbox, fresh, busy))
    # Only once the orders read were planned (a Square failure above leaves the check due).
    with ctx.ledger.transaction():
        ctx.ledger.set_value(GOOGLE_REREAD_AFTER_KEY, position)
        ctx.ledger.set_value(GOOGLE_CHECKED_AT_KEY, now.isoformat())
    return StepResult(settled)


def _periodic_read(ctx: CycleContext, now: datetime) -> tuple[list[Order], str | None] | None:
    """New customer returns stored, and the orders to compare: this check's share of the return
    window plus the orders with new returns; with where the next check starts. None: Google failed."""
    try:
        with_returns = pull_new_returns(ctx.ledger, ctx.marketplace, reread_open=True)
    except GoogleApiError as exc:
        ctx.result.outage(google_outage(ctx.marketplace.base_url, exc, ctx.marketplace.merchant_id))
        return None
    after = ctx.ledger.get_value(GOOGLE_REREAD_AFTER_KEY)
    ids = ctx.ledger.orders_in_square_since(now - RETURN_WINDOW, after=after, limit=REREAD_PER_CHECK)
    wanted = sorted(set(ids) | with_returns)
    fresh = read_orders(ctx, wanted, why="orders in the return window") if wanted else []
    if fresh is None:
        return None
    return fresh, ids[-1] if len(ids) == REREAD_PER_CHECK else None


def _plan(ctx: CycleContext, outbox: Outbox, fresh: list[Order], busy: set[str]) -> Settled:
    square = ctx.order_system
    assert square is not None
    memory = RefundMemory(ctx.ledger)
    changed: list[Order] = []
    for order in fresh:
        try:
            refunded = google_refunded_minor(order.raw)
        except RefundDataError as exc:
            ctx.result.failed_orders.add(order.id)
            ctx.ledger.record_order_error(order.id, str(exc), ctx.clock())
            continue
        if order.id not in busy and memory.order(order.id).google_changed(refunded, order.net_amount_minor):
            changed.append(order)
    if not changed:
        return Settled()
    now = ctx.clock()
    ctx.ledger.upsert_orders([OrderSnapshot.of(order, now) for order in changed])  # reports see them
    records = ctx.ledger.get_orders(o.id for o in changed)
    in_square = {o.id: records[o.id] for o in changed if o.id in records and records[o.id].square_order_id}
    square_orders = {
        so["id"]: so
        for so in square.retrieve_orders(sorted({str(r.square_order_id) for r in in_square.values()}))
    }
    pending_google = {r.key for r in outbox.pending(Target.GOOGLE, GOOGLE_REFUND_KINDS)}
    intents: list[Intent] = []
    for order in changed:
        record = in_square.get(order.id)
        square_order = square_orders.get(str(record.square_order_id)) if record is not None else None
        if record is None or square_order is None:
            continue
        state = memory.order(order.id)
        decision = decide_square_refund(
            order,
            square.external_payment(square_order),
            merchant_id=ctx.settings.google.merchant_id,
            unsettled_square_minor=state.unsettled_minor(pending_google),
        )
        log.info(
            "Google refunds compared with Square",
            order=order.id,
            verdict=str(decision.verdict),
            reason=decision.reason,
        )
        figures = {"refunded_minor": google_refunded_minor(order.raw), "net_minor": order.net_amount_minor}
        if decision.verdict is Verdict.SEND and decision.plan is not None:
            plan = decision.plan
            intents.append(
                square_intent(
                    order.id,
                    SQUARE_REFUND,
                    plan.idempotency_key,
                    {"request": plan.request(), "google": figures},
                )
            )
        elif decision.verdict is Verdict.REFUSE:
            _refuse(ctx, record, decision, figures)
        elif decision.verdict is Verdict.IGNORE:
            memory.save_order(state.with_google(figures["refunded_minor"] or 0, order.net_amount_minor))
    return outbox.submit(intents)


def _refuse(
    ctx: CycleContext, record: OrderRecord, decision: SquareRefundDecision, figures: dict[str, int | None]
) -> None:
    """Google's refunds cannot be recorded in Square: a failed operation with the reason."""
    order_id = record.google_order_id
    key = f"refused:square-refund:{order_id}:{figures['refunded_minor']}:{figures['net_minor']}"
    memory = RefundMemory(ctx.ledger)
    with ctx.ledger.transaction():
        (stored,) = ctx.ledger.add_intents(
            [square_intent(order_id, SQUARE_REFUND, key, {"request": None, "google": figures})]
        )
        if stored.is_pending:
            message = f"Google's refunds not recorded in Square: {decision.reason}"
            ctx.ledger.record_results(
                [IntentResult(stored.id, Outcome.FAILED, error=message, reason="refused")]
            )
        memory.save_order(
            memory.order(order_id).with_google(int(figures["refunded_minor"] or 0), figures["net_minor"])
        )
    ctx.result.failed_orders.add(order_id)
    log.warning("Google refunds cannot be recorded in Square", order=order_id, reason=decision.reason)
