"""Do the line quantities agree: quantity_mismatch between Google and the ledger or the OMS, line
by line (and the pending_sync of units Google canceled after the ledger last read the order).

Each comparison lives in a function of its own, so its line-length temporaries are gone when it
returns: only one quantity's arrays are alive at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync.domain.reconcile.align import Alignment, match_lines
from sync.domain.reconcile.collect import BreakCollector
from sync.domain.reconcile.columns import iso_utc, later_than, nonempty, rows_of, text
from sync.domain.reconcile.schema import QUANTITIES

CATEGORIES = ("quantity_mismatch", "pending_sync")

LinePart = tuple[np.ndarray, pd.Series, str]  # (Google line rows, detail, severity)


def run(a: Alignment, out: BreakCollector) -> None:
    line_parts: list[LinePart] = []
    pending_parts: list[tuple[np.ndarray, pd.Series]] = []  # the ledger behind a newer Google change
    if a.lg is not None and len(a.lg):
        _ledger_lines(a, line_parts, pending_parts)
    if a.om is not None and len(a.om) and a.n:  # with no Google order there is no line to compare
        _oms_lines(a, line_parts)
    for grow, detail, sev in line_parts:
        oi = a.g_order_of_row[grow]
        out.add(a.ids.iloc[oi], "quantity_mismatch", sev, detail, a.age[oi])
    for grow, detail in pending_parts:
        oi = a.g_order_of_row[grow]
        out.add(a.ids.iloc[oi], "pending_sync", "low", detail, a.age[oi])


def _matched_rows(grow_all: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return grow_all[rows] if len(rows) < len(grow_all) else grow_all


def _ledger_lines(
    a: Alignment, line_parts: list[LinePart], pending_parts: list[tuple[np.ndarray, pd.Series]]
) -> None:
    lg = a.lg
    assert lg is not None
    grow_all = match_lines(
        a.g,
        a.g_first,
        a.g_count,
        a.g_order_of_row,
        np.repeat(a.l_to_g, a.l_count),  # the Google order of every ledger line
        lg["line_no"].to_numpy(),
        lg["line_item_id"],
        None,
    )
    rows = np.flatnonzero(grow_all >= 0)
    grow = _matched_rows(grow_all, rows)
    # Per Google order: canceled on Google after the ledger last stored its copy of the order.
    canceled_since_look = later_than(a.canceled_at, a.led("last_seen_at")) & a.has_led
    for q in QUANTITIES:
        _ledger_quantity(a, q, rows, grow, canceled_since_look, line_parts, pending_parts)


def _ledger_quantity(
    a: Alignment,
    q: str,
    rows: np.ndarray,
    grow: np.ndarray,
    canceled_since_look: np.ndarray,
    line_parts: list[LinePart],
    pending_parts: list[tuple[np.ndarray, pd.Series]],
) -> None:
    lg = a.lg
    assert lg is not None
    gq = a.g[q].to_numpy()  # an int32 view, no copy
    known = rows_of(lg[q].notna().to_numpy(), rows)
    lvi = rows_of(lg[q].to_numpy(dtype="int32", na_value=0), rows)
    diff = known & (lvi != gq[grow])
    if not diff.any():
        return
    gr, ledger_value = grow[diff], lvi[diff]
    lagging = np.zeros(len(gr), dtype=bool)
    if q == "qty_canceled":
        # Units canceled on Google since the ledger's last look: the recheck catches up.
        lagging = canceled_since_look[a.g_order_of_row[gr]] & (gq[gr] > ledger_value)
    said = (
        "line "
        + text(a.g["line_item_id"].iloc[gr])
        + ": Google "
        + q[4:]
        + " "
        + text(gq[gr])
        + ", our ledger "
        + text(ledger_value)
    )
    recheck = a.freshness.recheck_text()
    if lagging.any():
        lag = gr[lagging]
        seen = a.led("last_seen_at").iloc[a.g_order_of_row[lag]]
        pending_parts.append((
            lag,
            said[lagging].reset_index(drop=True)
            + " - pending sync: canceled on Google at "
            + text(iso_utc(a.canceled_at.iloc[a.g_order_of_row[lag]]))
            + ", after the ledger last read the order ("
            + text(iso_utc(seen))
            + f"); {recheck} records it and tells the OMS: nothing to do "
            "unless it is still here after that.",
        ))
    if (~lagging).any():
        detail = said[~lagging].reset_index(drop=True) + (
            " - the ledger is out of step with Google: see this order's failed operations; "
            f"{recheck} reads the order again."
        )
        line_parts.append((gr[~lagging], detail, "high"))


def _oms_lines(a: Alignment, line_parts: list[LinePart]) -> None:
    om = a.om
    assert om is not None
    # Only lines of the OMS order we matched (not a duplicate's) are compared: decided per OMS
    # order, then repeated onto its lines.
    matched = a.oms_pos[np.maximum(a.om_to_g, 0)] == np.arange(len(a.om_to_g))
    o_order_g = np.repeat(np.where(matched, a.om_to_g, np.int32(-1)), a.o_count)
    grow_all = match_lines(
        a.g,
        a.g_first,
        a.g_count,
        a.g_order_of_row,
        o_order_g,
        om["line_no"].to_numpy(),
        om["line_item_id"],
        om["offer_id"],
    )
    rows = np.flatnonzero(o_order_g >= 0)
    grow = _matched_rows(grow_all, rows)
    unmatched = grow < 0
    if unmatched.any():
        um = rows[unmatched]
        line_ids = om["line_item_id"].iloc[um]
        line_parts.append(
            (
                a.g_first[o_order_g[um]],
                "OMS line "
                + text(line_ids.where(nonempty(line_ids), om["offer_id"].iloc[um]))
                + " matches no line of the Google order: fix the line mapping in the OMS order.",
                "high",
            )
        )
        rows, grow = rows[~unmatched], grow[~unmatched]
    in_oms_order = a.has_oms[a.g_order_of_row]
    for q in ("qty_ordered", "qty_shipped", "qty_delivered"):
        if a.oms_tracks(q):
            _oms_quantity(a, q, rows, grow, in_oms_order, line_parts)


def _oms_quantity(
    a: Alignment,
    q: str,
    rows: np.ndarray,
    grow: np.ndarray,
    in_oms_order: np.ndarray,
    line_parts: list[LinePart],
) -> None:
    om = a.om
    assert om is not None
    # OMS total per Google line row; lines the OMS does not list count as 0 of what it tracks.
    ov = np.zeros(len(a.g), dtype=np.int32)
    np.add.at(ov, grow, rows_of(om[q].to_numpy(dtype="int32", na_value=0), rows))
    gv = a.g[q].to_numpy()
    if q == "qty_ordered":
        # Square may keep the original quantity after a Google cancellation or reduce it.
        diff = in_oms_order & (ov != gv) & (ov != gv - a.g["qty_canceled"].to_numpy())
    else:
        diff = in_oms_order & (ov != gv)
    if not diff.any():
        return
    gr = np.flatnonzero(diff)
    fewer_in_oms = ov[gr] < gv[gr]
    what = q[4:]
    advice = np.where(
        fewer_in_oms,
        f" - Google counts more {what} than the OMS: confirm with the warehouse before "
        "the customer is told it is on its way.",
        f" - the OMS has {what} items Google does not know about: the next sync should "
        "report them; if it does not, see failed_operation.",
    )
    detail = (
        "line " + text(a.g["line_item_id"].iloc[gr]) + ": Google " + what + " " + text(gv[gr])
        + ", OMS " + text(ov[gr]) + text(advice)
    )
    line_parts.append((gr, detail, "high"))
