"""Reading open orders back from Google, to learn of line items canceled there.

Google announces nothing when units of a line item are canceled (by the customer, by Google, or
by someone in Merchant Center): the order stays active and only the line's ``quantityCanceled``
moves. Whole cancellations are found every cycle by listing CANCELED orders (cycle step 4); line
ones need the orders themselves. So every ``[google] recheck_open_orders_minutes`` the cycle reads
its open, acknowledged orders again with custombatch ``get`` (one call per 1,000 orders, none
when nothing is open) and records what Google canceled since. The Square bridge also re-reads an
order before shipping a fulfilment the store just completed, so it never ships canceled units.

What changes: the ledger's snapshot and line quantities (so planning and stages see the
cancellation), and, with Square on, a Square intent per order (square_bridge).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sync.domain.orders import Order
from sync.logs import get_logger

if TYPE_CHECKING:
    from sync.service.cycle import SyncCycle

log = get_logger(__name__)

CHECKED_AT_KEY = "google.open_orders_checked_at"


def recheck_open_orders(cycle: SyncCycle) -> None:
    """Cycle step: re-read open orders when the last check is older than the configured interval."""
    now = cycle.clock()
    interval = cycle.settings.google.recheck_open_orders_minutes
    if not _due(cycle.ledger.get_value(CHECKED_AT_KEY), now, interval):
        return
    # In slices of what one concurrent round of custombatch calls carries: memory stays flat
    # however many orders are open.
    chunk = cycle.settings.google.batch_size * cycle.settings.google.concurrency
    records: dict[str, Any] = {}
    for record in cycle.ledger.iter_orders(batch=chunk, open_only=True):
        if record.acknowledged:
            records[record.google_order_id] = record
        if len(records) >= chunk:
            if reread_orders(cycle, records) is None:
                return  # Google could not be read: try again next cycle
            records = {}
    if records and reread_orders(cycle, records) is None:
        return
    cycle.ledger.set_value(CHECKED_AT_KEY, now.isoformat())


def _due(last: Any, now: datetime, minutes: float) -> bool:
    if not last or minutes <= 0:
        return True
    try:
        checked = datetime.fromisoformat(str(last))
    except ValueError:
        return True  # unreadable: check now and write a good one
    return now - checked >= timedelta(minutes=minutes)


def reread_orders(cycle: SyncCycle, records: dict[str, Any]) -> dict[str, Any] | None:
    """Read these ledger orders from Google; record line cancellations found. Returns the records
    as the ledger now has them, or None when the read failed (nothing is changed then)."""
    from sync.service.cycle import order_row

    fresh = cycle.read_orders(sorted(records), why="open orders")
    if fresh is None:
        return None
    now = cycle.clock()
    changed = [
        (records[order.id], order)
        for order in fresh
        # Whole cancellations are cycle step 4's.
        if order.id in records and order.status != "canceled" and _newly_canceled(records[order.id], order)
    ]
    if not changed:
        return records
    cycle.ledger.upsert_orders([order_row(order, now, record) for record, order in changed])
    changed_ids = {record.google_order_id for record, _ in changed}
    cycle.refresh_stages(changed_ids, quantities_changed=changed_ids)
    cycle.result.lines_canceled += len(changed)
    log.info("line items canceled on Google's side", orders=len(changed))
    if cycle.square is not None:
        cycle.square.google_line_cancellations(cycle, changed)
    updated = cycle.ledger.get_orders(changed_ids)
    return {key: updated.get(key, record) for key, record in records.items()}


def _newly_canceled(record: Any, order: Order) -> bool:
    """True when Google counts more canceled units on some line than the ledger does."""
    known = {li.get("id"): int(li.get("quantity_canceled") or 0) for li in record.line_items or ()}
    return any(li.quantity_canceled > known.get(li.id, 0) for li in order.line_items)
