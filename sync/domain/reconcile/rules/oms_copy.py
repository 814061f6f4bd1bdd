"""Does the OMS's copy of the order agree with Google's: amount_mismatch, status_mismatch (and the
pending_sync of a cancellation after the last cycle started), tracking_mismatch."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync.domain.reconcile.align import Alignment
from sync.domain.reconcile.collect import BreakCollector
from sync.domain.reconcile.columns import differs, format_minor, later_than, nonempty, text

CATEGORIES = ("amount_mismatch", "status_mismatch", "tracking_mismatch", "pending_sync")

# (which orders, severity or "pending", what to say), in the order they are checked.
_STATUS_RULES = (
    (
        "canceled_lately_open",
        "pending",
        "Canceled on Google after the last sync cycle started: pending sync, the next cycle "
        "cancels the OMS order; nothing to do unless it is still here after that.",
    ),
    (
        "canceled_open",
        "critical",
        "Canceled on Google but still open in the OMS: the sync cancels it there every cycle; "
        "if it stays open, see this order's failed_operation and cancel it in the OMS so it is "
        "not shipped.",
    ),
    (
        "canceled_moved",
        "critical",
        "Canceled on Google but the OMS shipped it: contact the carrier or the customer.",
    ),
    (
        "live_canceled_in_oms",
        "critical",
        "Canceled in the OMS but live on Google: cancel it on Google (the customer is waiting).",
    ),
    (
        "early_moved",
        "high",
        "The OMS shipped it but Google still shows it unshipped: the shipment was not reported; "
        "see failed_operation or rerun the sync.",
    ),
    (
        "draft",
        "high",
        "The OMS order is still DRAFT, so it cannot be paid or fulfilled: open it in the OMS.",
    ),
)


def oms_amounts(a: Alignment) -> pd.Series:
    """The OMS total of each Google order's OMS order (NA: none, or the OMS has no amounts)."""
    if a.oo is None:  # a Series as on the OMS path (the callers use .notna()), not a bare array
        return pd.Series(np.zeros(a.n, dtype="int64"), dtype="Int64")
    return a.remember("amount_oms", lambda: a.oms("amount_minor").where(a.has_oms, pd.NA).astype("Int64"))


def oms_statuses(a: Alignment) -> pd.Series:
    """The OMS status of each Google order's OMS order ("" where it has none)."""
    if a.oo is None:
        return pd.Series(pd.Categorical.from_codes(np.zeros(a.n, dtype=np.int8), categories=pd.Index([""])))
    return a.remember(
        "oms_status", lambda: a.oms("oms_status").astype("str").where(a.has_oms, "").astype("str")
    )


def run(a: Alignment, out: BreakCollector) -> None:
    if a.oo is None:
        return
    _amounts(a, out)
    _statuses(a, out)
    _tracking(a, out)


def _amounts(a: Alignment, out: BreakCollector) -> None:
    amount_oms = oms_amounts(a)
    o_cur = a.oms("currency").astype("str")
    known_amt = amount_oms.notna().to_numpy()
    a_oms = amount_oms.to_numpy(dtype="int64", na_value=0)
    currency, amount_g = a.currency, a.amount_g
    other_cur = nonempty(o_cur) & differs(o_cur, currency)
    # After a line cancellation the OMS either keeps the order as sold (a paid Square order
    # cannot change its lines) or reduces it: Google's gross or its net amount both match.
    net_g = a.go["net_amount_minor"].to_numpy(dtype="int64", na_value=-1)
    reduced = (a.sums["qty_canceled"] > 0) & (net_g >= 0) & (a_oms == net_g)
    mask = a.has_oms & known_amt & (((a_oms != amount_g) & ~reduced) | other_cur)
    if not mask.any():
        return
    gtxt = format_minor(pd.Series(amount_g[mask]), currency[mask].reset_index(drop=True))
    otxt = format_minor(pd.Series(a_oms[mask]), o_cur[mask].reset_index(drop=True))
    delta = format_minor(pd.Series(a_oms[mask] - amount_g[mask]), currency[mask].reset_index(drop=True))
    cur_g, cur_o = text(currency[mask]), text(o_cur[mask])
    detail = (
        "Google total "
        + gtxt
        + " "
        + cur_g
        + ", OMS total "
        + otxt
        + " "
        + cur_o
        + pd.Series(np.where(other_cur[mask], " (different currency)", ""))
        + " (OMS minus Google: "
        + delta
        + "): check prices, tax, shipping and promotions "
        "in the OMS order."
    )
    out.add(a.ids[mask], "amount_mismatch", "high", detail.to_numpy(), a.age[mask])


def _statuses(a: Alignment, out: BreakCollector) -> None:
    oms_status = oms_statuses(a)

    def ost(*values: str) -> np.ndarray:
        return oms_status.isin(values).to_numpy()

    canceled = a.canceled
    moved = ost("completed", "shipped", "partially_shipped", "delivered")
    early = a.status.isin(["inProgress", "pendingShipment"]).to_numpy()
    # Canceled on Google after the last cycle started: that cycle could not know yet.
    canceled_lately = canceled & later_than(a.canceled_at, a.cycle_at)
    open_or_draft = ost("open", "draft")
    masks = {
        "canceled_lately_open": canceled_lately & open_or_draft,
        "canceled_open": canceled & ~canceled_lately & open_or_draft,
        "canceled_moved": canceled & moved,
        "live_canceled_in_oms": ~canceled & ost("canceled"),
        "early_moved": early & moved,
        "draft": ~canceled & ost("draft"),
    }
    for name, sev, says in _STATUS_RULES:
        mask = masks[name] & a.has_oms
        if mask.any():
            detail = "Google " + text(a.status[mask]) + ", OMS " + text(oms_status[mask]) + ": " + says
            category, severity = ("pending_sync", "low") if sev == "pending" else ("status_mismatch", sev)
            out.add(a.ids[mask], category, severity, detail.to_numpy(), a.age[mask])


def _tracking(a: Alignment, out: BreakCollector) -> None:
    g_trk = a.go["tracking_ids"]
    o_trk = a.oms("tracking_ids")
    mask = a.has_oms & nonempty(g_trk) & nonempty(o_trk) & differs(g_trk, o_trk)
    if not mask.any():
        return
    from_square = (a.oms("source") == "square").to_numpy()[mask]
    advice = np.where(
        from_square,
        ": the sync sends Square's tracking to Google when the fulfilment changes; if this stays, "
        "see this order's failed_operation, and check with the carrier which id is right.",
        ": a corrected tracking id in the feed is a new parcel to ordersync, so check with the "
        "carrier which id is right and correct that parcel's shipment in Merchant Center.",
    )
    detail = "Google has tracking " + text(g_trk[mask]) + ", OMS has " + text(o_trk[mask]) + text(advice)
    out.add(a.ids[mask], "tracking_mismatch", "medium", detail.to_numpy(), a.age[mask])
