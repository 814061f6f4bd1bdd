"""Reads several steps share: orders read back from Google, orders refreshed while inProgress,
feed order refs resolved to the orders as we know them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sync.adapters.google_errors import GoogleApiError, entry_error
from sync.domain.orders import Order, OrderDataError
from sync.domain.progress import StoredShipment, with_ledger_shipments
from sync.domain.records import OrderRecord, OrderSnapshot
from sync.logs import get_logger
from sync.service.context import CycleContext
from sync.service.outages import google_outage

log = get_logger(__name__)


def order_data_failure(ctx: CycleContext, raw: Mapping[str, Any], exc: OrderDataError, now: datetime) -> None:
    """A malformed order from Google: reported (failed), noted on the order when it has an id."""
    order_id = str(raw.get("id") or "<no id>")
    ctx.result.failed_orders.add(order_id)
    log.error("order from Google is malformed; skipped this cycle", order=order_id, error=str(exc))
    if raw.get("id"):
        ctx.ledger.record_order_error(order_id, str(exc), now)


def read_orders(ctx: CycleContext, order_ids: Sequence[str], *, why: str) -> list[Order] | None:
    """The orders as Google has them now, by custombatch ``get`` (one call per 1,000). Orders
    Google does not return are left out (their own steps report them), malformed ones are
    recorded as failed; None when the read itself failed (retried next cycle)."""
    google = ctx.marketplace
    try:
        responses = google.custombatch([{"method": "get", "orderId": oid} for oid in order_ids])
    except GoogleApiError as exc:
        log.warning("could not read orders from Google", which=why, error=str(exc), orders=len(order_ids))
        ctx.result.outage(google_outage(google.base_url, exc, google.merchant_id))
        return None
    fresh: list[Order] = []
    for response in responses:
        raw = response.get("order")
        if entry_error(response) is not None or not raw:
            continue
        try:
            fresh.append(Order.from_google(raw))
        except OrderDataError as exc:
            order_data_failure(ctx, raw, exc, ctx.clock())
    return fresh


def refresh_unreleased(ctx: CycleContext, records: dict[str, OrderRecord]) -> dict[str, OrderRecord]:
    """Orders we last saw inProgress may have been released since: read them again, in batches.

    Only they can be stale in a way that blocks shipping; the refresh costs one custombatch
    call per 1,000 such orders, and none when there are none.
    """
    stale = sorted({r.google_order_id for r in records.values() if r.status == "inProgress"})
    if not stale:
        return records
    fresh = read_orders(ctx, stale, why="orders last seen inProgress")
    if not fresh:
        return records
    ctx.ledger.upsert_orders([OrderSnapshot.of(o, ctx.clock()) for o in fresh])
    updated = ctx.ledger.get_orders(o.id for o in fresh)
    return {key: updated.get(r.google_order_id, r) for key, r in records.items()}


def order_from_record(record: OrderRecord, snapshot: Order, shipments: Sequence[StoredShipment]) -> Order:
    """The order as we know it now: Google's last snapshot, our merchant id, our shipments since."""
    if record.merchant_order_id and snapshot.merchant_order_id != record.merchant_order_id:
        snapshot = replace(snapshot, merchant_order_id=record.merchant_order_id)
    return with_ledger_shipments(snapshot, shipments)


def resolve_feed_refs(ctx: CycleContext, refs: set[str]) -> dict[str, Order]:
    """Feed order refs (Google order id or our merchantOrderId) -> the order as we know it."""
    # Light read: the snapshot's JSON text is decoded only when the parse cache lacks it.
    light = ctx.ledger.get_orders_light(refs)
    texts = {order_id: text for order_id, (_record, text) in light.items()}
    records = refresh_unreleased(ctx, {order_id: record for order_id, (record, _t) in light.items()})
    missing = refs - set(records)
    by_merchant_id = (
        refresh_unreleased(ctx, ctx.ledger.find_by_merchant_order_ids(missing)) if missing else {}
    )
    resolved: dict[str, Order] = {}
    shipments = ctx.ledger.shipments_for(
        [r.google_order_id for r in (*records.values(), *by_merchant_id.values())]
    )
    for ref, record in (*records.items(), *by_merchant_id.items()):
        if record.order_json is not None:  # a full record (re-read or found by merchant id)
            snapshot = ctx.snapshots.parsed(record.order_json)
        else:
            snapshot = ctx.snapshots.from_text(record.google_order_id, texts.get(record.google_order_id))
        resolved[ref] = order_from_record(record, snapshot, shipments.get(record.google_order_id, []))
    return resolved
