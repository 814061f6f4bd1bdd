"""Has the money gone back: refund_mismatch (Google and the OMS recorded different refunds),
return_not_refunded_past_sla (units the customer returned on Google, not refunded in time).

For a Google order Google charged the customer and refunds them; the OMS (Square, an EXTERNAL
payment) records the same refund as bookkeeping. So the two totals must agree to the minor unit
(a tolerance of 0), and a return is refunded when Google's refunds cover what the returned units
are worth. Google's refunds of canceled units count towards that too: v2 data does not tie a
refund to a line, so an order with both may be reported late, never falsely. An OMS order
reduced to Google's net amount after a cancellation (an unpaid Square order drops the canceled
units) never charged them, so it is expected to have refunded that much less.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync.domain.reconcile.align import Alignment
from sync.domain.reconcile.collect import BreakCollector
from sync.domain.reconcile.columns import (
    differs,
    format_minor,
    hours_since,
    iso_utc,
    later_than,
    nonempty,
    text,
)
from sync.domain.reconcile.rules.oms_copy import oms_amounts

CATEGORIES = ("refund_mismatch", "return_not_refunded_past_sla")
TOLERANCE_MINOR = 0  # refunds must agree exactly


def oms_refunds(a: Alignment) -> pd.Series:
    """What the OMS refunded on each Google order's OMS order (NA: no OMS order, or unknown)."""
    if a.oo is None:  # a Series as on the OMS path (the callers use .notna()), not a bare array
        return pd.Series(np.zeros(a.n, dtype="int64"), dtype="Int64")
    return a.remember("refunded_oms", lambda: a.oms("refunded_minor").where(a.has_oms, pd.NA).astype("Int64"))


def run(a: Alignment, out: BreakCollector) -> None:
    if a.oo is not None:
        _mismatch(a, out)
    _returns_not_refunded(a, out)


def _mismatch(a: Alignment, out: BreakCollector) -> None:
    refunded_oms = oms_refunds(a)
    known = refunded_oms.notna().to_numpy()
    r_oms = refunded_oms.to_numpy(dtype="int64", na_value=0)
    r_g = a.go["refunded_minor"].to_numpy(dtype="int64")
    o_cur = a.oms("currency").astype("str")
    same_currency = ~(nonempty(o_cur) & differs(o_cur, a.currency))
    # An OMS order reduced to Google's net amount after a cancellation (an unpaid Square order
    # drops the canceled units) never charged what Google refunded for them: expect that much less.
    a_oms = oms_amounts(a).to_numpy(dtype="int64", na_value=-1)
    net_g = a.go["net_amount_minor"].to_numpy(dtype="int64", na_value=-1)
    reduced = (a.sums["qty_canceled"] > 0) & (net_g >= 0) & (a_oms == net_g) & (a_oms != a.amount_g)
    expected = np.maximum(r_g - np.where(reduced, a.amount_g - a_oms, 0), 0)
    mask = a.has_oms & known & same_currency & (np.abs(expected - r_oms) > TOLERANCE_MINOR)
    # A Google refund newer than the ledger's last read of the order (a unit canceled or returned
    # since): the sync has not seen it yet, so it is pending (low), not a mismatch, until it has.
    g_refunded_at = a.go["last_refunded_at"]
    lagging = np.zeros(a.n, dtype=bool)
    if a.lo is not None:
        lagging = mask & (r_g > r_oms) & a.has_led & later_than(g_refunded_at, a.led("last_seen_at"))
    if lagging.any():
        pending = (
            _both_refunded(a, r_g, r_oms, lagging)
            + " - pending sync: refunded on Google at "
            + text(iso_utc(g_refunded_at[lagging].reset_index(drop=True)))
            + ", after the ledger last read the order ("
            + text(iso_utc(a.led("last_seen_at")[lagging].reset_index(drop=True)))
            + f"); {a.freshness.recheck_text()} reads it: nothing to do unless it is still here after that."
        )
        out.add(a.ids[lagging], "pending_sync", "low", pending.to_numpy(), a.age[lagging])
        mask = mask & ~lagging
    if not mask.any():
        return
    cur = a.currency[mask].reset_index(drop=True)
    # Age: since the latest refund on either side (else since the order was placed).
    latest = pd.DataFrame(
        {
            "google": g_refunded_at[mask].reset_index(drop=True),
            "oms": a.oms("last_refunded_at")[mask].reset_index(drop=True),
        }
    ).max(axis=1)
    detail = (
        _both_refunded(a, r_g, r_oms, mask)
        + " (Google minus OMS: "
        + format_minor(pd.Series(r_g[mask] - r_oms[mask]), cur)
        + "): a refund recorded on one side only, or with another amount. Check both refund "
        "histories (the order in Merchant Center, its payment in Square) and record the missing "
        "refund on the side that lacks it: Google moved the money, so for the OMS it is bookkeeping."
    )
    age = hours_since(a.now, latest)
    age = np.where(np.isnan(age), a.age[mask], age)
    out.add(a.ids[mask], "refund_mismatch", "high", detail.to_numpy(), age)


def _both_refunded(a: Alignment, r_g: np.ndarray, r_oms: np.ndarray, mask: np.ndarray) -> pd.Series:
    """ "Google refunded 5.00, the OMS 0.00 USD" for the orders of ``mask``."""
    cur = a.currency[mask].reset_index(drop=True)
    return (
        "Google refunded "
        + format_minor(pd.Series(r_g[mask]), cur)
        + ", the OMS "
        + format_minor(pd.Series(r_oms[mask]), cur)
        + " "
        + text(cur)
    )


def _returns_not_refunded(a: Alignment, out: BreakCollector) -> None:
    returned = a.sums["qty_returned"]
    worth = a.go["returned_amount_minor"].to_numpy(dtype="int64")
    refunded = a.go["refunded_minor"].to_numpy(dtype="int64")
    # The clock: the oldest customer return still waiting for money where the ledger follows them
    # (so each open return past the SLA is this break, listed in returns.csv), else the latest
    # line return (all Google's order data can say, e.g. snapshots from before).
    waiting = a.go["return_waiting_since"]
    followed = waiting.notna().to_numpy()
    since_return = hours_since(a.now, waiting.where(followed, a.go["last_returned_at"]))
    hours = a.slas.return_hours
    mask = (returned > 0) & (refunded < worth) & (since_return > hours)
    if not mask.any():
        return
    cur = a.currency[mask].reset_index(drop=True)
    which = np.where(
        followed[mask],
        f" unit(s) returned on Google, a customer return (see returns.csv) waiting more than {hours:g} h,",
        f" unit(s) returned on Google, the latest more than {hours:g} h ago,",
    )
    detail = (
        text(returned[mask])
        + text(which)
        + " but Google refunded "
        + format_minor(pd.Series(refunded[mask]), cur)
        + " of the "
        + format_minor(pd.Series(worth[mask]), cur)
        + " "
        + text(cur)
        + " they are worth: check the return in Merchant Center and refund it (or reject it there "
        "if the items did not come back); the customer is waiting for the money."
    )
    out.add(a.ids[mask], "return_not_refunded_past_sla", "high", detail.to_numpy(), since_return[mask])
