"""Is the order moving on time: stuck_past_ship_sla, shipped_not_delivered_past_sla."""

from __future__ import annotations

from sync.domain.reconcile.align import Alignment
from sync.domain.reconcile.collect import BreakCollector
from sync.domain.reconcile.columns import hours_since, text

CATEGORIES = ("stuck_past_ship_sla", "shipped_not_delivered_past_sla")


def run(a: Alignment, out: BreakCollector) -> None:
    _stuck(a, out)
    _not_delivered(a, out)


def _stuck(a: Alignment, out: BreakCollector) -> None:
    slas, sums = a.slas, a.sums
    acked = a.go["acknowledged"].to_numpy()
    pending = sums["qty_ordered"] - sums["qty_shipped"] - sums["qty_canceled"]
    started = ~a.status.isin(["inProgress"]).to_numpy()
    mask = a.live & acked & started & (pending > 0) & (a.age > slas.ship_hours)
    if mask.any():
        detail = (
            text(pending[mask]) + f" item(s) still unshipped {slas.ship_hours:g} h after the order was "
            "placed: ship or cancel them (Google penalises late shipping)."
        )
        out.add(a.ids[mask], "stuck_past_ship_sla", "high", detail.to_numpy(), a.age[mask])


def _not_delivered(a: Alignment, out: BreakCollector) -> None:
    slas, sums = a.slas, a.sums
    open_since = a.go["open_shipment_since"]
    ship_age = hours_since(a.now, open_since.where(open_since.notna(), a.placed_at))
    in_transit = sums["qty_shipped"] - sums["qty_delivered"] - sums["qty_returned"]
    mask = a.live & (in_transit > 0) & (ship_age > slas.delivery_hours)
    if mask.any():
        detail = (
            text(in_transit[mask]) + f" item(s) shipped more than {slas.delivery_hours:g} h ago and not "
            "marked delivered: check tracking with the carrier, then mark delivered or lost."
        )
        out.add(a.ids[mask], "shipped_not_delivered_past_sla", "medium", detail.to_numpy(), ship_age[mask])
