"""Refunds the store made in Square on Google orders reach Google once (issue 15 item 1).

Detection by polling: ``ListPaymentRefunds`` of the location's EXTERNAL payments updated since a
cursor kept in the ledger (minus 5 minutes: the list is eventually consistent), plus the refunds
parked last time (PENDING in Square, order not fully shipped) re-read by id. An idle cycle costs
that one call. For the refunds found: their return orders and sale orders in one
``BatchRetrieveOrders`` each, the Google orders they belong to in one custombatch ``get`` (the caps
need a current ``netAmount``), then ``square_to_google.decide_google_refund`` per refund, oldest
first, the order's context advanced after each.

In one ledger transaction per order, before anything is sent: the decision (refund_state) and,
for SEND, the Google intents (operationIds derived from the Square refund id, so a rerun, a lost
response or a lost cursor meets the same ids); a REFUSE is recorded as a failed operation with
its reason and never sent. Refunds ordersync itself recorded in Square (the ``[ordersync osr:…]``
mark in their reason, or remembered as ``own``) are never reported back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sync.domain.intents import (
    GOOGLE_REFUND_KINDS,
    Intent,
    IntentRecord,
    IntentResult,
    Outcome,
    Target,
    google_intent,
)
from sync.domain.money import price_to_minor
from sync.domain.records import OrderSnapshot
from sync.domain.refunds.records import RefundDataError, SquareReturn, Verdict, square_return
from sync.domain.refunds.rules import own_refund_key
from sync.domain.refunds.square_to_google import (
    GoogleRefundContext,
    GoogleRefundDecision,
    decide_google_refund,
)
from sync.domain.square_records import SquareRefund
from sync.logs import get_logger
from sync.service.context import CycleContext
from sync.service.order_reads import read_orders
from sync.service.outbox import Outbox
from sync.service.refund_returns import google_returns_of, refresh_returns
from sync.service.refund_state import (
    OWN,
    SQUARE_CURSOR_KEY,
    OrderRefundState,
    RefundMemory,
    SquareRefundEvent,
)
from sync.service.results import StepResult

log = get_logger(__name__)

LIST_OVERLAP = timedelta(minutes=5)
FINAL_VERDICTS = frozenset({OWN, Verdict.SEND, Verdict.MATCHED, Verdict.IGNORE, Verdict.REFUSE})


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    square = ctx.order_system
    assert square is not None, "a Square step runs only with an order system"
    memory = RefundMemory(ctx.ledger)
    since = ctx.ledger.get_value(SQUARE_CURSOR_KEY)
    found: dict[str, SquareRefund] = {}
    newest = since
    for refund in square.iter_payment_refunds(
        updated_at_begin_time=_earlier(since, LIST_OVERLAP),
        location_id=square.location_id(),
        source_type="EXTERNAL",
        sort_field="UPDATED_AT",
        sort_order="ASC",
    ):
        found[refund.refund_id] = refund
        newest = max(newest or "", refund.updated_at or "") or None
    parked = memory.parked()
    for refund_id in parked:
        if refund_id not in found:
            found[refund_id] = square.get_payment_refund(refund_id)
    todo = [r for r in found.values() if memory.verdict_of(r.refund_id) not in FINAL_VERDICTS]
    for refund in [r for r in todo if own_refund_key(r.reason)]:
        memory.set_verdict(refund.refund_id, None, OWN)  # the mark on Square's refund says ours
    todo = [r for r in todo if not own_refund_key(r.reason)]
    still_parked: set[str] = set()
    settled = None
    if todo:
        still_parked, records = _decide(ctx, outbox, memory, todo)
        settled = outbox.send(records)
    if set(parked) != still_parked:
        memory.set_parked(still_parked)
    if newest and newest != since:
        ctx.ledger.set_value(SQUARE_CURSOR_KEY, newest)
    return StepResult(settled) if settled is not None else StepResult()


def _decide(
    ctx: CycleContext, outbox: Outbox, memory: RefundMemory, refunds: list[SquareRefund]
) -> tuple[set[str], list[IntentRecord]]:
    """Decide and record each refund; the refunds left parked and the intents to send."""
    square = ctx.order_system
    assert square is not None
    returns = {
        o["id"]: o for o in square.retrieve_orders(sorted({r.order_id for r in refunds if r.order_id}))
    }
    sale_of = {rid: _sale_order_id(o) for rid, o in returns.items()}
    sales = {o["id"]: o for o in square.retrieve_orders(sorted({s for s in sale_of.values() if s}))}
    records = ctx.ledger.get_orders(
        {str(o.get("reference_id")) for o in sales.values() if o.get("reference_id")}
    )
    parked: set[str] = set()
    by_order: dict[str, list[tuple[SquareRefund, dict[str, Any], SquareReturn | None]]] = defaultdict(list)
    for refund in refunds:
        return_order = returns.get(refund.order_id or "")
        sale = sales.get(sale_of.get(refund.order_id or "") or "")
        if return_order is None or sale is None:
            parked.add(refund.refund_id)  # its orders are not readable yet (list lag): next cycle
            continue
        record = records.get(str(sale.get("reference_id") or ""))
        if record is None or record.square_order_id != sale["id"]:
            memory.set_verdict(refund.refund_id, None, Verdict.IGNORE)  # a sale not of a Google order
            continue
        try:
            ret: SquareReturn | None = square_return(return_order, sale["id"])
        except RefundDataError as exc:
            _refuse(ctx, memory, refund, record.google_order_id, str(exc))
            continue
        by_order[record.google_order_id].append((refund, sale, ret))
    if not by_order:
        return parked, []
    itemized = {oid for oid, items in by_order.items() if any(ret and ret.itemized for _, _, ret in items)}
    if itemized and not refresh_returns(ctx.ledger, ctx.marketplace, itemized):
        for order_id in itemized:  # pairing needs Google's returns as they are now: next cycle
            parked.update(r.refund_id for r, _, _ in by_order.pop(order_id))
        if not by_order:
            return parked, []
    fresh = read_orders(ctx, sorted(by_order), why="orders refunded in Square")
    if fresh is None:
        return parked | {r.refund_id for items in by_order.values() for r, _, _ in items}, []
    now = ctx.clock()
    ctx.ledger.upsert_orders([OrderSnapshot.of(order, now) for order in fresh])
    in_flight = _in_flight(outbox.pending(Target.GOOGLE, GOOGLE_REFUND_KINDS))
    rules = ctx.settings.refunds.rules()
    to_send: list[IntentRecord] = []
    for order in fresh:
        state = memory.order(order.id)
        minor, units = in_flight.get(order.id, (0, {}))
        context = GoogleRefundContext(
            order=order,
            returns=google_returns_of(ctx.ledger, order.id),
            history=state.history,
            in_flight_minor=minor,
            in_flight_units=units,
        )
        intents: list[Intent] = []
        refused: list[GoogleRefundDecision] = []
        ignored: list[str] = []
        batch = sorted(by_order.pop(order.id), key=lambda item: _when(item[0]))
        decided = {refund.refund_id for refund, _, _ in batch}
        for refund, sale, ret in batch:
            decision = decide_google_refund(refund, ret, sale, context, rules=rules)
            context = context.after(decision)
            state = _remember(state, refund, decision)
            log.info(
                "Square refund decided",
                order=order.id,
                refund=refund.refund_id,
                verdict=str(decision.verdict),
                reason=decision.reason,
            )
            if decision.verdict is Verdict.SEND:
                intents.extend(google_intent(order.id, m.entry()) for m in decision.mutations)
            elif decision.verdict is Verdict.WAIT:
                parked.add(refund.refund_id)
            elif decision.verdict is Verdict.REFUSE:
                refused.append(decision)
            elif decision.verdict is Verdict.IGNORE:
                ignored.append(refund.refund_id)
        with ctx.ledger.transaction():
            to_send.extend(outbox.record(intents))
            for decision in refused:
                _refuse(ctx, memory, None, order.id, decision.reason, refund_id=decision.square_refund_id)
            for event in state.square_events:
                if event.refund_id in decided and event.verdict != Verdict.WAIT:
                    memory.set_verdict(event.refund_id, order.id, event.verdict)
            for refund_id in ignored:
                memory.set_verdict(refund_id, order.id, Verdict.IGNORE)
            memory.save_order(state)
    for items in by_order.values():  # Google did not return the order: ask again next cycle
        parked.update(r.refund_id for r, _, _ in items)
    return parked, to_send


def _remember(
    state: OrderRefundState, refund: SquareRefund, decision: GoogleRefundDecision
) -> OrderRefundState:
    if decision.verdict is Verdict.IGNORE:  # e.g. a parked PENDING refund Square then rejected
        return state.without_event(refund.refund_id)
    return state.with_event(
        SquareRefundEvent(
            refund_id=refund.refund_id,
            verdict=str(decision.verdict),
            amount_minor=refund.amount_minor,
            status=refund.status,
            operation_ids=tuple(m.operation_id for m in decision.mutations),
            returned=decision.returned,
        )
    )


def _refuse(
    ctx: CycleContext,
    memory: RefundMemory,
    refund: SquareRefund | None,
    order_id: str,
    reason: str,
    *,
    refund_id: str = "",
) -> None:
    """A Square refund Google cannot be told of: a failed operation with the reason, never sent."""
    refund_id = refund.refund_id if refund is not None else refund_id
    key = f"refused:sq-refund:{refund_id}"
    entry = {"method": "refund", "orderId": order_id, "operationId": key}
    with ctx.ledger.transaction():
        (record,) = ctx.ledger.add_intents([google_intent(order_id, entry)])
        if record.is_pending:
            message = f"Square refund {refund_id} not reported to Google: {reason}"
            ctx.ledger.record_results(
                [IntentResult(record.id, Outcome.FAILED, error=message, reason="refused")]
            )
        memory.set_verdict(refund_id, order_id, Verdict.REFUSE)
    ctx.result.failed_orders.add(order_id)
    log.warning("Square refund cannot be reported to Google", order=order_id, refund=refund_id, reason=reason)


def _in_flight(pending: Sequence[IntentRecord]) -> dict[str, tuple[int, dict[str, int]]]:
    """Per order, what its pending Google refund mutations will still take (money, units per line)."""
    out: dict[str, tuple[int, dict[str, int]]] = {}
    for record in pending:
        body: Mapping[str, Any] = record.payload.get(record.kind) or {}
        minor, units = out.get(record.order_id, (0, {}))
        for field in ("amountPretax", "amountTax"):
            if body.get(field):
                minor += price_to_minor(body[field])[0]
        if body.get("lineItemId"):
            line = str(body["lineItemId"])
            units[line] = units.get(line, 0) + int(body.get("quantity") or 0)
        out[record.order_id] = (minor, units)
    return out


def _sale_order_id(return_order: Mapping[str, Any]) -> str | None:
    for entry in return_order.get("returns") or ():
        if isinstance(entry, Mapping) and entry.get("source_order_id"):
            return str(entry["source_order_id"])
    return None


def _when(refund: SquareRefund) -> tuple[str, str]:
    return (refund.created_at or "", refund.refund_id)


def _earlier(cursor: Any, by: timedelta) -> str | None:
    if not cursor:
        return None
    try:
        when = datetime.fromisoformat(str(cursor).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when - by).isoformat().replace("+00:00", "Z")
