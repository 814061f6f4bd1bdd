"""Step 2: every ``[google] recheck_open_orders_minutes`` read the open, acknowledged orders back
from Google (one custombatch ``get`` per 1,000 orders, none when nothing is open) to find line
items canceled there (service/line_cancellations.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sync.domain.records import OrderRecord
from sync.service.context import CycleContext
from sync.service.line_cancellations import reread_orders
from sync.service.outbox import Outbox
from sync.service.results import StepResult

CHECKED_AT_KEY = "google.open_orders_checked_at"


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    now = ctx.clock()
    interval = ctx.settings.google.recheck_open_orders_minutes
    if not due(ctx.ledger.get_value(CHECKED_AT_KEY), now, interval):
        return StepResult()
    # In slices of what one concurrent round of custombatch calls carries: memory stays flat
    # however many orders are open.
    chunk = ctx.flush_at
    records: dict[str, OrderRecord] = {}
    for record in ctx.ledger.iter_orders(batch=chunk, open_only=True):
        if record.acknowledged:
            records[record.google_order_id] = record
        if len(records) >= chunk:
            if reread_orders(ctx, outbox, records) is None:
                return StepResult()  # Google could not be read: try again next cycle
            records = {}
    if records and reread_orders(ctx, outbox, records) is None:
        return StepResult()
    ctx.ledger.set_value(CHECKED_AT_KEY, now.isoformat())
    return StepResult()


def due(last: Any, now: datetime, minutes: float) -> bool:
    if not last or minutes <= 0:
        return True
    try:
        checked = datetime.fromisoformat(str(last))
    except ValueError:
        return True  # unreadable: check now and write a good one
    return now - checked >= timedelta(minutes=minutes)
