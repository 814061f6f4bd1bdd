"""Step 7 (with an order system and a live Google channel enabled): Square orders reach Google's
live channels — UCP order webhooks and Merchant API order tracking signals.

Square orders changed since the last cycle (service/live_orders.py) are sorted by channel:

* **UCP orders** (``metadata[checkout_id_metadata_key]``): every lifecycle event not recorded yet
  becomes a push intent — created when first seen, shipped per parcel, delivered, refund/return
  adjustments, cancellation — carrying its ``Webhook-Id``, monotonic ``Webhook-Timestamp`` and
  exact body bytes (domain/ucp/pushes.py, domain/ucp/intents.py). The order's recorded intents
  are its history, so nothing is ever pushed twice and an unchanged order yields nothing.
* **web-shop orders** (a SHIPMENT fulfilment, not a UCP order, not a Google Content API order of
  ours): one signal once completely shipped (domain/order_tracking.py), keyed
  ``ordertracking:<order id>``: recording it again returns the stored intent, so never twice.

Intents are recorded, then the cursor is saved, then every pending intent of both channels is sent
(this cycle's and those an earlier cycle left: 5xx, timeouts, lost answers, a crash). A Square
order that cannot be expressed (no tracking URL for an unknown carrier, fractional quantities)
fails alone, with the reason in the log and the run's failed orders; it is looked at again once
it changes in Square.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sync.config import live_lookback_days
from sync.domain.intents import Intent, Target
from sync.domain.operations import tracking_key
from sync.domain.order_tracking import TrackingConfig, due_signal, signal_intent
from sync.domain.ucp.deliveries import Scans, delivery_scans, due_deliveries, shipped_parcels
from sync.domain.ucp.entity import UcpMappingError, UcpOrderConfig, is_ucp_order
from sync.domain.ucp.intents import StoredPushError, push_history, push_intent
from sync.domain.ucp.pushes import due_pushes
from sync.domain.ucp.square_order import SquareOrder, SquareOrderError
from sync.logs import get_logger
from sync.service.context import CycleContext, LiveChannels
from sync.service.live_orders import (
    PENDING_REFUNDS_KEY,
    Changes,
    add_orders,
    read_changes,
    save_cursor,
    with_refunds,
)
from sync.service.outbox import Outbox, Settled
from sync.service.results import StepResult

log = get_logger(__name__)


def ucp_config(ctx: CycleContext) -> UcpOrderConfig:
    ucp = ctx.settings.ucp
    return UcpOrderConfig(ucp.permalink_template, ucp.checkout_id_metadata_key)


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    live = ctx.live
    if live is None:
        return StepResult()
    changes = read_changes(live.square, ctx.ledger, start=first_walk_start(ctx))
    scans = delivered_parcels(ctx, live, changes)
    config = ucp_config(ctx)
    intents: list[Intent] = []
    web: list[SquareOrder] = []
    for order_id, raw in changes.orders.items():
        try:
            order = SquareOrder.from_square(raw)
        except SquareOrderError as exc:
            refuse(ctx, order_id, exc)
            continue
        if is_ucp_order(order, config):
            if live.ucp is not None:
                intents.extend(ucp_pushes(ctx, live, raw, scans))
        elif live.tracking is not None and any(f.type == "SHIPMENT" for f in order.fulfilments):
            web.append(order)
    if web:
        intents.extend(tracking_signals(ctx, web, config))
    outbox.record(intents)
    save_cursor(ctx.ledger, changes)
    settled = Settled()
    for target in (Target.UCP, Target.ORDER_TRACKING):
        if target in outbox.targets:
            pending = outbox.pending(target)
            if pending:
                settled.add(outbox.send(pending))
    return StepResult(settled)


def first_walk_start(ctx: CycleContext) -> datetime | None:
    """How far back the first cycle reads Square (config.live_lookback_days; None: the whole
    history)."""
    days = live_lookback_days(ctx.settings)
    return ctx.clock() - timedelta(days=days) if days else None


def delivered_parcels(ctx: CycleContext, live: LiveChannels, changes: Changes) -> Scans:
    """The delivery scans; a UCP order with a scanned parcel not yet pushed as delivered is read
    from Square although it did not change there (a COMPLETED order never changes again)."""
    if live.ucp is None or live.deliveries is None:
        return {}
    scans = delivery_scans(live.deliveries.read())
    news: set[str] = set()
    for order_id in sorted({order for order, _ in scans} - set(changes.orders)):
        records = [r for r in ctx.ledger.intents_for_order(order_id) if r.target == Target.UCP]
        if not records:
            continue  # not a UCP order ordersync reported (or not yet: it comes with its changes)
        try:
            history = push_history(records)
            due = due_deliveries(order_id, scans, shipped_parcels(records), history.pushed)
        except StoredPushError as exc:
            refuse(ctx, order_id, exc)
            continue
        if due:
            news.add(order_id)
    add_orders(live.square, changes, news)
    return scans


def ucp_pushes(ctx: CycleContext, live: LiveChannels, raw: dict[str, Any], scans: Scans) -> list[Intent]:
    """The push intents still due for one UCP order (none when nothing new happened)."""
    order_id = str(raw.get("id"))
    pending_refunds = set(ctx.ledger.get_value(PENDING_REFUNDS_KEY) or [])
    deliveries = scanned_deliveries(order_id, raw, scans)
    try:
        order = with_refunds(live.square, raw, deliveries)
        history = push_history(ctx.ledger.intents_for_order(order.id))
        pushes = due_pushes(order, history, ucp_config(ctx))
    except (SquareOrderError, UcpMappingError, StoredPushError) as exc:
        refuse(ctx, order_id, exc)
        return []
    waiting = any(r.status == "PENDING" for r in order.refunds)
    if waiting != (order_id in pending_refunds):
        ctx.ledger.set_value(
            PENDING_REFUNDS_KEY,
            sorted(pending_refunds | {order_id} if waiting else pending_refunds - {order_id}),
        )
    return [push_intent(p) for p in pushes]


def scanned_deliveries(order_id: str, raw: dict[str, Any], scans: Scans) -> dict[str, datetime]:
    """fulfilment uid -> delivered at, for the order's parcels a delivery scan names."""
    found: dict[str, datetime] = {}
    for fulfilment in raw.get("fulfillments") or []:
        tracking = tracking_key(str((fulfilment.get("shipment_details") or {}).get("tracking_number") or ""))
        at = scans.get((order_id, tracking)) if tracking else None
        if at is not None and fulfilment.get("uid"):
            found[str(fulfilment["uid"])] = at
    return found


def tracking_signals(ctx: CycleContext, orders: list[SquareOrder], config: UcpOrderConfig) -> list[Intent]:
    """One signal per completely shipped web-shop order. A Square order made for a Google
    Content API order names that order in ``reference_id``, which the ledger knows."""
    refs = {o.reference_id for o in orders if o.reference_id}
    ours = set(ctx.ledger.get_orders(refs)) if refs else set()
    settings = ctx.settings.order_tracking
    tracking = TrackingConfig(
        settings.origin_postal_code, settings.origin_region_code, settings.product_id_template
    )
    intents = []
    for order in orders:
        signal = due_signal(
            order,
            sent=frozenset(),  # recording an existing key returns the stored intent: never twice
            config=tracking,
            is_content_api_order=lambda o: o.reference_id in ours,
            ucp=config,
        )
        if signal is not None:
            intents.append(signal_intent(signal))
    return intents


def refuse(ctx: CycleContext, order_id: str, exc: Exception) -> None:
    ctx.result.failed_orders.add(order_id)
    log.error("Square order not reported to Google", square_order=order_id, reason=str(exc))
