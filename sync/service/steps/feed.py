"""Step 8: the warehouse's shipments feed: ship the new parcels, deliver the delivered ones,
and remember the rows that could not be used (sync/domain/rejects.py).

Events go in slices of whole orders (two full custombatch batches each), so only one slice of
orders is in memory at a time.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from sync.adapters.rejects_file import write_rejects_file
from sync.domain import planning
from sync.domain import rejects as reject_rules
from sync.domain.feed import RejectKind
from sync.domain.intents import Intent, google_intent
from sync.domain.orders import Order, ShipmentLine
from sync.domain.progress import ShipmentSource, ShipmentState, StoredShipment, matching_shipment
from sync.logs import get_logger
from sync.service.context import CycleContext
from sync.service.feed_input import FeedState, order_slices, read_feed
from sync.service.order_reads import resolve_feed_refs
from sync.service.outbox import Outbox, Settled
from sync.service.results import StepResult

log = get_logger(__name__)


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    state = read_feed(ctx)
    settled = Settled()
    for events in order_slices(state.events, ctx.slice_size):
        part = state.part(events)
        orders, shipped = ship(ctx, part)
        settled.add(outbox.submit(shipped))
        # Anything planned earlier whose ship intent is still pending was resent in step 1.
        settled.add(outbox.submit(deliveries(ctx, part, orders)))
    settle_rejects(ctx, state)
    return StepResult(settled)


def ship(ctx: CycleContext, state: FeedState) -> tuple[dict[str, Order], list[Intent]]:
    """Plan the slice's new parcels (stored as PLANNED); their ship intents, and the slice's orders
    as resolved (for the deliveries)."""
    orders = resolve_feed_refs(ctx, {e.order_ref for e in state.events})
    known = ctx.ledger.known_shipment_ids({o.id for o in orders.values()})
    intents: list[Intent] = []
    planned: list[StoredShipment] = []
    now = ctx.clock()
    for event in state.events:
        order = orders.get(event.order_ref)
        if order is None:
            reason = (
                f"unknown order {event.order_ref!r}: not in the ledger (not polled yet, or a wrong "
                "id); retried every cycle"
            )
            state.reject(event, reason, RejectKind.UNKNOWN_ORDER, retryable=True)
            continue
        seen = known.setdefault(order.id, set())
        outcome = planning.plan_shipment(order, event, seen)
        if outcome is None:
            state.accept(event)  # already applied or planned
            continue
        if isinstance(outcome, planning.PlanProblem):
            state.reject(event, outcome.reason, RejectKind.PLAN, retryable=outcome.retryable)
            continue
        state.accept(event)
        seen.add(outcome.shipment_id)
        orders[event.order_ref] = order.with_shipped(outcome.lines)
        intents.append(google_intent(order.id, outcome.to_batch_entry()))
        planned.append(
            StoredShipment(
                order.id,
                outcome.shipment_id,
                ShipmentSource.FEED,
                outcome.carrier,
                outcome.tracking_id,
                tuple(ShipmentLine(li, q) for li, q in outcome.lines),
                shipped_at=event.shipped_at,
                updated_at=now,
            )
        )
    if planned:
        ctx.ledger.upsert_shipments(planned)
    return orders, intents


def deliveries(ctx: CycleContext, state: FeedState, orders: dict[str, Order]) -> list[Intent]:
    """Deliveries of the slice. ``orders`` are those ``ship`` resolved: their Google snapshot is
    all delivery planning needs; the shipments' states are read fresh from the ledger."""
    delivered_events = [e for e in state.events if e.delivered_at is not None]
    if not delivered_events:
        return []
    shipments = ctx.ledger.shipments_for([o.id for o in orders.values()])
    intents: list[Intent] = []
    for event in delivered_events:
        order = orders.get(event.order_ref)
        if order is None or event.delivered_at is None:
            continue
        record = matching_shipment(shipments.get(order.id, []), event)
        if record is None or record.state != ShipmentState.SHIPPED:
            continue  # not shipped yet (or already delivered): a later cycle picks it up
        plan = planning.plan_delivery(order, record.shipment_id, event.delivered_at)
        if plan is not None:
            intents.append(google_intent(order.id, plan.to_batch_entry()))
    return intents


def settle_rejects(ctx: CycleContext, state: FeedState) -> None:
    """Remember this cycle's rejects in the ledger (domain.rejects): only rows not rejected
    before count as new (exit 1) and write a rejects file, which lists every open one."""
    result = ctx.result
    open_before = {key: r.retryable for key, r in ctx.ledger.open_rejects().items()}
    settled = reject_rules.settle(open_before, state.rejects, state.accepted)
    result.rejects = len(settled.open)
    result.new_rejects = len(settled.new)
    rejects_file = None
    if settled.new:
        stamp = ctx.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"rejects-{stamp}-run{result.run_id:06d}.csv"
        path = write_rejects_file(Path(ctx.settings.shipments.rejects_dir) / name, settled.open)
        rejects_file = result.rejects_file = str(path)
        log.warning(
            "feed rows rejected; correct them in the rejects file and drop it into the feed folder",
            new=len(settled.new),
            open=len(settled.open),
            file=rejects_file,
        )
    for reject in settled.superseded:
        log.info("rejected row superseded by a corrected one", source=reject.source, line=reject.line_no)
    if settled.cleared:
        log.info("feed rejects cleared", count=len(settled.cleared))
    if settled.open or settled.cleared:
        ctx.ledger.record_rejects(
            settled.open,
            run_id=result.run_id,
            cleared=settled.cleared,
            rejects_file=rejects_file,
            at=ctx.clock(),
        )
