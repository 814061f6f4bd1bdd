"""Square orders for Google's live channels: what changed since the last cycle, read as
``SquareOrder`` records with their refunds and return orders.

One SearchOrders walk per cycle (updated_at since a cursor in the ledger) serves both channels;
the first one reaches back ``lookback_days`` (the larger of the enabled channels'), so enabling a
channel on a shop with years of orders does not report all of them.
The cursor remembers the newest ``updated_at`` and the (order, version)s seen at it, because
Square's range is inclusive: an unchanged order is not read again, so an idle cycle costs that one
search. A refund shows as a new *return order* naming its sale order (Square may or may not touch
the sale order itself), so a changed return order brings its sale order in; a UCP order with a
refund still PENDING is read again each cycle until the refund is final.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sync.domain.refunds.records import tender_payment_ids
from sync.domain.square_records import SquareRefund
from sync.domain.ucp.square_order import SquareOrder
from sync.service.ports import LedgerPort, SquareOrderReads

CURSOR_KEY = "live.square_cursor"
PENDING_REFUNDS_KEY = "ucp.pending_refunds"  # UCP orders with a refund not final yet


@dataclass
class Changes:
    """What one walk found: sale orders by id (raw Square dicts), and the cursor to save once
    their work is recorded."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    cursor: dict[str, Any] | None = None


def read_changes(square: SquareOrderReads, ledger: LedgerPort, *, start: datetime | None = None) -> Changes:
    """``start``: where the very first walk begins (None: Square's whole history); afterwards
    the saved cursor decides."""
    saved = ledger.get_value(CURSOR_KEY) or {}
    since = saved.get("at") if isinstance(saved, Mapping) else None
    seen = {tuple(pair) for pair in saved.get("seen", [])} if since else set()
    if since is None and start is not None:
        since = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    newest: str | None = since
    at_newest: set[tuple[str, int]] = set(seen)
    changes = Changes()
    sale_ids: set[str] = set()
    for order in square.iter_orders_updated_since(since, location_ids=[square.location_id()]):
        stamp = str(order.get("updated_at") or "")
        version = (str(order.get("id") or ""), int(order.get("version") or 0))
        if stamp == since and version in seen:
            continue  # read last cycle, unchanged since
        if newest is None or stamp > newest:
            newest, at_newest = stamp, set()
        if stamp == newest:
            at_newest.add(version)
        returns = order.get("returns") or []
        if returns:  # a return order: a refund of the sale order(s) it names
            sale_ids.update(str(r["source_order_id"]) for r in returns if r.get("source_order_id"))
        else:
            changes.orders[version[0]] = order
    sale_ids.update(str(i) for i in ledger.get_value(PENDING_REFUNDS_KEY) or [])
    missing = sorted(sale_ids - set(changes.orders))
    if missing:
        for order in square.retrieve_orders(missing):
            changes.orders[str(order["id"])] = order
    if newest is not None:
        changes.cursor = {"at": newest, "seen": sorted([list(v) for v in at_newest])}
    return changes


def add_orders(square: SquareOrderReads, changes: Changes, order_ids: set[str]) -> None:
    """Bring in orders that did not change in Square but have news elsewhere (delivery scans)."""
    missing = sorted(order_ids - set(changes.orders))
    if missing:
        for order in square.retrieve_orders(missing):
            changes.orders[str(order["id"])] = order


def save_cursor(ledger: LedgerPort, changes: Changes) -> None:
    if changes.cursor is not None:
        ledger.set_value(CURSOR_KEY, changes.cursor)


def refund_dict(refund: SquareRefund) -> dict[str, Any]:
    """A PaymentRefund as ``SquareOrder.from_square`` reads it."""
    return {
        "id": refund.refund_id,
        "status": refund.status,
        "amount_money": {"amount": refund.amount_minor, "currency": refund.currency},
        "created_at": refund.created_at,
        "reason": refund.reason or "",
        "order_id": refund.order_id,
    }


def with_refunds(
    square: SquareOrderReads, order: Mapping[str, Any], deliveries: Mapping[str, datetime] | None = None
) -> SquareOrder:
    """The order with every refund of its payments and the return orders they made (a payment
    read per tender; refunds and return orders only when there are any); ``deliveries``:
    fulfilment uid -> delivered at, from delivery scans."""
    refunds: list[SquareRefund] = []
    for payment_id in tender_payment_ids(order):
        payment = square.get_payment(payment_id)
        refunds.extend(square.get_payment_refund(refund_id) for refund_id in payment.refund_ids)
    return_ids = sorted({r.order_id for r in refunds if r.order_id})
    return_orders: Sequence[dict[str, Any]] = square.retrieve_orders(return_ids) if return_ids else []
    return SquareOrder.from_square(
        order, refunds=[refund_dict(r) for r in refunds], return_orders=return_orders, deliveries=deliveries
    )
