"""Keeping each order's stage and line counters in the ledger in step with what Google confirmed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from sync.domain.progress import LineCounts, confirmed_line_counts, stage_of
from sync.domain.records import OrderChanges, OrderRecord
from sync.service.context import CycleContext

NO_CHANGES = OrderChanges()


def with_changes(record: OrderRecord, changes: OrderChanges, lines: tuple[LineCounts, ...]) -> OrderRecord:
    """The record as the stage rule will see it once ``changes`` (and these counters) are stored."""
    if changes is NO_CHANGES:
        return replace(record, line_items=lines)
    fields = {
        name: value
        for name in ("acknowledged", "merchant_order_id", "stage")
        if (value := getattr(changes, name)) is not None
    }
    return replace(record, line_items=lines, **fields)


def refresh_stages(
    ctx: CycleContext,
    order_ids: Iterable[str],
    *,
    quantities_changed: set[str],
    confirmed: Mapping[str, OrderChanges] | None = None,
) -> None:
    """Recompute each order's stage, and its line counters where a shipment or delivery was
    confirmed (an acknowledgement or a merchant id leaves the counters as they were).

    ``confirmed``: changes to store on these orders, written in the same ``update_orders`` call and
    counted in the stage as if already stored.
    """
    confirmed = confirmed or {}
    loaded = ctx.ledger.get_orders_light(order_ids)
    shipments = ctx.ledger.shipments_for(list(loaded))
    updates: dict[str, OrderChanges] = dict(confirmed)
    for order_id, (stored, text) in loaded.items():
        if order_id in quantities_changed:
            snapshot = ctx.snapshots.from_text(order_id, text)
            lines = confirmed_line_counts(snapshot, shipments.get(order_id, []))
        else:
            lines = stored.line_items
        record = with_changes(stored, confirmed.get(order_id, NO_CHANGES), lines)
        stage = stage_of(record, shipments.get(order_id, []))
        if stage != record.stage or lines != stored.line_items:
            updates[order_id] = updates.get(order_id, NO_CHANGES).merged(
                OrderChanges(stage=stage, line_items=lines)
            )
    if updates:
        ctx.ledger.update_orders(updates)  # one statement per change set, not one per order
