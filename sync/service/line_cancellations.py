"""Line items canceled on Google's side, found by reading orders back (shared by the recheck step
and the Square follow step, which re-reads an order before shipping what the store completed).

Google announces nothing when units of a line item are canceled (by the customer, by Google, or
in Merchant Center): only the line's ``quantityCanceled`` moves. What changes when we find it:
the ledger's snapshot and line counters (so planning and stages see the cancellation) and, with
an order system, one ``square.cancel_lines`` intent per order, recorded for the Square
cancellations step to send.
"""

from __future__ import annotations

from typing import Any

from sync.domain import operations
from sync.domain.intents import SQUARE_CANCEL_LINES, Intent, square_intent
from sync.domain.orders import Order
from sync.domain.records import OrderRecord, OrderSnapshot
from sync.logs import get_logger
from sync.service.context import CycleContext
from sync.service.order_reads import read_orders
from sync.service.outbox import Outbox
from sync.service.stages import refresh_stages

log = get_logger(__name__)


def reread_orders(
    ctx: CycleContext, outbox: Outbox, records: dict[str, OrderRecord]
) -> dict[str, OrderRecord] | None:
    """Read these ledger orders from Google; record line cancellations found. Returns the records
    as the ledger now has them, or None when the read failed (nothing is changed then)."""
    fresh = read_orders(ctx, sorted(records), why="open orders")
    if fresh is None:
        return None
    now = ctx.clock()
    changed = [
        (records[order.id], order)
        for order in fresh
        # Whole cancellations are the google_cancellations step's.
        if order.id in records and order.status != "canceled" and _newly_canceled(records[order.id], order)
    ]
    if not changed:
        return records
    ctx.ledger.upsert_orders([OrderSnapshot.of(order, now) for _record, order in changed])
    changed_ids = {record.google_order_id for record, _ in changed}
    refresh_stages(ctx, changed_ids, quantities_changed=changed_ids)
    ctx.result.lines_canceled += len(changed)
    log.info("line items canceled on Google's side", orders=len(changed))
    if ctx.order_system is not None:
        outbox.record(line_cancel_intents(ctx, changed))
    updated = ctx.ledger.get_orders(changed_ids)
    return {key: updated.get(key, record) for key, record in records.items()}


def _newly_canceled(record: OrderRecord, order: Order) -> bool:
    """True when Google counts more canceled units on some line than the ledger does."""
    known = {li.line_item_id: li.canceled for li in record.line_items}
    return any(li.quantity_canceled > known.get(li.id, 0) for li in order.line_items)


def line_cancel_intents(ctx: CycleContext, changed: list[tuple[OrderRecord, Order]]) -> list[Intent]:
    """One intent per order in Square whose lines Google canceled units of since we last looked.

    The intent carries absolute counts (ordered, canceled per line), so applying it twice
    changes nothing; its key names those counts, so a later cancellation on the same order is a
    new intent, which supersedes an older one still pending.
    """
    intents = []
    for record, order in changed:
        if not record.square_order_id:
            continue  # not in Square yet: CreateOrder will read the order as it is now
        lines: list[dict[str, Any]] = [
            {
                "line_item_id": li.id,
                "title": li.title or li.offer_id or li.id,
                "ordered": li.quantity_ordered,
                "canceled": li.quantity_canceled,
            }
            for li in order.line_items
        ]
        key = operations.square_line_cancel_key(
            ctx.settings.google.merchant_id,
            record.google_order_id,
            {li["line_item_id"]: li["canceled"] for li in lines},
        )
        intents.append(
            square_intent(
                record.google_order_id,
                SQUARE_CANCEL_LINES,
                key,
                {"square_order_id": record.square_order_id, "lines": lines},
            )
        )
    return intents
