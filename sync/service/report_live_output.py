"""What Google's live channels add to a report run (issue 16): live_orders.csv, their breaks and
summary rows, built from ``sync.domain.live_breaks``' findings. Light (pandas and the domain
records only), so the report writer can name it without loading the UCP entity models.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from sync.domain import reconcile as rules
from sync.domain.live_breaks import ChannelCounts, LiveFindings, LiveRow

LIVE_ORDERS_CSV = "live_orders.csv"
LIVE_ORDER_COLUMNS = (
    "square_order_id",
    "channel",
    "square_state",
    "parcels",
    "parcels_shipped",
    "parcels_delivered",
    "amount_refunded_oms",
    "currency",
    "events_recorded",
    "events_accepted",
    "events_pending",
    "events_refused",
    "last_accepted_event",
    "last_accepted_at",
    "first_failure_at",
    "failure_reason",
    "missing_events",
    "note",
)
SUMMARY_SECTION = "live_channels"


@dataclass(frozen=True)
class LiveOutput:
    """What the report writer adds: live_orders.csv, the breaks (BREAK_COLUMNS, ``finish``ed;
    ``google_order_id`` holds the Square order id, which is the UCP order id Google knows), the
    summary rows and the page's figures."""

    rows: pd.DataFrame
    breaks: pd.DataFrame
    summary: pd.DataFrame
    counts: tuple[ChannelCounts, ...]


def live_output(found: LiveFindings) -> LiveOutput:
    counts = found.counts()
    return LiveOutput(
        rows=rows_frame(found.rows),
        breaks=breaks_frame(found),
        summary=summary_rows(counts),
        counts=counts,
    )


def rows_frame(rows: Iterable[LiveRow]) -> pd.DataFrame:
    """live_orders.csv: money as decimal strings in major units, times as ISO 8601 UTC."""
    items = list(rows)
    frame = pd.DataFrame(
        {
            "square_order_id": pd.Series([r.square_order_id for r in items], dtype="str"),
            "channel": pd.Series([str(r.channel) for r in items], dtype="str"),
            "square_state": pd.Series([r.square_state for r in items], dtype="str"),
            "parcels": pd.array([r.parcels for r in items], dtype="Int64"),
            "parcels_shipped": pd.array([r.parcels_shipped for r in items], dtype="Int64"),
            "parcels_delivered": pd.array([r.parcels_delivered for r in items], dtype="Int64"),
            "amount_refunded_oms": rules.format_minor(
                pd.Series(pd.array([r.refunded_minor for r in items], dtype="Int64")),
                pd.Series([r.currency for r in items], dtype="str"),
            ),
            "currency": pd.Series([r.currency for r in items], dtype="str"),
            "events_recorded": pd.array([r.events_recorded for r in items], dtype="int64"),
            "events_accepted": pd.array([r.events_accepted for r in items], dtype="int64"),
            "events_pending": pd.array([r.events_pending for r in items], dtype="int64"),
            "events_refused": pd.array([r.events_refused for r in items], dtype="int64"),
            "last_accepted_event": pd.Series([r.last_accepted_event for r in items], dtype="str"),
            "last_accepted_at": pd.Series([_iso(r.last_accepted_at) for r in items], dtype="str"),
            "first_failure_at": pd.Series([_iso(r.first_failure_at) for r in items], dtype="str"),
            "failure_reason": pd.Series([r.failure_reason for r in items], dtype="str"),
            "missing_events": pd.Series([r.missing_events for r in items], dtype="str"),
            "note": pd.Series([r.note for r in items], dtype="str"),
        }
    )
    frame["amount_refunded_oms"] = frame["amount_refunded_oms"].fillna("").astype("str")
    return frame[list(LIVE_ORDER_COLUMNS)]


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else pd.Timestamp(moment).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def breaks_frame(found: LiveFindings) -> pd.DataFrame:
    out = rules.BreakCollector()
    for b in found.breaks:
        out.add([b.order_id], b.category, b.severity, [b.detail], [b.age_hours])
    return out.frame()


def summary_rows(counts: Iterable[ChannelCounts]) -> pd.DataFrame:
    """summary.csv's ``live_channels`` section: per channel, orders and events by state."""
    rows = []
    for c in counts:
        for key, n in (
            ("orders", c.orders),
            ("events_accepted", c.accepted),
            ("events_pending", c.pending),
            ("events_refused", c.refused),
            ("breaks", c.breaks),
        ):
            row = {"section": SUMMARY_SECTION, "key": f"{c.channel}_{key}", "count": n}
            rows.append({**row, "amount": "", "currency": ""})
    return pd.DataFrame(rows, columns=["section", "key", "count", "amount", "currency"])
