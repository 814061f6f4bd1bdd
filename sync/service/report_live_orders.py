"""The live report's view of Google's live channels (issue 16): from the ledger's UCP / order
tracking intents and the Square orders the report reads anyway (one walk: ``LiveOrders.watch``
looks at each order as the OMS frame is built), the findings report_live_output writes.

Google has no read-back API for either channel, so "what Google accepted" is what the ledger
recorded as accepted; the rules are in ``sync.domain.live_breaks``, which orders count as read by
the sync in ``sync.domain.live_views``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import pandas as pd

from sync.adapters.ledger import Ledger
from sync.config import Settings, live_lookback_days
from sync.domain.live_breaks import Channel, SquareView, reconcile_live
from sync.domain.live_views import Channels, StepWindow, reference_of, relevant, square_view
from sync.domain.ucp.entity import UcpOrderConfig
from sync.service.live_orders import CURSOR_KEY
from sync.service.report_live_output import LiveOutput, live_output


class LiveOrders:
    """Collects the live channels' Square orders during the report's Square walk."""

    def __init__(self, settings: Settings, ledger: Ledger, now: datetime) -> None:
        self.now = now
        self.sla_hours = settings.reports.live_push_sla_hours
        self.intents = ledger.live_intents()
        self.with_intents = {i.order_id for i in self.intents}
        ucp, web = settings.ucp.enabled, settings.order_tracking.enabled
        self.window = StepWindow.from_cursor(
            ledger.get_value(CURSOR_KEY), now=now, lookback_days=live_lookback_days(settings)
        )
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
        return live_output(found)


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


