"""What ordersync itself could not do: failed_operation (refused for good), rejected_feed_row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync.domain.reconcile.align import Alignment
from sync.domain.reconcile.collect import BreakCollector
from sync.domain.reconcile.columns import hours_since, nonempty, text
from sync.domain.reconcile.schema import DT, default_array

CATEGORIES = ("failed_operation", "rejected_feed_row")


def run(a: Alignment, out: BreakCollector) -> None:
    if a.lo is not None:
        _failed_operations(a, out)
    if a.rejects is not None and len(a.rejects):
        _rejected_rows(a, a.rejects, out)


def _failed_operations(a: Alignment, out: BreakCollector) -> None:
    lo = a.lo
    assert lo is not None
    f = np.flatnonzero(lo["failed_ops"].to_numpy() > 0)
    if not len(f):
        return
    since = lo.at("last_failed_at", f)
    g_of = a.l_to_g[f]
    # No Google order at all (n == 0) leaves nothing to gather a placed date from.
    placed = a.placed_at.iloc[np.maximum(g_of, 0)] if a.n else pd.Series(default_array(DT, len(f)))
    placed = placed.reset_index(drop=True)
    since = since.where(since.notna(), placed.where(pd.Series(g_of >= 0), pd.NaT))
    detail = (
        text(lo.at("failed_ops", f))
        + " failed operation(s): "
        + text(lo.at("failed_detail", f))
        + " - refused for good and not sent again: fix the cause (a parcel: export it again "
        "with its real tracking id or a new shipment_id; an order change: make it in "
        "Merchant Center or the OMS); it is listed until then."
    )
    out.add(
        lo.at("google_order_id", f), "failed_operation", "high", detail.to_numpy(), hours_since(a.now, since)
    )


def _rejected_rows(a: Alignment, rj: pd.DataFrame, out: BreakCollector) -> None:
    whole_file = rj["reason"].str.startswith("whole file not read").to_numpy()
    listed = rj["rejects_file"].where(nonempty(rj["rejects_file"]), "the rejects file")
    fix = pd.Series(
        np.where(
            whole_file,
            "fix the file in the feed folder (or export it again)",
            np.where(
                rj["retryable"].to_numpy(),
                "retried every cycle: if the order id is right, nothing to do until Google has the "
                "order; if it is wrong, correct the row in " + listed + " and drop that file into "
                "the feed folder",
                "correct the row in " + listed + " and drop that file into the feed folder",
            ),
        ),
        dtype="str",
    )
    detail = rj["source"] + " line " + text(rj["line_no"]) + ": " + rj["reason"] + " - " + fix
    age = hours_since(a.now, rj["first_seen_at"])
    out.add(rj["google_order_id"], "rejected_feed_row", "high", detail.to_numpy(), age)
