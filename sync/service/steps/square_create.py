"""Step 4 (with an order system): every acknowledged Google order becomes exactly one Square order.

The create intent is recorded first under a deterministic idempotency key, so a retry, a rerun or
a ``kill -9`` mid-call can only replay the same CreateOrder, which Square answers with the order
it already made; when ``mark_paid``, an EXTERNAL payment (money taken by Google) pays it so it
shows in the Dashboard and POS (service/square_sender.py). Its id becomes the Google
``merchantOrderId``. A Google offerId ``[square] sku_map`` leaves out maps to the catalog
variation with that SKU; lines that map to none go as ad-hoc lines and are reported (log, cycle
summary, the create intent's ``unmapped_lines``). Orders with units already shipped are kept out
of Square (their Square order would invite the store to ship them again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sync.adapters.square_errors import SquareApiError
from sync.domain import operations, planning
from sync.domain.intents import SQUARE_CREATE, Intent, google_intent, square_intent
from sync.domain.orders import Order
from sync.domain.progress import shipped_units
from sync.domain.records import OrderChanges, OrderRecord
from sync.domain.square_mapping import (
    LOOKUP_OFF,
    MappingError,
    MappingOptions,
    SkuResolution,
    google_to_square_order,
    offers_to_look_up,
    resolve_offer_variations,
    unmapped_lines,
)
from sync.logs import get_logger
from sync.service.context import CycleContext
from sync.service.line_cancellations import line_cancel_intents
from sync.service.outbox import Outbox, Settled
from sync.service.ports import OrderSystem
from sync.service.results import StepResult

log = get_logger(__name__)


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    square = ctx.order_system
    assert square is not None, "a Square step runs only with an order system"
    records = keep_shipped_out(ctx, ctx.ledger.orders_missing_square())
    intents: list[Intent] = []
    if records:  # the location lookup costs a call: only when there is something to create
        resolution = resolve_skus(ctx, square, [r.order_json or {} for r in records])
        options = MappingOptions(
            square.location_id(),
            ctx.settings.square.fulfillment_type,
            ctx.settings.square.sku_map,
            resolution.catalog_ids,
        )
        for record in records:
            intent = create_intent(ctx, record, options, resolution)
            if intent is not None:
                intents.append(intent)
    # Recorded, then sent: only the ones still pending (a rerun re-derives the same keys).
    settled = outbox.submit(intents)
    created = {record.order_id for record, _ in settled.done_of(SQUARE_CREATE)}
    outbox.record(earlier_line_cancellations(ctx, records, settled, created))
    # Every open order whose Square id Google does not carry yet, whatever cycle created it.
    merchant_intents = [
        google_intent(google_order_id, planning.merchant_order_id_entry(google_order_id, square_order_id))
        for google_order_id, square_order_id in ctx.ledger.orders_awaiting_merchant_order_id()
    ]
    settled.add(outbox.submit(merchant_intents))
    return StepResult(settled)


def create_intent(
    ctx: CycleContext, record: OrderRecord, options: MappingOptions, resolution: SkuResolution
) -> Intent | None:
    order_id = record.google_order_id
    try:
        body = google_to_square_order(record.order_json or {}, options)
    except MappingError as exc:
        ctx.result.failed_orders.add(order_id)
        ctx.ledger.record_order_error(order_id, str(exc), ctx.clock())
        log.error("order cannot be mapped to Square", order=order_id, error=str(exc))
        return None
    key = operations.square_idempotency_key(ctx.settings.google.merchant_id, order_id)
    payload: dict[str, Any] = {"order": body}
    ad_hoc = unmapped_lines(record.order_json or {}, options, resolution)
    if ad_hoc:
        # Reported three ways: this log line, the cycle summary, and the order's create intent in
        # the ledger (payload "unmapped_lines").
        payload["unmapped_lines"] = [line.as_dict() for line in ad_hoc]
        ctx.result.square_unmapped_lines += len(ad_hoc)
        log.warning(
            "Google lines not in the Square catalog go as ad-hoc lines (Square keeps no inventory "
            "for them); map them in [square] sku_map or give the variations these SKUs",
            order=order_id,
            lines=payload["unmapped_lines"],
        )
    return square_intent(order_id, SQUARE_CREATE, key, payload)


def resolve_skus(ctx: CycleContext, square: OrderSystem, orders: list[dict[str, Any]]) -> SkuResolution:
    """offerIds ``sku_map`` leaves out -> catalog variations by SKU: one batched search per cycle.
    A search Square may answer later (outage, rate limit) or a refused token stops the Square
    steps like any Square call (the orders are created next cycle, mapped); a search Square
    refuses outright maps nothing."""
    offers = offers_to_look_up(orders, ctx.settings.square.sku_map)
    if not ctx.settings.square.sku_lookup:
        return SkuResolution({}, dict.fromkeys(offers, LOOKUP_OFF))
    if not offers:
        return resolve_offer_variations(offers, {})
    try:
        found = square.find_variations_by_sku(offers)
    except SquareApiError as exc:
        if exc.is_auth:
            log.error(
                "Square refused the catalog search: grant the token ITEMS_READ, or set "
                "[square] sku_lookup = false to send unmapped offers as ad-hoc lines",
                code=exc.code,
            )
        if exc.retryable or exc.is_auth:
            raise
        log.warning(
            "Square catalog search refused; lines go as ad-hoc lines", code=exc.code, detail=exc.detail
        )
        return resolve_offer_variations(offers, None)
    return resolve_offer_variations(offers, {offer: found.get(offer, []) for offer in offers})


def keep_shipped_out(ctx: CycleContext, records: list[OrderRecord]) -> list[OrderRecord]:
    """Orders that already have units shipped (through the feed, before Square was enabled or
    while it was down) are not created in Square: its order would carry an open fulfilment for
    goods already sent, and the store could ship them twice. The reason is recorded on the order
    (reported: orders.csv oms_status not_in_square) and the feed finishes it."""
    if not records:
        return records
    shipments = ctx.ledger.shipments_for([r.google_order_id for r in records])
    keep, skipped = [], {}
    for record in records:
        units = shipped_units(record, shipments.get(record.google_order_id, []))
        if units <= 0:
            keep.append(record)
            continue
        skipped[record.google_order_id] = OrderChanges(
            square_skip_reason=(
                f"{units} unit(s) shipped before the order could be created in Square: kept out of "
                "Square so the store cannot ship them again; the shipments feed finishes it"
            )
        )
    if skipped:
        ctx.ledger.update_orders(skipped)
        ctx.result.square_skipped += len(skipped)
        log.warning(
            "orders already shipped are kept out of Square (no open fulfilment for goods already sent)",
            orders=sorted(skipped)[:20],
            count=len(skipped),
        )
    return keep


def earlier_line_cancellations(
    ctx: CycleContext, records: Sequence[OrderRecord], settled: Settled, created: set[str]
) -> list[Intent]:
    """A Square order is created as Google sold it; units Google canceled before that (while
    Square was down, say) then follow the same path as a later cancellation."""
    square_ids = {
        record.order_id: str(answer.response["square_order_id"])
        for record, answer in settled.done_of(SQUARE_CREATE)
        if answer.response is not None
    }
    earlier = [
        (replace(r, square_order_id=square_ids[r.google_order_id]), Order.from_google(r.order_json))
        for r in records
        if r.google_order_id in created
        and r.google_order_id in square_ids
        and r.order_json is not None
        and any(li.canceled > 0 for li in r.line_items)
    ]
    return line_cancel_intents(ctx, earlier) if earlier else []
