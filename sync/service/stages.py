"""Keeping each order's stage and line counters in the ledger in step with what Google confirmed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sync.domain.progress import LineCounts, Stage, confirmed_line_counts, stage_of
from sync.domain.records import OrderChanges, OrderRecord
from sync.service.context import CycleContext

NO_CHANGES = OrderChanges()


@dataclass(frozen=True, slots=True)
class Progress:
    """What the stage rule reads of an order (domain.progress.OrderProgress)."""

    stage: Stage
    acknowledged: bool
    merchant_order_id: str | None
    line_items: tuple[LineCounts, ...]


def progress_after(record: OrderRecord, changes: OrderChanges, lines: tuple[LineCounts, ...]) -> Progress:
    """The order as the stage rule will see it once ``changes`` (and these counters) are stored."""
    return Progress(
        changes.stage if changes.stage is not None else record.stage,
        changes.acknowledged if changes.acknowledged is not None else record.acknowledged,
        changes.merchant_order_id if changes.merchant_order_id is not None else record.merchant_order_id,
        lines,
    )


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
        progress = progress_after(stored, confirmed.get(order_id, NO_CHANGES), lines)
        stage = stage_of(progress, shipments.get(order_id, []))
        if stage != progress.stage or lines != stored.line_items:
            updates[order_id] = updates.get(order_id, NO_CHANGES).merged(
                OrderChanges(stage=stage, line_items=lines)
            )
    if updates:
        ctx.ledger.update_orders(updates)  # one statement per change set, not one per order
