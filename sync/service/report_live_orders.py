"""The live report's view of Google's live channels (issue 16): live_orders.csv, its breaks and
summary rows, from the ledger's UCP / order tracking intents and the Square orders the report
reads anyway (one walk: ``LiveOrders.watch`` looks at each order as the OMS frame is built).

Google has no read-back API for either channel, so "what Google accepted" is what the ledger
recorded as accepted; the rules are in ``sync.domain.live_breaks``, which orders count as read by
the sync in ``sync.domain.live_views``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pandas as pd

from sync.adapters.ledger import Ledger
from sync.config import Settings
from sync.domain import reconcile as rules
from sync.domain.live_breaks import Channel, ChannelCounts, LiveFindings, LiveRow, SquareView, reconcile_live
from sync.domain.live_views import Channels, StepWindow, reference_of, relevant, square_view
from sync.domain.ucp.entity import UcpOrderConfig
from sync.service.live_orders import CURSOR_KEY

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


def covers_live(settings: Settings) -> bool:
    """A live channel is on (with [square]: neither runs without it)."""
    return settings.square.enabled and (settings.ucp.enabled or settings.order_tracking.enabled)


class LiveOrders:
    """Collects the live channels' Square orders during the report's Square walk."""

    def __init__(self, settings: Settings, ledger: Ledger, now: datetime) -> None:
        self.now = now
        self.sla_hours = settings.reports.live_push_sla_hours
        self.intents = ledger.live_intents()
        self.with_intents = {i.order_id for i in self.intents}
        ucp, web = settings.ucp.enabled, settings.order_tracking.enabled
        reach = [s.lookback_days for on, s in ((ucp, settings.ucp), (web, settings.order_tracking)) if on]
        lookback = 0 if not reach or 0 in reach else max(reach)
        self.window = StepWindow.from_cursor(ledger.get_value(CURSOR_KEY), now=now, lookback_days=lookback)
        self.channels = Channels(
            ucp=ucp,
            web=web,
            ucp_config=UcpOrderConfig(settings.ucp.permalink_template, settings.ucp.checkout_id_metadata_key),
        )
        self.views: dict[str, SquareView] = {}
        self.references: dict[str, str] = {}  # web order -> reference_id (a Content API order?)

    def watch(self, orders: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """``orders`` unchanged, each looked at on the way."""
        for raw in orders:
            view = square_view(raw, self.channels, self.window)
            mine = view is not None and view.order_id in self.with_intents
            if view is not None and relevant(view, self.window, has_intents=mine):
                self.views[view.order_id] = view
                if reference_of(raw):
                    self.references[view.order_id] = reference_of(raw)
            yield raw

    def finish(self, ledger: Ledger, oms: pd.DataFrame | None) -> LiveOutput:
        """The rows and breaks, once the walk is done. Web candidates that are Square orders of
        Google Content API orders (their ``reference_id`` is a ledger order) are not web-shop
        orders; ``oms``: the OMS frame, for Square's refunded amounts."""
        refs = {ref for oid, ref in self.references.items() if self.views[oid].channel == Channel.WEB}
        ours = set(ledger.get_orders_light(refs)) if refs else set()
        refunded = _refunded(oms, set(self.views))
        views = [
            _with_refund(v, refunded)
            for v in self.views.values()
            if not (v.channel == Channel.WEB and self.references.get(v.order_id) in ours)
            or v.order_id in self.with_intents
        ]
        found = reconcile_live(views, self.intents, now=self.now, sla_hours=self.sla_hours)
        return LiveOutput(
            rows=rows_frame(found.rows),
            breaks=breaks_frame(found),
            summary=summary_rows(found.counts()),
            counts=found.counts(),
        )


def _refunded(oms: pd.DataFrame | None, ids: set[str]) -> dict[str, int]:
    if oms is None or not len(oms) or not ids or "refunded_minor" not in oms.columns:
        return {}
    mine = oms.loc[oms["oms_order_id"].isin(ids), ["oms_order_id", "refunded_minor"]]
    first = mine.drop_duplicates("oms_order_id")
    pairs = zip(first["oms_order_id"], first["refunded_minor"], strict=True)
    return {str(i): int(n) for i, n in pairs if pd.notna(n)}


def _with_refund(view: SquareView, refunded: Mapping[str, int]) -> SquareView:
    if view.order_id not in refunded:
        return view
    return replace(view, refunded_minor=refunded[view.order_id])


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
