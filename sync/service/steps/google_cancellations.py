"""Step 7: orders canceled on Google's side (by the customer or Google): list CANCELED orders
placed since the oldest open one (one list call while any order is open), mark ours canceled,
and, with an order system, cancel their Square orders (never a second order)."""

from __future__ import annotations

from datetime import UTC

from sync.domain.intents import SQUARE_CANCEL, Intent, square_intent
from sync.domain.orders import Order, OrderDataError
from sync.domain.progress import Stage
from sync.domain.records import OrderChanges, OrderSnapshot
from sync.logs import get_logger
from sync.service.context import CycleContext
from sync.service.order_reads import order_data_failure
from sync.service.outbox import Outbox
from sync.service.results import StepResult

log = get_logger(__name__)


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    oldest = ctx.ledger.oldest_open_placed_at()
    if oldest is None:
        return StepResult()
    now = ctx.clock()
    canceled: list[Order] = []
    for page in ctx.marketplace.iter_order_pages(
        statuses=["CANCELED"],
        placed_date_start=oldest.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        page_size=ctx.settings.google.page_size,
    ):
        ids = [o["id"] for o in page if "id" in o]
        known = ctx.ledger.get_orders(ids)
        for raw in page:
            record = known.get(raw.get("id", ""))
            if record is None or record.stage == Stage.CANCELED:
                continue
            try:
                canceled.append(Order.from_google(raw))
            except OrderDataError as exc:
                order_data_failure(ctx, raw, exc, now)
    if not canceled:
        return StepResult()
    ctx.ledger.upsert_orders([OrderSnapshot.of(o, now) for o in canceled])
    ctx.ledger.update_orders({o.id: OrderChanges(stage=Stage.CANCELED, last_synced_at=now) for o in canceled})
    ctx.result.canceled += len(canceled)
    log.info("orders canceled on Google's side", count=len(canceled))
    if ctx.order_system is None:
        return StepResult()
    records = ctx.ledger.get_orders(o.id for o in canceled)
    cancel_square: list[Intent] = [
        square_intent(
            r.google_order_id,
            SQUARE_CANCEL,
            f"cancel:{r.square_order_id}",
            {"square_order_id": r.square_order_id},
        )
        for r in records.values()
        if r.square_order_id
    ]
    return StepResult(outbox.submit(cancel_square))
