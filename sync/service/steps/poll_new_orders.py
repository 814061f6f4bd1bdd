"""Step 3: new orders: list unacknowledged ones page by page, store their snapshots, acknowledge
them, and (without an order system, whose order id becomes it) assign our merchantOrderId."""

from __future__ import annotations

from sync.domain import operations, planning
from sync.domain.intents import Intent, IntentRecord, google_intent
from sync.domain.orders import Order, OrderDataError
from sync.domain.records import OrderSnapshot
from sync.service.context import CycleContext
from sync.service.order_reads import order_data_failure
from sync.service.outbox import Outbox, Settled
from sync.service.results import StepResult


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    settings = ctx.settings.google
    settled = Settled()
    buffer: list[IntentRecord] = []
    now = ctx.clock()
    # Prefetch: the next page's round trip overlaps this page's parsing, ledger writes and sends.
    for page in ctx.marketplace.iter_order_pages(
        acknowledged=False, page_size=settings.page_size, prefetch=True
    ):
        orders: list[Order] = []
        for raw in page:
            try:
                orders.append(Order.from_google(raw, copy_raw=False))  # the page is ours alone
            except OrderDataError as exc:
                order_data_failure(ctx, raw, exc, now)
            else:
                ctx.snapshots.remember(orders[-1])
        ctx.result.orders_seen += len(page)
        ctx.progress("poll", len(page))
        if not orders:
            continue
        ctx.ledger.upsert_orders([OrderSnapshot.of(o, now) for o in orders])
        intents: list[Intent] = []
        for order in orders:
            intents.append(google_intent(order.id, planning.acknowledge_entry(order.id)))
            if ctx.order_system is None and not order.merchant_order_id:
                merchant_order_id = operations.merchant_order_id(
                    settings.merchant_order_id_template, order.id
                )
                intents.append(
                    google_intent(order.id, planning.merchant_order_id_entry(order.id, merchant_order_id))
                )
        buffer += outbox.record(intents)
        if len(buffer) >= ctx.flush_at:
            settled.add(outbox.send(buffer))
            buffer = []
    settled.add(outbox.send(buffer))
    return StepResult(settled)
