"""returns.csv: the customer returns on Google still waiting for their money (issue 15 item 3).

One row per ``FollowedReturn`` (units of one return on one line, open on Google, not refunded):
``open`` while no Square itemized return of the store pairs with them, ``matched`` once one does
and Google's refund (the returnRefundLineItem ordersync sends) is not through yet. A refunded
return leaves the list. No break of its own: a return still unrefunded after ``[reports]
return_sla_hours`` is the order's ``return_not_refunded_past_sla`` break (``past_sla`` says so),
so the same lateness is never reported twice. Only ids, counts, Google's codes and times: no
customer data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from sync.domain.orders import parse_datetime
from sync.domain.reconcile.columns import hours_since, sheet_time
from sync.domain.refunds.returns import FollowedReturn, FollowStatus

RETURN_COLUMNS = (
    "google_order_id",
    "return_id",
    "line_item_id",
    "quantity",
    "created_at",
    "status",
    "return_state",
    "shipment_state",
    "reason",
    "matched",
    "square_refund_id",
    "age_hours",
    "past_sla",
)
BREAK = "return_not_refunded_past_sla"  # what an open return past the SLA is
SUMMARY_SECTION = "returns"  # summary.csv: units per status, and those past the SLA
SUMMARY_KEYS = ("open", "matched", "past_sla")


def returns_frame(
    rows: Sequence[FollowedReturn],
    *,
    now: pd.Timestamp,
    return_hours: float,
    breaks: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """returns.csv (RETURN_COLUMNS), oldest first; ``age_hours`` since the return was created
    (NaN: Google gave no time), ``past_sla`` once that is more than ``return_hours`` and (given
    the report's ``breaks``) its order has the return_not_refunded_past_sla break, which it is."""
    created = pd.to_datetime(
        pd.Series([r.created or None for r in rows], dtype="object"),
        utc=True,
        format="ISO8601",
        errors="coerce",
    ).astype("datetime64[us, UTC]")
    age = hours_since(pd.Timestamp(now).tz_convert("UTC"), created)
    late = age > return_hours
    if breaks is not None:
        flagged = breaks.loc[breaks["category"] == BREAK, "google_order_id"].astype("str")
        late &= np.isin(np.array([r.order_id for r in rows], dtype=object), flagged.to_numpy(dtype=object))
    frame = pd.DataFrame(
        {
            "google_order_id": pd.Series([r.order_id for r in rows], dtype="str"),
            "return_id": pd.Series([r.return_id for r in rows], dtype="str"),
            "line_item_id": pd.Series([r.line_item_id for r in rows], dtype="str"),
            "quantity": pd.Series([r.units for r in rows], dtype="int64"),
            "created_at": sheet_time(created).fillna(""),
            "status": pd.Series([str(r.status) for r in rows], dtype="str"),
            "return_state": pd.Series([r.state for r in rows], dtype="str"),
            "shipment_state": pd.Series([r.shipment_state for r in rows], dtype="str"),
            "reason": pd.Series([r.reason for r in rows], dtype="str"),
            "matched": pd.Series(["yes" if r.square_refund_id else "no" for r in rows], dtype="str"),
            "square_refund_id": pd.Series([r.square_refund_id for r in rows], dtype="str"),
            "age_hours": np.round(age, 1),
            "past_sla": pd.Series(np.where(late, "yes", "no"), dtype="str"),
        }
    )
    # Oldest first (unknown times last), then by order and return id.
    order = np.lexsort(
        (
            frame["return_id"].to_numpy(dtype=object),
            frame["google_order_id"].to_numpy(dtype=object),
            np.where(np.isnan(age), np.inf, -age),
        )
    )
    return frame.iloc[order].reset_index(drop=True)[list(RETURN_COLUMNS)]


def returns_summary(table: pd.DataFrame) -> pd.DataFrame:
    """summary.csv rows (section ``returns``): units open, matched, and past the SLA (either)."""
    units = table["quantity"].to_numpy(dtype="int64")
    counts = {
        "open": int(units[(table["status"] == FollowStatus.OPEN).to_numpy()].sum()),
        "matched": int(units[(table["status"] == FollowStatus.MATCHED).to_numpy()].sum()),
        "past_sla": int(units[(table["past_sla"] == "yes").to_numpy()].sum()),
    }
    return pd.DataFrame(
        {
            "section": SUMMARY_SECTION,
            "key": list(counts),
            "count": list(counts.values()),
            "amount": "",
            "currency": "",
        }
    )


def oldest_waiting(rows: Sequence[FollowedReturn]) -> dict[str, str]:
    """Order id -> creation time of its oldest return still waiting for money (GOOGLE
    ``return_waiting_since``: the clock of return_not_refunded_past_sla)."""
    oldest: dict[str, tuple[datetime, str]] = {}
    for r in rows:
        try:
            when = parse_datetime(r.created)
        except ValueError:  # no time (or a garbled one): this return cannot start the clock
            continue
        if r.order_id not in oldest or when < oldest[r.order_id][0]:
            oldest[r.order_id] = (when, r.created)
    return {order_id: text for order_id, (_, text) in oldest.items()}


def open_units_by_line(rows: Sequence[FollowedReturn]) -> dict[tuple[str, str], int]:
    """(order id, line id) -> units returned there and not refunded yet (orders.csv qty_return_open)."""
    out: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r.order_id, r.line_item_id)
        out[key] = out.get(key, 0) + r.units
    return out
