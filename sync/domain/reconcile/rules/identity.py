"""Is the order known by the right names: unacknowledged_past_sla, no_merchant_order_id,
duplicate_merchant_order_id (two Google orders sharing a merchantOrderId, or several OMS orders
claiming one Google order) and merchant_order_id_mismatch."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync.domain.reconcile.align import Alignment, oms_duplicates
from sync.domain.reconcile.collect import BreakCollector
from sync.domain.reconcile.columns import differs, nonempty, severity_where, text

CATEGORIES = (
    "unacknowledged_past_sla",
    "no_merchant_order_id",
    "duplicate_merchant_order_id",
    "merchant_order_id_mismatch",
)


def run(a: Alignment, out: BreakCollector) -> None:
    acked = a.go["acknowledged"].to_numpy()
    _unacknowledged(a, out, acked)
    if a.oo is not None:
        _oms_duplicates(a, out)
    _merchant_ids(a, out, acked)


def _unacknowledged(a: Alignment, out: BreakCollector, acked: np.ndarray) -> None:
    slas = a.slas
    mask = ~a.canceled & ~acked & (a.age > slas.unacknowledged_hours)
    if mask.any():
        out.add(
            a.ids[mask],
            "unacknowledged_past_sla",
            severity_where(a.age[mask] > 2 * slas.unacknowledged_hours, "critical", "high"),
            f"Not acknowledged within {slas.unacknowledged_hours:g} h of being placed: Google may cancel "
            "it; check that the sync runs and acknowledges new orders.",
            a.age[mask],
        )


def _oms_duplicates(a: Alignment, out: BreakCollector) -> None:
    """Several distinct OMS orders for one Google order: risk of shipping twice."""
    positions, counts, listed = oms_duplicates(a)
    if len(positions):
        out.add(
            a.ids.iloc[positions],
            "duplicate_merchant_order_id",
            "critical",
            (
                text(counts) + " OMS orders (" + text(listed) + ") refer to one "
                "Google order: cancel the extra ones before anything ships twice."
            ).to_numpy(),
            a.age[positions],
        )


def _merchant_ids(a: Alignment, out: BreakCollector, acked: np.ndarray) -> None:
    g_mid = a.g_mid
    has_mid = nonempty(g_mid)
    l_mid = a.ledger_merchant_ids()
    mask = ~a.canceled & acked & ~has_mid
    if mask.any():
        hint = pd.Series("", index=range(int(mask.sum())), dtype="str")
        if l_mid is not None:
            known_mid = l_mid[mask].reset_index(drop=True)
            hint = hint.where(
                known_mid == "",
                " Our ledger has " + known_mid + ": the sync resends it while it is pending; if it "
                "stays, see this order's failed_operation.",
            )
        out.add(
            a.ids[mask],
            "no_merchant_order_id",
            "medium",
            (
                "Acknowledged but Google has no merchantOrderId, so support cannot find the order in "
                "the OMS; the sync sets it (see failed_operation if it never arrives)." + hint
            ).to_numpy(),
            a.age[mask],
        )
    dup = has_mid & a.duplicated_merchant_ids()
    if dup.any():
        out.add(
            a.ids[dup],
            "duplicate_merchant_order_id",
            "critical",
            (
                "merchantOrderId " + text(g_mid[dup]) + " is set on more than one Google order: give each "
                "order its own id."
            ).to_numpy(),
            a.age[dup],
        )
    if l_mid is not None:
        mask = a.has_led & has_mid & nonempty(l_mid) & differs(l_mid, g_mid)
        if mask.any():
            out.add(
                a.ids[mask],
                "merchant_order_id_mismatch",
                "medium",
                (
                    "Google has merchantOrderId "
                    + text(g_mid[mask])
                    + " but our ledger set "
                    + text(l_mid[mask])
                    + ": someone changed it outside ordersync, which never overwrites it; find out who, "
                    "and set the right one in Merchant Center."
                ).to_numpy(),
                a.age[mask],
            )
