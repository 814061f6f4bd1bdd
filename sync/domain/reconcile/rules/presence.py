"""Is the order where it should be: missing_in_google, missing_in_oms (and the pending_sync of an
order placed after the last cycle started)."""

from __future__ import annotations

import numpy as np

from sync.domain.reconcile.align import Alignment
from sync.domain.reconcile.collect import BreakCollector
from sync.domain.reconcile.columns import hours_since, iso_utc, later_than, severity_where, text

CATEGORIES = ("missing_in_oms", "missing_in_google", "pending_sync")


def run(a: Alignment, out: BreakCollector) -> None:
    _missing_in_google(a, out)
    _missing_in_oms(a, out)


def _missing_in_google(a: Alignment, out: BreakCollector) -> None:
    if a.lo is not None and len(a.led_not_in_google):
        out.add(
            a.lo.at("google_order_id", a.led_not_in_google),
            "missing_in_google",
            "high",
            "Our ledger has this order but Google did not return it: check the order in "
            "Merchant Center (deleted test order, other account?) before acting on it.",
            np.full(len(a.led_not_in_google), np.nan),
        )
    if a.oo is not None and len(a.oms_not_in_google):
        stray = a.oms_not_in_google
        out.add(
            a.stray_refs,
            "missing_in_google",
            "high",
            "OMS order " + text(a.oo.at("oms_order_id", stray)) + " refers to this Google order, which "
            "Google did not return: check the reference, or cancel the OMS order if it is not real.",
            hours_since(a.now, a.oo.at("created_at", stray)),
        )


def _missing_in_oms(a: Alignment, out: BreakCollector) -> None:
    if a.om is None:
        return
    shipped_any = a.sums["qty_shipped"] > 0
    mask = a.live & ~a.has_oms & (a.oms_complete | shipped_any)
    if a.oms_complete:
        mask &= ~a.kept_out()
    # A new order placed after the last cycle started: the next cycle creates it in the OMS.
    if a.oms_complete and a.lg is not None:
        newer = mask & ~a.has_led & later_than(a.placed_at, a.cycle_at)
        if newer.any():
            out.add(
                a.ids[newer],
                "pending_sync",
                "low",
                (
                    "Placed on Google at " + text(iso_utc(a.placed_at[newer])) + ", after the last sync "
                    "cycle started: the next cycle acknowledges it and creates it in the OMS; nothing to "
                    "do unless it is still here after that."
                ).to_numpy(),
                a.age[newer],
            )
            mask &= ~newer
    if mask.any():
        why = (
            "Google order is not in the OMS: the sync creates it there (the same order, never a "
            "second one) and retries every cycle; if it stays, see this order's failed_operation "
            "and the Square step in the run log. Do not create it by hand: that would be a duplicate."
            if a.oms_complete
            else "Google shows items shipped but ordersync took no shipment of this order from the "
            "shipments feed: if the warehouse shipped it, check that its export has the rows; if it "
            "was shipped in Merchant Center, record it in the feed so both views agree."
        )
        out.add(
            a.ids[mask],
            "missing_in_oms",
            severity_where(a.age[mask] > a.slas.ship_hours, "critical", "high"),
            why,
            a.age[mask],
        )
