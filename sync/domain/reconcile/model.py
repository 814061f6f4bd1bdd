"""What a reconciliation is given besides the frames (SLAs, how fresh the ledger's view is) and
what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import pyarrow as pa


@dataclass(frozen=True)
class Slas:
    unacknowledged_hours: float = 24
    ship_hours: float = 72
    delivery_hours: float = 240
    return_hours: float = 336  # a return on Google not refunded after this long


@dataclass(frozen=True)
class Freshness:
    """How far the ledger's view of Google reaches, so that a Google-side change newer than the
    sync's last look is reported as low ``pending_sync`` rather than as a high break.

    ``cycle_started_at``: start of the last sync cycle (new orders and whole cancellations are
    known up to then); ``recheck_minutes``: how often open orders are re-read for line
    cancellations (``[google] recheck_open_orders_minutes``). None: unknown (snapshots)."""

    cycle_started_at: datetime | None = None  # aware: the ledger's, or a pd.Timestamp
    recheck_minutes: float | None = None

    def recheck_text(self) -> str:
        if self.recheck_minutes is None:
            return "the next open-order recheck"
        if self.recheck_minutes <= 0:
            return "the next cycle"
        return f"the next open-order recheck (every {self.recheck_minutes:g} min)"


@dataclass(frozen=True)
class Shared:
    """Facts about the whole input when the frames given are one partition of it (every order
    whole in one partition; see ``sync.service.report_partitions``). None: read the frames.

    ``merchant_ids_on_several``: merchantOrderIds set on more than one Google order;
    ``oms_complete``: the OMS is Square (every order must be there), not the feed;
    ``oms_tracks``: which of qty_ordered / qty_shipped / qty_delivered the OMS knows at all;
    ``google_contiguous``: Google's lines were checked to be one block per order, numbered 0..k-1.
    """

    merchant_ids_on_several: pa.Array | None = None
    oms_complete: bool | None = None
    oms_tracks: tuple[str, ...] | None = None
    google_contiguous: bool = False


@dataclass
class Reconciliation:
    """orders: one row per order (ORDER_COLUMNS, amounts still integer minor units in
    ``amount_google_minor``/``amount_oms_minor``/``refunded_google_minor``/``refunded_oms_minor``,
    plus ``in_google``): Google's orders in input
    order, then those only the ledger and/or the OMS know (missing_in_google) by id, with
    Google's cells empty. Text columns are Arrow strings; the others are Arrow-backed and
    nullable, so the two parts share their buffers instead of being copied into one.
    breaks: BREAK_COLUMNS, oldest first."""

    orders: pd.DataFrame
    breaks: pd.DataFrame

